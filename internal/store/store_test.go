package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend opens stores of one kind for the conformance suite.
type backend struct {
	name string
	// dsn names a new, empty database.
	dsn func(t testing.TB) string
	// shared says two Opens of one DSN see the same data.
	shared bool
	tweak  func(Store)
}

func backends() []backend {
	return []backend{
		{name: "sqlite-file", shared: true, dsn: func(t testing.TB) string {
			return "sqlite://" + filepath.Join(t.TempDir(), "journey.db")
		}},
		{name: "sqlite-memory", dsn: func(testing.TB) string { return "sqlite://:memory:" }},
		{name: "postgres", shared: true, dsn: pg.DSN},
		// A database whose own collation is a language's (as many are), not
		// the test server's C: identifiers must still compare as bytes.
		{name: "postgres-icu", shared: true, dsn: func(t testing.TB) string {
			return pg.DSNWith(t, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
		}},
		// The same with every table write going through COPY, however few
		// the rows, so that both write paths run the whole suite.
		{name: "postgres-copy", shared: true, dsn: pg.DSN, tweak: func(s Store) { s.(*pgStore).copyThreshold = 1 }},
	}
}

func (b backend) open(t testing.TB, dsn string) Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	if b.tweak != nil {
		b.tweak(s)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (b backend) new(t testing.TB) Store {
	t.Helper()
	return b.open(t, b.dsn(t))
}

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

func ev(id, user string) Event {
	return Event{
		Namespace: "shop", EventID: id, UserID: user, Touchpoint: "checkout", System: "stripe", Type: "purchase",
		OccurredAt: t0, RunID: "run-1",
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func commit(t testing.TB, s Store, b Batch) CommitResult {
	t.Helper()
	res, err := s.Commit(context.Background(), b)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return res
}

func ptr[T any](v T) *T { return &v }

func TestStore(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"Events", testEvents},
		{"Duplicates", testDuplicates},
		{"Quarantine", testQuarantine},
		{"HeldInQuarantine", testHeldInQuarantine},
		{"UniqueKeys", testUniqueKeys},
		{"KnownUsers", testKnownUsers},
		{"Pending", testPending},
		{"EventsStream", testEventsStream},
		{"JourneyState", testJourneyState},
		{"Watermark", testWatermark},
		{"Slices", testSlices},
		{"UserStates", testUserStates},
		{"Cursor", testCursor},
		{"Runs", testRuns},
		{"Ledger", testLedger},
		{"LedgerTampered", testLedgerTampered},
		{"Atomicity", testAtomicity},
		{"AtomicityUnderCancel", testAtomicityUnderCancel},
		{"Migrations", testMigrations},
		{"UpgradeLeanIndexes", testUpgradeLeanIndexes},
		{"IdentifierCollation", testIdentifierCollation},
		{"ConcurrentCommits", testConcurrentCommits},
		{"Refusals", testRefusals},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
			}
		})
	}
}

func testEvents(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	e1 := ev("e1", "u1")
	e1.Amount, e1.Currency = ptr(18234.5), "EUR"
	e1.Attributes = map[string]any{"sku": "A-1", "qty": 2.0, "gift": true}
	e2 := ev("e2", "u2")
	e2.Amount = ptr(0.1)
	e3 := ev("e3", "u3") // no amount, no attributes
	res := commit(t, s, Batch{Source: "shop/stripe", Events: []Event{e1, e2, e3}})
	if res.Inserted != 3 || res.LedgerHash != "" {
		t.Fatalf("result = %+v, want 3 inserted and no ledger hash", res)
	}
	got, err := s.ExistingEvents(ctx, "shop/stripe", []string{"e1", "e2", "e3", "e4"})
	if err != nil {
		t.Fatal(err)
	}
	if k := keys(got); !reflect.DeepEqual(k, []string{"e1", "e2", "e3"}) {
		t.Fatalf("ExistingEvents = %v", k)
	}
	if got, _ := s.ExistingEvents(ctx, "other/source", []string{"e1"}); len(got) != 0 {
		t.Fatalf("ExistingEvents of another source = %v, want none", got)
	}
	if got, _ := s.ExistingEvents(ctx, "shop/stripe", nil); len(got) != 0 {
		t.Fatalf("ExistingEvents of no ids = %v", got)
	}

	// Amounts are exact: the decimal the float stands for, not a binary
	// approximation.
	for id, want := range map[string]string{"e1": "18234.5", "e2": "0.1", "e3": "<null>"} {
		if got := rawString(t, s, "SELECT CAST(amount AS TEXT) FROM events WHERE event_id = '"+id+"'"); got != want {
			t.Errorf("amount of %s = %s, want %s", id, got, want)
		}
	}
	// Any finite float, as its shortest decimal, whatever its size; and
	// times on either side of the epochs (1970, and PostgreSQL's 2000).
	amounts := []float64{0, math.Copysign(0, -1), 1, -1, 10000, -10000.0001, 99999999, 0.00012, -0.5, 123456789.12345679,
		1e21, 1e-7, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64 * 3, 2.5e-5, 1234.5678}
	times := []time.Time{time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC)}
	var odd []Event
	for i, a := range amounts {
		e := ev(fmt.Sprintf("amount-%02d", i), "u-amount")
		e.Amount, e.OccurredAt = ptr(a), times[i%len(times)]
		odd = append(odd, e)
	}
	commit(t, s, Batch{Source: "shop/amounts", Events: odd})
	for i, a := range amounts {
		want := strconv.FormatFloat(a, 'f', -1, 64)
		got := rawString(t, s, fmt.Sprintf("SELECT CAST(amount AS TEXT) FROM events WHERE event_id = 'amount-%02d'", i))
		if got != want && !(want == "-0" && got == "0") {
			t.Errorf("amount %v stored as %s, want %s", a, got, want)
		}
	}
	err = s.ScanEvents(ctx, EventQuery{Sources: []string{"shop/amounts"}}, func(e *Event, _ []byte) error {
		var i int
		fmt.Sscanf(e.EventID, "amount-%d", &i)
		if want := times[i%len(times)].Truncate(time.Microsecond); !e.OccurredAt.Equal(want) {
			t.Errorf("%s occurred at %s, want %s", e.EventID, e.OccurredAt, want)
		}
		if e.Amount == nil || *e.Amount != amounts[i] {
			t.Errorf("%s amount read back as %v, want %v", e.EventID, e.Amount, amounts[i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var attrs map[string]any
	if err := json.Unmarshal([]byte(rawString(t, s, "SELECT CAST(attributes AS TEXT) FROM events WHERE event_id = 'e1'")), &attrs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(attrs, e1.Attributes) {
		t.Errorf("attributes = %v, want %v", attrs, e1.Attributes)
	}
	if got := rawString(t, s, "SELECT currency FROM events WHERE event_id = 'e1'"); got != "EUR" {
		t.Errorf("currency = %q", got)
	}
	if got := rawString(t, s, "SELECT source FROM events WHERE event_id = 'e2'"); got != "shop/stripe" {
		t.Errorf("source of an event without one = %q, want the batch's", got)
	}

	// Lookups take tens of thousands of ids per call, and stay fast after
	// many small ones (which in PostgreSQL get the statement a generic
	// plan).
	for range 8 {
		if _, err := s.ExistingEvents(ctx, "shop/stripe", []string{"e1"}); err != nil {
			t.Fatal(err)
		}
	}
	many := ids("m", 12000)
	batch := make([]Event, len(many))
	for i, id := range many {
		batch[i] = ev(id, "u")
	}
	if res := commit(t, s, Batch{Source: "shop/stripe", Events: batch}); res.Inserted != len(many) {
		t.Fatalf("inserted %d of %d", res.Inserted, len(many))
	}
	probe := append(ids("m", 25000), "e1")
	got, err = s.ExistingEvents(ctx, "shop/stripe", probe)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(many)+1 || !got["m11999"] || got["m12000"] || !got["e1"] {
		t.Fatalf("ExistingEvents over %d ids found %d, want %d", len(probe), len(got), len(many)+1)
	}
}

func testDuplicates(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	if res := commit(t, s, Batch{Source: "shop/stripe", Events: []Event{ev("e1", "u"), ev("e2", "u")}}); res.Inserted != 2 {
		t.Fatalf("first batch inserted %d, want 2", res.Inserted)
	}
	// A redelivery counts once; a changed redelivery does not overwrite.
	e2 := ev("e2", "someone-else")
	if res := commit(t, s, Batch{Source: "shop/stripe", Events: []Event{e2, ev("e3", "u")}}); res.Inserted != 1 {
		t.Fatalf("second batch inserted %d, want 1", res.Inserted)
	}
	if got := rawString(t, s, "SELECT user_id FROM events WHERE event_id = 'e2'"); got != "u" {
		t.Fatalf("a duplicate overwrote the stored event: user %q", got)
	}
	// The same ID twice in one batch does not fail it.
	if res := commit(t, s, Batch{Source: "shop/stripe", Events: []Event{ev("e4", "u"), ev("e4", "u"), ev("e5", "u"), ev("e1", "u")}}); res.Inserted != 2 {
		t.Fatalf("batch with a repeat inserted %d, want 2", res.Inserted)
	}
	// The same event ID from another source is another event.
	if res := commit(t, s, Batch{Source: "shop/web", Events: []Event{ev("e1", "u")}}); res.Inserted != 1 {
		t.Fatalf("same ID from another source inserted %d, want 1", res.Inserted)
	}
	// And at scale, through COPY: 1000 events of which 100 repeat within
	// the batch and 300 were stored before.
	var big []Event
	for i := range 1000 {
		id := fmt.Sprintf("b%04d", i)
		if i >= 900 {
			id = fmt.Sprintf("b%04d", i-900)
		}
		big = append(big, ev(id, "u"))
	}
	commit(t, s, Batch{Source: "shop/stripe", Events: big[600:700]}) // b0600..b0699
	commit(t, s, Batch{Source: "shop/stripe", Events: big[:200]})    // b0000..b0199
	if res := commit(t, s, Batch{Source: "shop/stripe", Events: big}); res.Inserted != 600 {
		t.Fatalf("big batch inserted %d, want 600", res.Inserted)
	}
	var bigIDs []string
	for _, e := range big {
		bigIDs = append(bigIDs, e.EventID)
	}
	if got, _ := s.ExistingEvents(ctx, "shop/stripe", bigIDs); len(got) != 900 {
		t.Fatalf("%d big events stored, want 900", len(got))
	}
	if got := rawString(t, s, "SELECT CAST(COUNT(*) AS TEXT) FROM events"); got != "906" {
		t.Fatalf("%s events stored, want 906", got)
	}
}

func testQuarantine(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	raws := [][]byte{
		[]byte(`{"id":"e1","amount":"abc"}`),
		{0x00, 0xff, 0xfe, '{', 0x80}, // not JSON, not even UTF-8: decoding failed
		nil,
	}
	at := t0.Add(time.Hour)
	in := []QuarantineRecord{
		{RunID: "run-1", EventID: "e1", Check: "amount-positive", Reason: "amount is not a number", Raw: raws[0], At: at},
		{RunID: "run-1", Check: "decode", Reason: "invalid JSON at byte 0", Raw: raws[1], At: at.Add(time.Second)},
		{Source: "shop/stripe", RunID: "run-1", Check: "mapping", Reason: "no user", Raw: raws[2], Status: QuarantineReleased},
	}
	before := time.Now().Add(-time.Second)
	commit(t, s, Batch{Source: "shop/stripe", Quarantine: in})
	commit(t, s, Batch{Source: "shop/other", Quarantine: []QuarantineRecord{{RunID: "r", Check: "c", Reason: "r", Raw: []byte("x")}}})

	got, err := quarantined(ctx, s, "shop/stripe", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d records, want 3: %+v", len(got), got)
	}
	for i, q := range got {
		w := in[i]
		if q.ID == 0 || (i > 0 && q.ID <= got[i-1].ID) {
			t.Errorf("record %d: ID %d not assigned in order", i, q.ID)
		}
		if q.Source != "shop/stripe" || q.RunID != w.RunID || q.EventID != w.EventID || q.Check != w.Check || q.Reason != w.Reason {
			t.Errorf("record %d = %+v, want %+v", i, q, w)
		}
		if !bytes.Equal(q.Raw, w.Raw) || (w.Raw == nil) != (q.Raw == nil) {
			t.Errorf("record %d: raw = %q, want %q", i, q.Raw, w.Raw)
		}
	}
	if !got[0].At.Equal(at) || !got[1].At.Equal(at.Add(time.Second)) {
		t.Errorf("times = %v, %v, want %v, %v", got[0].At, got[1].At, at, at.Add(time.Second))
	}
	if got[2].At.Before(before) || got[2].At.After(time.Now()) {
		t.Errorf("a record without a time got %v, want the commit's", got[2].At)
	}
	if got[0].Status != QuarantinePending || got[2].Status != QuarantineReleased {
		t.Errorf("statuses = %q, %q", got[0].Status, got[2].Status)
	}
	if got, _ := quarantined(ctx, s, "shop/stripe", 2); len(got) != 2 || got[0].EventID != "e1" {
		t.Errorf("limit 2 gave %+v, want the 2 oldest", got)
	}

	// Many at once (COPY in PostgreSQL).
	var many []QuarantineRecord
	for i := range 700 {
		many = append(many, QuarantineRecord{RunID: "run-2", EventID: fmt.Sprint(i), Check: "c", Reason: "r", Raw: []byte{byte(i), byte(i >> 8)}})
	}
	// A record already held, and one twice in the batch, are held once.
	many = append(many, QuarantineRecord{RunID: "run-2", EventID: "again", Check: "c", Reason: "r", Raw: raws[0]},
		QuarantineRecord{RunID: "run-2", EventID: "twice", Check: "c", Reason: "r", Raw: []byte{1, 0}})
	if res := commit(t, s, Batch{Source: "shop/stripe", Quarantine: many}); res.Held != 700 {
		t.Errorf("held %d of 702 records, want 700: the others are held already", res.Held)
	}
	all, err := quarantined(ctx, s, "shop/stripe", -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 703 || all[702].EventID != "699" || !bytes.Equal(all[702].Raw, []byte{byte(699 % 256), byte(699 >> 8)}) {
		t.Fatalf("after 700 more: %d records, last %+v", len(all), all[len(all)-1])
	}
}

// An exact redelivery of a held record is found by its hash, whatever
// became of it (a record is held once); a corrected record, or another
// source's record, is not.
func testHeldInQuarantine(t *testing.T, b backend) {
	s := b.new(t)
	held := []byte(`{"id":"e1","amount":-5}`)
	released := []byte(`{"id":"e2","amount":-7}`)
	commit(t, s, Batch{Source: "shop/stripe", Quarantine: []QuarantineRecord{
		{RunID: "r", EventID: "e1", Check: "amount", Reason: "negative", Raw: held},
		{RunID: "r", EventID: "e2", Check: "amount", Reason: "negative", Raw: released, Status: QuarantineReleased},
	}})
	commit(t, s, Batch{Source: "shop/other", Quarantine: []QuarantineRecord{{RunID: "r", Check: "c", Reason: "r", Raw: []byte("x")}}})
	corrected := []byte(`{"id":"e1","amount":5}`)
	got, err := s.HeldInQuarantine(context.Background(), "shop/stripe",
		[]string{RecordHash(held), RecordHash(released), RecordHash(corrected), RecordHash([]byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[RecordHash(held)] || !got[RecordHash(released)] {
		t.Errorf("held: %v, want the e1 and e2 records", got)
	}
}

func testUniqueKeys(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	day := 24 * time.Hour
	src := "shop/stripe"
	commit(t, s, Batch{Source: src, UniqueKeys: []UniqueKey{
		{Check: "order", Key: "k1", EventID: "e1", OccurredAt: t0},
		{Check: "order", Key: "k2", EventID: "e2", OccurredAt: t0.Add(10 * day)},
		{Check: "invoice", Key: "k3", EventID: "e3", OccurredAt: t0},
		// The same key twice in a batch: the later occurrence counts.
		{Check: "order", Key: "k4", EventID: "e4", OccurredAt: t0.Add(2 * day)},
		{Check: "order", Key: "k4", EventID: "e5", OccurredAt: t0.Add(12 * day)},
		{Check: "order", Key: "k4", EventID: "e6", OccurredAt: t0.Add(1 * day)},
	}})
	commit(t, s, Batch{Source: "shop/web", UniqueKeys: []UniqueKey{{Check: "order", Key: "k5", EventID: "x", OccurredAt: t0}}})

	check := func(since time.Time, probe []string, want ...string) {
		t.Helper()
		got, err := s.ExistingKeys(ctx, src, "order", probe, since)
		if err != nil {
			t.Fatal(err)
		}
		if k := keys(got); !reflect.DeepEqual(k, want) {
			t.Errorf("ExistingKeys(since %s) = %v, want %v", since.Sub(t0), k, want)
		}
	}
	all := []string{"k1", "k2", "k3", "k4", "k5", "nope"}
	check(t0, all, "k1", "k2", "k4")
	check(time.Time{}, all, "k1", "k2", "k4")
	check(t0.Add(5*day), all, "k2", "k4")
	check(t0.Add(10*day), all, "k2", "k4") // at or after since
	check(t0.Add(10*day+time.Microsecond), all, "k4")
	check(t0.Add(13*day), all)

	// A key seen again moves to its latest occurrence, opening a new
	// window; an older sighting does not move it back.
	commit(t, s, Batch{Source: src, UniqueKeys: []UniqueKey{{Check: "order", Key: "k1", EventID: "e7", OccurredAt: t0.Add(20 * day)}}})
	commit(t, s, Batch{Source: src, UniqueKeys: []UniqueKey{{Check: "order", Key: "k1", EventID: "e8", OccurredAt: t0.Add(3 * day)}}})
	check(t0.Add(15*day), all, "k1")
	if got := rawString(t, s, "SELECT event_id FROM unique_keys WHERE key = 'k1'"); got != "e7" {
		t.Errorf("k1 points at %s, want e7", got)
	}

	// Many keys in one call, and many written at once (COPY in PostgreSQL).
	many := ids("key", 15000)
	var uk []UniqueKey
	for _, k := range many[:9000] {
		uk = append(uk, UniqueKey{Check: "order", Key: k, EventID: k, OccurredAt: t0})
	}
	commit(t, s, Batch{Source: src, UniqueKeys: uk})
	got, err := s.ExistingKeys(ctx, src, "order", many, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 9000 {
		t.Fatalf("found %d of 9000 keys", len(got))
	}
}

// A view with a pending batch answers every write-path lookup as the store
// does once that batch has committed.
func testPending(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	day := 24 * time.Hour
	src := "shop/stripe"
	other := func(e Event) Event { e.Namespace, e.Touchpoint = "web", "crm"; return e }
	commit(t, s, Batch{Source: src,
		Events:     []Event{ev("e1", "u1"), ev("e2", "u2")},
		Quarantine: []QuarantineRecord{{RunID: "r", Check: "c", Reason: "r", Raw: []byte("q1")}},
		UniqueKeys: []UniqueKey{{Check: "order", Key: "k1", EventID: "e1", OccurredAt: t0}, {Check: "order", Key: "k2", EventID: "e2", OccurredAt: t0}},
	})
	pending := Batch{Source: src,
		// Source "" is the batch's; the last event is another namespace's
		// and touchpoint's.
		Events: []Event{ev("e3", "u3"), {Source: src, Namespace: "shop", EventID: "e4", UserID: "u1", Touchpoint: "checkout",
			System: "stripe", Type: "purchase", OccurredAt: t0, RunID: "run-1"}, other(ev("e5", "u5"))},
		Quarantine: []QuarantineRecord{
			{RunID: "r", Check: "c", Reason: "r", Raw: []byte("q2")},
			{RunID: "r", Check: "c", Reason: "r", Raw: []byte("q3"), Status: QuarantineReleased},
		},
		UniqueKeys: []UniqueKey{
			{Check: "order", Key: "k3", EventID: "e3", OccurredAt: t0.Add(10 * day)},
			{Check: "order", Key: "k2", EventID: "e4", OccurredAt: t0.Add(20 * day)}, // seen again: a new window
			{Check: "invoice", Key: "k4", EventID: "e3", OccurredAt: t0},
		},
	}
	lookups := func(s Store) []string {
		t.Helper()
		var out []string
		add := func(what string, m map[string]bool, err error) {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			out = append(out, fmt.Sprintf("%s=%v", what, keys(m)))
		}
		evs := []string{"e1", "e2", "e3", "e4", "e5", "nope"}
		m, err := s.ExistingEvents(ctx, src, evs)
		add("events", m, err)
		m, err = s.ExistingEvents(ctx, "shop/web", evs)
		add("events of another source", m, err)
		hashes := []string{RecordHash([]byte("q1")), RecordHash([]byte("q2")), RecordHash([]byte("q3")), RecordHash([]byte("q4"))}
		m, err = s.HeldInQuarantine(ctx, src, hashes)
		add("held", m, err)
		m, err = s.HeldInQuarantine(ctx, "shop/web", hashes)
		add("held by another source", m, err)
		ks := []string{"k1", "k2", "k3", "k4", "nope"}
		for _, since := range []time.Time{{}, t0, t0.Add(5 * day), t0.Add(10 * day), t0.Add(10*day + time.Microsecond), t0.Add(30 * day)} {
			m, err = s.ExistingKeys(ctx, src, "order", ks, since)
			add(fmt.Sprintf("keys since %s", since.Sub(t0)), m, err)
		}
		m, err = s.ExistingKeys(ctx, src, "invoice", ks, t0)
		add("keys of another check", m, err)
		users := []string{"u1", "u2", "u3", "u5", "nope"}
		m, err = s.KnownUsers(ctx, "shop", "checkout", users)
		add("users", m, err)
		m, err = s.KnownUsers(ctx, "web", "crm", users)
		add("users of another namespace", m, err)
		m, err = s.KnownUsers(ctx, "shop", "crm", users)
		add("users of another touchpoint", m, err)
		return out
	}
	viewed := lookups(WithPending(s, pending))
	commit(t, s, pending)
	committed := lookups(s)
	if !reflect.DeepEqual(viewed, committed) {
		t.Errorf("the view of the pending batch answers\n%s\nbut the store after committing it\n%s",
			strings.Join(viewed, "\n"), strings.Join(committed, "\n"))
	}
}

func testKnownUsers(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	mk := func(id, ns, tp, user string) Event {
		e := ev(id, user)
		e.Namespace, e.Touchpoint = ns, tp
		return e
	}
	commit(t, s, Batch{Source: "shop/stripe", Events: []Event{
		mk("1", "shop", "checkout", "u1"),
		mk("2", "shop", "checkout", "u2"),
		mk("3", "shop", "checkout", "u2"),
		mk("4", "shop", "browse", "u3"),
		mk("5", "bank", "checkout", "u4"),
	}})
	commit(t, s, Batch{Source: "shop/web", Events: []Event{mk("1", "shop", "checkout", "u5")}})
	got, err := s.KnownUsers(ctx, "shop", "checkout", []string{"u1", "u2", "u3", "u4", "u5", "u9", "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if k := keys(got); !reflect.DeepEqual(k, []string{"u1", "u2", "u5"}) {
		t.Fatalf("KnownUsers = %v, want u1 u2 u5 (any source, this namespace and touchpoint only)", k)
	}
	probe := append(ids("nobody", 30000), "u4")
	if got, err := s.KnownUsers(ctx, "bank", "checkout", probe); err != nil || !reflect.DeepEqual(keys(got), []string{"u4"}) {
		t.Fatalf("KnownUsers over %d ids = %v, %v", len(probe), keys(got), err)
	}
}

// Events come back per user, in time order, with amounts and attributes,
// only of the sources asked for.
func testEventsStream(t *testing.T, b backend) {
	s := b.new(t)
	mk := func(src, id, user string, at time.Duration, amount *float64) Event {
		return Event{Source: src, Namespace: "shop", EventID: id, UserID: user, Touchpoint: "billing", System: "stripe",
			Type: "invoice.paid", OccurredAt: t0.Add(at), Amount: amount, Currency: "usd",
			Attributes: map[string]any{"plan": "gold", "minutes": 12.5}, RunID: "r"}
	}
	commit(t, s, Batch{Source: "shop/a", Events: []Event{mk("shop/a", "e3", "u2", time.Hour, nil), mk("shop/a", "e1", "u1", 2*time.Hour, ptr(9.99))}})
	commit(t, s, Batch{Source: "shop/b", Events: []Event{mk("shop/b", "e2", "u1", time.Hour, ptr(-1.5))}})
	commit(t, s, Batch{Source: "shop/c", Events: []Event{mk("shop/c", "e9", "u0", 0, nil)}})
	var got []string
	err := s.ScanEvents(context.Background(), EventQuery{Sources: []string{"shop/a", "shop/b"}}, func(e *Event, raw []byte) error {
		if err := json.Unmarshal(raw, &e.Attributes); err != nil {
			return err
		}
		amount := "null"
		if e.Amount != nil {
			amount = fmt.Sprint(*e.Amount)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %v %v", e.UserID, e.EventID, e.OccurredAt.Sub(t0), amount, e.Attributes["plan"], e.Attributes["minutes"]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"u1 e2 1h0m0s -1.5 gold 12.5", "u1 e1 2h0m0s 9.99 gold 12.5", "u2 e3 1h0m0s null gold 12.5"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A lean read leaves out the namespace, run ID and the attributes of
	// touchpoints not asked for.
	for _, tc := range []struct {
		of    []string
		attrs bool
	}{{[]string{}, false}, {[]string{"billing"}, true}, {[]string{"playback"}, false}, {nil, true}} {
		err := s.ScanEvents(context.Background(), EventQuery{Sources: []string{"shop/a"}, Lean: true, AttributesOf: tc.of}, func(e *Event, attrs []byte) error {
			if e.Namespace != "" || e.RunID != "" || e.EventID == "" || e.Type != "invoice.paid" {
				t.Errorf("lean read: %+v", e)
			}
			if (attrs != nil) != tc.attrs {
				t.Errorf("attributes of %v: %q", tc.of, attrs)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// An evaluator reads the users with events ingested after its watermark,
// then only their events.
func testWatermark(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	src := []string{"shop/a", "shop/b"}
	if seq, err := s.LatestSeq(ctx, src); err != nil || seq != 0 {
		t.Fatalf("empty store: seq %d, %v", seq, err)
	}
	mk := func(source, id, user string) Event {
		return Event{Source: source, Namespace: "shop", EventID: id, UserID: user, Touchpoint: "t", System: "s", Type: "x", OccurredAt: t0, RunID: "r"}
	}
	commit(t, s, Batch{Source: "shop/a", Events: []Event{mk("shop/a", "e1", "u1"), mk("shop/a", "e2", "u2")}})
	commit(t, s, Batch{Source: "shop/c", Events: []Event{mk("shop/c", "e9", "u9")}}) // another journey's source
	w1, err := s.LatestSeq(ctx, src)
	if err != nil || w1 == 0 {
		t.Fatalf("watermark after the first batch: %d, %v", w1, err)
	}
	commit(t, s, Batch{Source: "shop/b", Events: []Event{mk("shop/b", "e3", "u3"), mk("shop/b", "e4", "u2")}})
	commit(t, s, Batch{Source: "shop/a", Events: []Event{mk("shop/a", "e1", "u1")}}) // a duplicate: nothing new
	w2, _ := s.LatestSeq(ctx, src)
	if w2 <= w1 {
		t.Fatalf("watermark did not move: %d then %d", w1, w2)
	}
	scan := func(q EventQuery) string {
		t.Helper()
		var got []string
		err := s.ScanEvents(ctx, q, func(e *Event, attrs []byte) error {
			got = append(got, e.UserID+":"+e.EventID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ",")
	}
	if got := scan(EventQuery{Sources: src, AfterSeq: w1, UpToSeq: w2}); got != "u2:e4,u3:e3" {
		t.Errorf("events ingested after the watermark: %s; want u2:e4,u3:e3", got)
	}
	if got := scan(EventQuery{Sources: src, AfterSeq: w2, UpToSeq: w2}); got != "" {
		t.Errorf("nothing is newer than the newest: %s", got)
	}
	if got := scan(EventQuery{Sources: src, Users: []string{"u2"}}); got != "u2:e2,u2:e4" {
		t.Errorf("u2's events: %s, want u2:e2,u2:e4 (old and new, from both sources)", got)
	}
	if got := scan(EventQuery{Sources: src, Users: []string{}}); got != "" {
		t.Errorf("no users selects no events: %s", got)
	}
	// A source named without its namespace still finds its users' events.
	plain := Event{Source: "plain", Namespace: "elsewhere", EventID: "p1", UserID: "u2", Touchpoint: "t", System: "s", Type: "x", OccurredAt: t0, RunID: "r"}
	commit(t, s, Batch{Source: "plain", Events: []Event{plain}})
	if got := scan(EventQuery{Sources: []string{"shop/a", "plain"}, Users: []string{"u2"}}); got != "u2:e2,u2:p1" {
		t.Errorf("u2's events of shop/a and plain: %s, want u2:e2,u2:p1", got)
	}
}

// ScanSlices reads every selected event once, whole and as ScanEvents
// reads it, in slices read at once; ScanEvents orders same-time events of
// a user as they were ingested.
func testSlices(t *testing.T, b backend) {
	dsn := b.dsn(t)
	s := b.open(t, dsn)
	ctx := context.Background()
	mk := func(source, id, user string, i int) Event {
		e := Event{Source: source, Namespace: "shop", EventID: id, UserID: user, Touchpoint: "t", System: "s", Type: "x",
			OccurredAt: t0.Add(time.Duration(i) * 1001 * time.Microsecond), RunID: "r", Attributes: map[string]any{"n": i, "q": "it's"}}
		if i%3 == 0 {
			e.Touchpoint, e.Amount, e.Currency = "billing", ptr(float64(i)/100-3), "eur"
		}
		return e
	}
	for batch := range 10 {
		var a, c []Event
		for i := range 200 {
			id := fmt.Sprintf("e%d-%d", batch, i)
			a = append(a, mk("shop/a", id, fmt.Sprintf("u%d", i%37), i))
			c = append(c, mk("shop/c", id, "u1", i)) // not selected
		}
		commit(t, s, Batch{Source: "shop/a", Events: a})
		commit(t, s, Batch{Source: "shop/c", Events: c})
	}
	upTo, err := s.LatestSeq(ctx, []string{"shop/a"})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, Batch{Source: "shop/a", Events: []Event{mk("shop/a", "late", "u1", 0)}}) // after upTo
	describe := func(e *Event, attrs []byte) string {
		amount := "null"
		if e.Amount != nil {
			amount = fmt.Sprint(*e.Amount)
		}
		return fmt.Sprintf("%s %s %s %s %s %s %s %s %s %s %s %s %d", e.Source, e.Namespace, e.EventID, e.UserID, e.Touchpoint, e.System,
			e.Type, e.OccurredAt.Format(time.RFC3339Nano), amount, e.Currency, attrs, e.RunID, e.Seq)
	}
	for _, q := range []EventQuery{
		{Sources: []string{"shop/a"}, UpToSeq: upTo},
		{Sources: []string{"shop/a", "shop/none's"}, UpToSeq: upTo, Lean: true, AttributesOf: []string{"billing", "it's"}},
	} {
		want := map[string]string{}
		err = s.ScanEvents(ctx, q, func(e *Event, attrs []byte) error {
			want[e.EventID] = describe(e, attrs)
			return nil
		})
		if err != nil || len(want) != 2000 {
			t.Fatalf("ScanEvents read %d events (%v), want 2000", len(want), err)
		}
		var mu sync.Mutex
		got, perSlice := map[string]string{}, map[int]int{}
		err = s.ScanSlices(ctx, q, 3, func(slice int, e *Event, attrs []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := got[e.EventID]; dup {
				t.Errorf("event %s read twice", e.EventID)
			}
			got[strings.Clone(e.EventID)] = describe(e, attrs)
			perSlice[slice]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for id, w := range want {
			if got[id] != w {
				t.Fatalf("%+v: ScanSlices read %q\nScanEvents read %q", q, got[id], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("slices read %d events, want the %d of shop/a up to %d", len(got), len(want), upTo)
		}
		if len(perSlice) < 2 {
			t.Errorf("one slice read everything: %v", perSlice)
		}
	}

	// A PostgreSQL pool of one connection reads one slice.
	if strings.HasPrefix(dsn, "postgres") {
		one := b.open(t, dsn+"&pool_max_conns=1")
		read := 0
		err := one.ScanSlices(ctx, EventQuery{Sources: []string{"shop/a"}, UpToSeq: upTo}, 3, func(slice int, _ *Event, _ []byte) error {
			if slice != 0 {
				t.Errorf("a pool of one connection read slice %d", slice)
			}
			read++
			return nil
		})
		if err != nil || read != 2000 {
			t.Errorf("a pool of one connection read %d events (%v), want 2000", read, err)
		}
	}

	// Same time, same user: in the order ingested, whatever their IDs.
	commit(t, s, Batch{Source: "shop/b", Events: []Event{mk("shop/b", "z", "u1", 0)}})
	commit(t, s, Batch{Source: "shop/b", Events: []Event{mk("shop/b", "a", "u1", 0)}})
	var order []string
	err = s.ScanEvents(ctx, EventQuery{Sources: []string{"shop/b"}}, func(e *Event, _ []byte) error {
		order = append(order, e.EventID)
		return nil
	})
	if err != nil || strings.Join(order, ",") != "z,a" {
		t.Errorf("same-time events in order %v (%v), want z,a as ingested", order, err)
	}
}

// An evaluator's per-user states: replaced whole after a full evaluation,
// upserted after an incremental one, each time with its watermark document
// in the same transaction.
func testUserStates(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	load := func(journey string) string {
		t.Helper()
		var got []string
		if err := s.LoadUserStates(ctx, journey, func(u string, st []byte) error {
			got = append(got, u+"="+string(st))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		return strings.Join(got, ",")
	}
	save := func(journey string, replace bool, doc string, states ...UserState) {
		t.Helper()
		if err := s.SaveUserStates(ctx, journey, states, replace, "users", []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	save("shop/j", true, `{"seq":1}`, UserState{"u1", []byte{1}}, UserState{"u2", []byte{2}})
	save("shop/other", true, `{"seq":1}`, UserState{"u1", []byte{9}})
	save("shop/j", false, `{"seq":2}`, UserState{"u2", []byte{3}}, UserState{"u3", []byte{4}})
	if got := load("shop/j"); got != "u1=\x01,u2=\x03,u3=\x04" {
		t.Errorf("after an upsert: %q", got)
	}
	if doc, _ := s.LoadState(ctx, "shop/j", "users"); !strings.Contains(string(doc), `"seq": 2`) && !strings.Contains(string(doc), `"seq":2`) {
		t.Errorf("the watermark document was not saved with the states: %s", doc)
	}
	save("shop/j", true, `{"seq":3}`, UserState{"u9", []byte{5}})
	if got := load("shop/j"); got != "u9=\x05" {
		t.Errorf("after a replace: %q", got)
	}
	if got := load("shop/other"); got != "u1=\x09" {
		t.Errorf("another journey's states changed: %q", got)
	}
	if err := s.SaveUserStates(ctx, "shop/j", nil, false, "users", []byte("not json")); err == nil {
		t.Error("a document that is not JSON was saved")
	}
}

func testJourneyState(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	if v, err := s.LoadState(ctx, "shop/j", "alerts"); err != nil || v != nil {
		t.Fatalf("no state yet: %q, %v", v, err)
	}
	for _, doc := range []string{`{"a/u1":"2026-11-01T00:00:00Z"}`, `{"a/u2":"2026-11-02T00:00:00Z"}`} {
		if err := s.SaveState(ctx, "shop/j", "alerts", []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveState(ctx, "shop/other", "alerts", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	v, err := s.LoadState(ctx, "shop/j", "alerts")
	var got map[string]string
	if err != nil || json.Unmarshal(v, &got) != nil || got["a/u2"] != "2026-11-02T00:00:00Z" || len(got) != 1 {
		t.Errorf("state: %s, %v", v, err)
	}
	if err := s.SaveState(ctx, "shop/j", "alerts", []byte("not json")); err == nil {
		t.Error("saved a document that is not JSON")
	}
}

func testCursor(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	cur := func(src string) string {
		t.Helper()
		c, err := s.Cursor(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := cur("shop/stripe"); c != "" {
		t.Fatalf("cursor before any = %q", c)
	}
	commit(t, s, Batch{Source: "shop/stripe", Cursor: ptr("evt_100")})
	commit(t, s, Batch{Source: "shop/web", Cursor: ptr("2025-03-14T00:00:00Z")})
	commit(t, s, Batch{Source: "shop/stripe", Cursor: ptr("evt_200"), Events: []Event{ev("e1", "u")}})
	commit(t, s, Batch{Source: "shop/stripe", Events: []Event{ev("e2", "u")}}) // no cursor: unchanged
	if c := cur("shop/stripe"); c != "evt_200" {
		t.Fatalf("cursor = %q, want evt_200", c)
	}
	if c := cur("shop/web"); c != "2025-03-14T00:00:00Z" {
		t.Fatalf("other source's cursor = %q", c)
	}
	commit(t, s, Batch{Source: "shop/stripe", Cursor: ptr("")})
	if c := cur("shop/stripe"); c != "" {
		t.Fatalf("cursor reset = %q", c)
	}
}

func testRuns(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	run := func(id string, start time.Time) Run {
		return Run{
			ID: id, Source: "shop/stripe", Outcome: "Succeeded", Message: "ok", StartedAt: start, FinishedAt: start.Add(time.Minute),
			Read: 10, Accepted: 7, Duplicates: 1, Quarantined: 1, Rejected: 1, Warnings: 2,
			AmountRead: "18234.50", AmountLoaded: "1000", Currency: "EUR", Cursor: "evt_" + id, ConfigHash: "sha256:cfg",
		}
	}
	r1, r2, r3 := run("r1", t0), run("r2", t0.Add(time.Hour)), run("r3", t0.Add(2*time.Hour))
	r3.AmountRead, r3.AmountLoaded, r3.Currency = "", "", ""
	commit(t, s, Batch{Source: "shop/stripe", Run: &r2})
	commit(t, s, Batch{Source: "shop/stripe", Run: &r1})
	commit(t, s, Batch{Source: "shop/stripe", Run: &r3})
	commit(t, s, Batch{Source: "shop/web", Run: ptr(Run{ID: "w1", StartedAt: t0.Add(5 * time.Hour)})})

	got, err := s.Runs(ctx, "shop/stripe", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "r3" || got[1].ID != "r2" || got[2].ID != "r1" {
		t.Fatalf("runs = %+v, want r3 r2 r1", got)
	}
	for i, want := range []Run{r3, r2, r1} {
		g := got[i]
		if !g.StartedAt.Equal(want.StartedAt) || !g.FinishedAt.Equal(want.FinishedAt) {
			t.Errorf("run %s times = %v..%v, want %v..%v", want.ID, g.StartedAt, g.FinishedAt, want.StartedAt, want.FinishedAt)
		}
		g.StartedAt, g.FinishedAt, want.StartedAt, want.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if g != want {
			t.Errorf("run = %+v,\nwant %+v", g, want)
		}
	}
	if got, _ := s.Runs(ctx, "shop/stripe", 2); len(got) != 2 || got[0].ID != "r3" {
		t.Fatalf("limit 2 = %+v", got)
	}

	// A run is replaced by ID: a run's row is written as it progresses.
	r1.Outcome, r1.Accepted, r1.Message = "Failed", 3, "source unreachable"
	commit(t, s, Batch{Source: "shop/stripe", Run: &r1})
	got, _ = s.Runs(ctx, "shop/stripe", 0)
	if len(got) != 3 || got[2].Outcome != "Failed" || got[2].Accepted != 3 || got[2].Message != "source unreachable" {
		t.Fatalf("after replacing r1: %+v", got)
	}
}

// verifyLedger verifies s's ledger and returns its number of entries.
func verifyLedger(ctx context.Context, s Store) (int64, error) {
	rep, err := s.Verify(ctx, VerifyOptions{})
	return rep.Entries, err
}

func quarantined(ctx context.Context, s Store, source string, limit int) ([]QuarantineRecord, error) {
	return s.FindQuarantine(ctx, QuarantineFilter{Source: source, Limit: limit})
}

// ledgerEntry is a batch's entry for a batch that read read records.
func ledgerEntry(run string, read int64) *LedgerEntry {
	return &LedgerEntry{
		RunID: run, ConfigHash: "sha256:cfg", Read: read, AmountRead: "100.10", Cursor: "c-" + run,
		// Nanoseconds: the store keeps microseconds, and must hash what
		// it keeps.
		At: time.Now(),
	}
}

func testLedger(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	if n, err := verifyLedger(ctx, s); n != 0 || err != nil {
		t.Fatalf("empty ledger: %d, %v", n, err)
	}
	prev := ""
	for i := int64(1); i <= 5; i++ {
		l := ledgerEntry(fmt.Sprint("run-", i), i*10)
		r := &Run{ID: fmt.Sprint("run-", i), StartedAt: t0.Add(time.Duration(i) * time.Minute)}
		res := commit(t, s, Batch{Source: "shop/stripe", Events: []Event{ev(fmt.Sprint("e", i), "u")}, Ledger: l, Run: r})
		if l.Seq != i || l.PrevHash != prev || l.Hash != res.LedgerHash || l.Source != "shop/stripe" {
			t.Fatalf("entry %d: %+v, result %+v, previous hash %s", i, l, res, prev)
		}
		if res.LedgerHash != LedgerHash(*l) || !strings.HasPrefix(res.LedgerHash, "sha256:") {
			t.Fatalf("entry %d: hash %s does not hash the entry", i, res.LedgerHash)
		}
		if r.LedgerHash != res.LedgerHash {
			t.Fatalf("entry %d: the run's ledger hash is %q, want %q", i, r.LedgerHash, res.LedgerHash)
		}
		runs, _ := s.Runs(ctx, "shop/stripe", 1)
		if len(runs) != 1 || runs[0].LedgerHash != res.LedgerHash {
			t.Fatalf("entry %d: stored run = %+v", i, runs)
		}
		prev = res.LedgerHash
	}
	// Entries of other sources join the same chain.
	res := commit(t, s, Batch{Source: "shop/web", Ledger: ledgerEntry("w", 1)})
	if n, err := verifyLedger(ctx, s); n != 6 || err != nil {
		t.Fatalf("VerifyLedger = %d, %v; want 6, nil", n, err)
	}
	if rawString(t, s, "SELECT hash FROM ledger WHERE seq = 6") != res.LedgerHash {
		t.Fatal("stored hash differs from the one returned")
	}
}

func testLedgerTampered(t *testing.T, b backend) {
	ctx := context.Background()
	chain := func(t *testing.T) Store {
		s := b.new(t)
		for i := range 4 {
			commit(t, s, Batch{Source: "shop/stripe", Ledger: ledgerEntry(fmt.Sprint("run-", i), int64(i))})
		}
		if n, err := verifyLedger(ctx, s); n != 4 || err != nil {
			t.Fatalf("VerifyLedger before tampering = %d, %v", n, err)
		}
		return s
	}
	for _, c := range []struct {
		name   string
		sql    string
		seq    int64
		reason string
	}{
		{"count changed", "UPDATE ledger SET accepted = accepted + 1 WHERE seq = 3", 3, "changed"},
		{"amount changed", "UPDATE ledger SET amount_loaded = '9000.00' WHERE seq = 2", 2, "changed"},
		{"entry deleted", "DELETE FROM ledger WHERE seq = 2", 2, "missing"},
		{"newest entry deleted", "DELETE FROM ledger WHERE seq = 4", 4, "missing"},
		{"rehashed", "UPDATE ledger SET hash = 'sha256:forged' WHERE seq = 1", 1, "changed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := chain(t)
			rawExec(t, s, c.sql)
			_, err := verifyLedger(ctx, s)
			var broken *BrokenLinkError
			if !errors.As(err, &broken) {
				t.Fatalf("VerifyLedger after %q = %v, want a BrokenLinkError", c.sql, err)
			}
			if broken.Seq != c.seq || !strings.Contains(broken.Reason, c.reason) {
				t.Fatalf("broken link = %v, want entry %d, %s", broken, c.seq, c.reason)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("entry %d", c.seq)) {
				t.Fatalf("message %q does not name entry %d", err, c.seq)
			}
		})
	}
}

func testAtomicity(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	src := "shop/stripe"
	commit(t, s, Batch{Source: src, Events: []Event{ev("e0", "u")}, Cursor: ptr("c1"), Ledger: ledgerEntry("run-0", 1)})

	var events []Event
	for _, id := range ids("x", 500) {
		events = append(events, ev(id, "u"))
	}
	bad := Batch{
		Source: src, Events: events, Cursor: ptr("c2"), Ledger: ledgerEntry("run-1", 500),
		Run:        &Run{ID: "run-1", StartedAt: t0},
		UniqueKeys: []UniqueKey{{Check: "order", Key: "k1", EventID: "x00001", OccurredAt: t0}},
		// The database refuses this status, after the events are written.
		Quarantine: []QuarantineRecord{{RunID: "run-1", Check: "c", Reason: "r", Status: "Bogus"}},
	}
	if _, err := s.Commit(ctx, bad); err == nil {
		t.Fatal("a batch with an invalid quarantine status committed")
	}
	assertUntouched := func() {
		t.Helper()
		if got, _ := s.ExistingEvents(ctx, src, ids("x", 500)); len(got) != 0 {
			t.Errorf("%d events of the failed batch stored", len(got))
		}
		if c, _ := s.Cursor(ctx, src); c != "c1" {
			t.Errorf("cursor moved to %q", c)
		}
		if n, err := verifyLedger(ctx, s); n != 1 || err != nil {
			t.Errorf("ledger = %d entries, %v; want 1", n, err)
		}
		if runs, _ := s.Runs(ctx, src, 0); len(runs) != 0 {
			t.Errorf("run recorded: %+v", runs)
		}
		if got, _ := s.ExistingKeys(ctx, src, "order", []string{"k1"}, time.Time{}); len(got) != 0 {
			t.Errorf("unique key recorded")
		}
		if q, _ := quarantined(ctx, s, src, 0); len(q) != 0 {
			t.Errorf("quarantine written: %+v", q)
		}
	}
	assertUntouched()
	if bad.Ledger.Seq != 0 || bad.Ledger.Hash != "" || bad.Run.LedgerHash != "" {
		t.Errorf("a failed commit assigned ledger fields: %+v", bad.Ledger)
	}

	// A cancelled context commits nothing either.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	bad.Quarantine = nil
	if _, err := s.Commit(cancelled, bad); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit with a cancelled context = %v, want context.Canceled", err)
	}
	assertUntouched()

	// The store is still usable, and the same batch commits whole.
	if res := commit(t, s, bad); res.Inserted != 500 {
		t.Fatalf("retry inserted %d", res.Inserted)
	}
	if n, err := verifyLedger(ctx, s); n != 2 || err != nil {
		t.Fatalf("ledger after retry = %d, %v", n, err)
	}
}

// testAtomicityUnderCancel cancels commits of a large batch at moments
// spread over how long one takes, the last ones in its COMMIT: each must
// land whole and report success, or report failure and leave nothing.
func testAtomicityUnderCancel(t *testing.T, b backend) {
	s := b.new(t)
	src := "shop/stripe"
	batch := func(prefix string) Batch {
		var events []Event
		for _, id := range ids(prefix, 3000) {
			events = append(events, ev(id, "u"))
		}
		return Batch{Source: src, Events: events, Cursor: ptr(prefix), Ledger: ledgerEntry(prefix, 3000)}
	}
	start := time.Now()
	commit(t, s, batch("warm-"))
	took := time.Since(start)
	failed := 0
	for round := range 25 {
		delay := took * time.Duration(round) / 20 // 0 to 120% of a commit
		prefix := fmt.Sprintf("r%d-", round)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(delay, cancel)
		_, err := s.Commit(ctx, batch(prefix))
		cancel()
		got, gerr := s.ExistingEvents(context.Background(), src, ids(prefix, 3000))
		if gerr != nil {
			t.Fatal(gerr)
		}
		cur, _ := s.Cursor(context.Background(), src)
		switch {
		case err == nil && (len(got) != 3000 || cur != prefix):
			t.Fatalf("delay %v: committed, but %d events and cursor %q", delay, len(got), cur)
		case err != nil && (len(got) != 0 || cur == prefix):
			t.Fatalf("delay %v: failed (%v), but %d events and cursor %q", delay, err, len(got), cur)
		case err != nil && !errors.Is(err, context.Canceled):
			t.Fatalf("delay %v: failed with %v, want context.Canceled", delay, err)
		case err != nil:
			failed++
		}
		if _, err := verifyLedger(context.Background(), s); err != nil {
			t.Fatalf("delay %v: %v", delay, err)
		}
	}
	if failed == 0 {
		t.Errorf("no commit was cancelled (one takes %v): the test tested nothing", took)
	}
	t.Logf("one commit takes %v; %d of 25 cancelled", took, failed)
}

func testMigrations(t *testing.T, b backend) {
	ctx := context.Background()
	dsn := b.dsn(t)
	// Several opens at once, as pods starting together do.
	stores := make([]Store, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	all, _ := loadMigrations("sqlite", "")
	if got := rawString(t, stores[0], "SELECT CAST(COUNT(*) AS TEXT) FROM schema_migrations"); got != fmt.Sprint(len(all)) {
		t.Fatalf("%s migrations recorded, want %d", got, len(all))
	}
	commit(t, stores[0], Batch{Source: "s", Events: []Event{ev("e1", "u")}, Ledger: ledgerEntry("r", 1)})
	s := b.open(t, dsn) // and once more, with data in place
	if !b.shared {
		return
	}
	if got, _ := s.ExistingEvents(ctx, "s", []string{"e1"}); !got["e1"] {
		t.Fatal("data lost on reopening")
	}
	if n, err := verifyLedger(ctx, s); n != 1 || err != nil {
		t.Fatalf("ledger on reopening: %d, %v", n, err)
	}
	// A database a newer journey migrated is refused, not misread.
	rawExec(t, s, "INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_future.sql', CURRENT_TIMESTAMP)")
	if _, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer version") {
		t.Fatalf("opening a database of a newer schema: %v", err)
	}
}

// testUpgradeLeanIndexes opens a database as journey left it before
// migration 0005 (its events indexed the old way, no source_seq), with
// events in it, and checks that after the upgrade nothing is lost: the
// watermark is where it was, stored events still deduplicate, their users
// are known, and new events number after the old.
func testUpgradeLeanIndexes(t *testing.T, b backend) {
	if !b.shared {
		return // an in-memory database does not outlive its store: there is nothing to upgrade
	}
	ctx := context.Background()
	dsn := b.dsn(t)
	old, err := openUpTo(ctx, dsn, "0004_journey_users.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"'shop/a', 'e1', 'u1'", "'shop/b', 'e2', 'u2'", "'shop/a', 'e3', 'u2'"} {
		rawExec(t, old, `INSERT INTO events (source, event_id, user_id, namespace, touchpoint, system, type, occurred_at, run_id, ingested_at)
			VALUES (`+e+`, 'shop', 'checkout', 'stripe', 'purchase', '2025-03-14T09:26:53.000000Z', 'r', '2025-03-14T09:26:53.000000Z')`)
	}
	rawExec(t, old, `INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at)
		VALUES ('shop/a', 'rule/once', 'k1', 'e1', '2025-03-14T09:26:53.000000Z')`)
	if got := rawString(t, old, "SELECT CAST(COUNT(*) AS TEXT) FROM schema_migrations"); got != "4" {
		t.Fatalf("%s migrations applied before the upgrade, want 4", got)
	}
	old.Close()

	s := b.open(t, dsn)
	seqA, err := s.LatestSeq(ctx, []string{"shop/a"})
	if err != nil {
		t.Fatal(err)
	}
	seqAll, _ := s.LatestSeq(ctx, []string{"shop/a", "shop/b"})
	seqB, _ := s.LatestSeq(ctx, []string{"shop/b"})
	if seqA == 0 || seqB == 0 || seqA <= seqB || seqAll != seqA {
		t.Fatalf("watermarks after the upgrade: a %d, b %d, both %d; want b's below a's (e3 came last), both a's", seqA, seqB, seqAll)
	}
	if got, _ := s.ExistingEvents(ctx, "shop/a", []string{"e1", "e2", "e3"}); !reflect.DeepEqual(keys(got), []string{"e1", "e3"}) {
		t.Errorf("stored events of shop/a after the upgrade: %v, want [e1 e3]", keys(got))
	}
	if got, _ := s.KnownUsers(ctx, "shop", "checkout", []string{"u1", "u2", "u3"}); !reflect.DeepEqual(keys(got), []string{"u1", "u2"}) {
		t.Errorf("known users after the upgrade: %v, want [u1 u2]", keys(got))
	}
	since := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	if got, _ := s.ExistingKeys(ctx, "shop/a", "rule/once", []string{"k1", "k2"}, since); !reflect.DeepEqual(keys(got), []string{"k1"}) {
		t.Errorf("unique keys after the upgrade: %v, want [k1]", keys(got))
	}
	commit(t, s, Batch{Source: "shop/a", UniqueKeys: []UniqueKey{{Check: "rule/once", Key: "k1", EventID: "e9", OccurredAt: t0.Add(time.Hour)}}})
	if got := rawString(t, s, "SELECT event_id FROM unique_keys WHERE key = 'k1'"); got != "e9" {
		t.Errorf("a key recorded again after the upgrade is held by %s, want its latest event e9", got)
	}
	res := commit(t, s, Batch{Source: "shop/b", Events: []Event{
		{Namespace: "shop", EventID: "e2", UserID: "u2", Touchpoint: "checkout", System: "stripe", Type: "purchase", OccurredAt: t0, RunID: "r2"},
		{Namespace: "shop", EventID: "e4", UserID: "u2", Touchpoint: "checkout", System: "stripe", Type: "purchase", OccurredAt: t0, RunID: "r2"},
	}})
	if res.Inserted != 1 {
		t.Errorf("committed e2 again and e4 after the upgrade: %d inserted, want 1 (e4)", res.Inserted)
	}
	if seq, _ := s.LatestSeq(ctx, []string{"shop/b"}); seq <= seqA {
		t.Errorf("shop/b's watermark after a new event: %d, want past every old event's (%d)", seq, seqA)
	}
	var users []string
	err = s.ScanEvents(ctx, EventQuery{Sources: []string{"shop/a", "shop/b"}, Users: []string{"u2"}}, func(e *Event, _ []byte) error {
		users = append(users, e.EventID)
		return nil
	})
	if err != nil || strings.Join(users, ",") != "e2,e3,e4" {
		t.Errorf("u2's events after the upgrade: %v, %v; want e2,e3,e4", users, err)
	}
}

// testIdentifierCollation: the columns that key events and unique keys
// compare as bytes in PostgreSQL whatever the database's collation, as
// comparing by a language's rules made every index entry dearer. (SQLite
// compares text as bytes unless told otherwise.)
func testIdentifierCollation(t *testing.T, b backend) {
	s := b.new(t)
	if _, ok := s.(*pgStore); !ok {
		return
	}
	got := rawString(t, s, `SELECT string_agg(table_name || '.' || column_name || ' ' || coalesce(collation_name, 'default'), ', '
		ORDER BY table_name, column_name)
		FROM information_schema.columns
		WHERE (table_name = 'events' AND column_name IN ('source', 'event_id', 'namespace', 'user_id', 'touchpoint'))
		   OR (table_name = 'unique_keys' AND column_name IN ('source', 'check_name', 'key'))
		   OR (table_name = 'source_seq' AND column_name = 'source')`)
	want := "events.event_id C, events.namespace C, events.source C, events.touchpoint C, events.user_id C, " +
		"source_seq.source C, unique_keys.check_name C, unique_keys.key C, unique_keys.source C"
	if got != want {
		t.Errorf("collations of the identifier columns:\n%s\nwant\n%s", got, want)
	}
}

func testConcurrentCommits(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	const writers, commits = 2, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*commits)
	for w := range writers {
		wg.Go(func() {
			src := fmt.Sprint("shop/src-", w)
			for i := range commits {
				var events []Event
				for j := range 50 {
					events = append(events, ev(fmt.Sprintf("e%d-%d", i, j), "u"))
				}
				// Both writers also deliver some shared event IDs... of
				// their own source, and one run row each per commit.
				_, err := s.Commit(ctx, Batch{Source: src, Events: events, Cursor: ptr(fmt.Sprint(i)),
					Ledger: ledgerEntry(fmt.Sprintf("%d-%d", w, i), 50), Run: &Run{ID: fmt.Sprintf("%d-%d", w, i), StartedAt: t0}})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := verifyLedger(ctx, s); n != writers*commits || err != nil {
		t.Fatalf("VerifyLedger = %d, %v; want %d, nil", n, err, writers*commits)
	}
	if got := rawString(t, s, "SELECT CAST(COUNT(DISTINCT prev_hash) AS TEXT) FROM ledger"); got != fmt.Sprint(writers*commits) {
		t.Fatalf("%s distinct previous hashes: the chain forked", got)
	}
}

func testRefusals(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	nan := ev("e1", "u")
	nan.Amount = ptr(0.0)
	*nan.Amount = *nan.Amount / *nan.Amount
	badAttrs := ev("e2", "u")
	badAttrs.Attributes = map[string]any{"f": func() {}}
	for _, c := range []struct {
		name  string
		batch Batch
		want  string
	}{
		{"no event ID", Batch{Source: "s", Events: []Event{ev("", "u")}}, "no event ID"},
		{"NaN amount", Batch{Source: "s", Events: []Event{nan}}, "not a finite number"},
		{"attributes not JSON", Batch{Source: "s", Events: []Event{badAttrs}}, "attributes are not JSON"},
		{"no source", Batch{Events: []Event{ev("e1", "u")}}, "no source"},
		{"another source", Batch{Source: "s", Events: []Event{{Source: "t", EventID: "e"}}}, `of source "t" but the batch is of "s"`},
		{"cursor without source", Batch{Cursor: ptr("c")}, "names no source"},
		{"run without ID", Batch{Source: "s", Run: &Run{}}, "no ID"},
		{"run amount", Batch{Source: "s", Run: &Run{ID: "r", AmountRead: "12,50"}}, `"12,50" is not a decimal number`},
		{"ledger amount", Batch{Source: "s", Ledger: &LedgerEntry{AmountRead: "1e3"}}, `"1e3" is not a decimal number`},
		{"ledger kind", Batch{Source: "s", Ledger: &LedgerEntry{Kind: EntryReview}}, `want "batch" or "run"`},
		{"ledger reads less than it commits", Batch{Source: "s", Events: []Event{ev("e1", "u")}, Ledger: &LedgerEntry{Read: 0}}, "fewer than"},
	} {
		_, err := s.Commit(ctx, c.batch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Commit = %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if n, err := verifyLedger(ctx, s); n != 0 || err != nil {
		t.Fatalf("refused batches left a ledger: %d, %v", n, err)
	}
}

func TestOpenRefusesUnknownScheme(t *testing.T) {
	for _, dsn := range []string{"mysql://journey:hunter2@db:3306/journey", "file:journey.db", "", "sqlite:/x.db", "host=db password=hunter2"} {
		_, err := Open(context.Background(), dsn)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		msg := err.Error()
		if !strings.Contains(msg, "sqlite:///") || !strings.Contains(msg, "postgres://") {
			t.Errorf("Open(%q) = %q: does not say what a DSN looks like", dsn, msg)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q) = %q: shows the password", dsn, msg)
		}
	}
}

func TestOpenRedactsPasswords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		// Nothing listens on port 1: the connection fails.
		"postgres://journey:hunter2@127.0.0.1:1/journey?sslmode=disable&connect_timeout=2",
		"postgresql://journey:hunter2@127.0.0.1:1/journey?sslmode=disable",
		"postgres://journey@127.0.0.1:1/journey?password=hunter2&sslmode=disable",
		"postgres://journey:hunter2@127.0.0.1:1/journey?pool_max_conns=lots",
		"postgres://journey:hunter2@127.0.0.1:notaport/journey",
		"postgres://journey:hunter2@[::1/journey",
		"postgres://journey:hunter2@127.0.0.1:1/journey?sslmode=bogus",
	} {
		_, err := Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "PostgreSQL") {
			t.Errorf("error does not say what failed: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://journey:hunter2@db:5432/journey?sslmode=require": "postgres://journey:***@db:5432/journey?sslmode=require",
		"postgres://journey@db/journey?password=hunter2":             "postgres://journey@db/journey?password=***",
		"postgres://journey@db/journey":                              "postgres://journey@db/journey",
		"sqlite:///var/lib/journey/journey.db":                       "sqlite:///var/lib/journey/journey.db",
		"postgres://journey:hunter2@[::1/journey":                    "postgres://journey:***@[::1/journey",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenSQLiteErrors(t *testing.T) {
	_, err := Open(context.Background(), "sqlite:///nonexistent-dir-for-journey/sub/journey.db")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent-dir-for-journey/sub/journey.db") {
		t.Fatalf("Open on a missing directory = %v, want an error naming the path", err)
	}
}

func TestSQLiteDefaults(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "odd ?#% name.db")
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for q, want := range map[string]string{
		"SELECT journal_mode FROM pragma_journal_mode":               "wal",
		"SELECT CAST(foreign_keys AS TEXT) FROM pragma_foreign_keys": "1",
		"SELECT CAST(timeout AS TEXT) FROM pragma_busy_timeout":      "10000",
	} {
		if got := rawString(t, s, q); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at the path given: %v", err)
	}
}
