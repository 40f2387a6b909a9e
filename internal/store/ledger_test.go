package store

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The ledger's own suite: what an entry covers, what verification catches,
// reviews, and an upgrade from entries that covered no data. Every case
// runs on every backend.
func TestLedgerCoversData(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"EntryCountsWhatItInserted", testEntryCountsWhatItInserted},
		{"ConcurrentOverlappingBatches", testConcurrentOverlappingBatches},
		{"Tampering", testTampering},
		{"ConsistentRewriteNeedsAnAnchor", testConsistentRewrite},
		{"Review", testReview},
		{"ReviewAppliedTwice", testReviewAppliedTwice},
		{"ReviewRefusals", testReviewRefusals},
		{"FindAndPending", testFindAndPending},
		{"UpgradeFromLegacyEntries", testUpgradeFromLegacyEntries},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
			}
		})
	}
}

const billing = "media/billing"

// payment is a billing event of amount.
func payment(id, user string, amount float64) Event {
	e := ev(id, user)
	e.Namespace, e.Touchpoint, e.Amount, e.Currency = "media", "billing", ptr(amount), "usd"
	e.Attributes = map[string]any{"plan": "basic", "minutes": 12.5}
	return e
}

// held is a quarantined payment: held by check, with the event it mapped to.
func held(id string, amount float64, check string) QuarantineRecord {
	e := payment(id, "u-"+id, amount)
	return QuarantineRecord{RunID: "run-1", EventID: id, Check: check, Reason: check + " failed",
		Raw: []byte(fmt.Sprintf(`{"id":%q,"amount":%v}`, id, amount)), Event: &e}
}

// batch is a financial batch: its events and held records, all read.
func financialBatch(run string, events []Event, q []QuarantineRecord) Batch {
	return Batch{Source: billing, Events: events, Quarantine: q,
		Ledger: &LedgerEntry{RunID: run, Read: int64(len(events) + len(q)), AmountRead: sumOf(events, q)}}
}

func sumOf(events []Event, q []QuarantineRecord) string {
	var sum big.Rat
	add := func(e *Event) {
		if e != nil && e.Amount != nil {
			if err := addDecimal(&sum, strconv.FormatFloat(*e.Amount, 'f', -1, 64)); err != nil {
				panic(err)
			}
		}
	}
	for i := range events {
		add(&events[i])
	}
	for _, r := range q {
		add(r.Event)
	}
	return FormatDecimal(&sum)
}

func mustVerify(t *testing.T, s Store, o VerifyOptions) VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background(), o)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func testEntryCountsWhatItInserted(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	first := financialBatch("run-1", []Event{payment("in_1", "u1", 10), payment("in_2", "u2", 20.5)},
		[]QuarantineRecord{held("in_3", -4.25, "amount-non-negative")})
	commit(t, s, first)
	l := first.Ledger
	if l.Kind != EntryBatch || l.Accepted != 2 || l.Quarantined != 1 || l.Duplicates != 0 || l.AmountLoaded != "30.50" ||
		l.AmountQuarantined != "-4.25" || l.AmountDuplicates != "0.00" || !strings.HasPrefix(l.Digest, "sha256:") {
		t.Fatalf("first entry = %+v", l)
	}
	// The same records again, and one new: the entry counts what this
	// commit inserted, the rest are duplicates, in records and amounts.
	again := financialBatch("run-2", []Event{payment("in_1", "u1", 10), payment("in_2", "u2", 20.5), payment("in_4", "u4", 7)},
		[]QuarantineRecord{held("in_3", -4.25, "amount-non-negative")})
	res := commit(t, s, again)
	l = again.Ledger
	if res.Inserted != 1 || res.Held != 0 || l.Accepted != 1 || l.Quarantined != 0 || l.Duplicates != 3 ||
		l.AmountLoaded != "7.00" || l.AmountDuplicates != "26.25" || l.Read != 4 {
		t.Fatalf("second entry = %+v (result %+v)", l, res)
	}
	// Sums over entries equal what is stored.
	entries, err := s.LedgerEntries(ctx, LedgerFilter{Source: billing})
	if err != nil {
		t.Fatal(err)
	}
	var accepted, heldN int64
	for _, e := range entries {
		accepted += e.Accepted
		heldN += e.Quarantined
	}
	stored, _ := s.ExistingEvents(ctx, billing, []string{"in_1", "in_2", "in_3", "in_4"})
	records, _ := quarantined(ctx, s, billing, 0)
	if accepted != int64(len(stored)) || heldN != int64(len(records)) {
		t.Fatalf("entries sum to %d events and %d held records; the store holds %d and %d", accepted, heldN, len(stored), len(records))
	}
	rep := mustVerify(t, s, VerifyOptions{})
	if rep.Entries != 2 || rep.Rows != 4 || len(rep.Sources) != 1 || rep.Sources[0] != billing {
		t.Fatalf("report = %+v", rep)
	}
	// A run's closing entry commits no rows and counts none.
	closing := &LedgerEntry{Kind: EntryRun, RunID: "run-2", Detail: `{"outcome":"Quarantined"}`}
	commit(t, s, Batch{Source: billing, Ledger: closing, Run: &Run{ID: "run-2", StartedAt: t0}})
	if closing.Accepted != 0 || closing.Duplicates != 0 || closing.Kind != EntryRun {
		t.Fatalf("closing entry = %+v", closing)
	}
	mustVerify(t, s, VerifyOptions{Anchors: []string{closing.Hash}})
}

// Two ingests of overlapping input at once, and two deliveries of the same
// webhook event at once: each event is stored once and counted accepted by
// exactly one entry; each record is held once.
func testConcurrentOverlappingBatches(t *testing.T, b backend) {
	if !b.shared {
		return // an in-memory database is one connection's: nothing commits beside it
	}
	dsn := b.dsn(t)
	s, s1, s2 := b.open(t, dsn), b.open(t, dsn), b.open(t, dsn)
	ctx := context.Background()
	var events []Event
	var q []QuarantineRecord
	for i := range 600 {
		events = append(events, payment(fmt.Sprintf("in_%04d", i), fmt.Sprint("u", i%37), float64(i)))
	}
	for i := range 16 {
		q = append(q, held(fmt.Sprintf("bad_%02d", i), -1, "amount-non-negative"))
	}
	for round := range 3 {
		// Rounds: the whole input twice at once; a single webhook event
		// twice at once; overlapping halves at once.
		var a, c Batch
		switch round {
		case 0:
			a, c = financialBatch("a", events, q), financialBatch("b", events, q)
		case 1:
			one := []Event{payment("evt_hook", "u1", 42)}
			a, c = financialBatch("hook-1", one, nil), financialBatch("hook-2", one, nil)
		case 2:
			more := append([]Event{}, events[300:]...)
			for i := range 300 {
				more = append(more, payment(fmt.Sprintf("in_new_%04d", i), "u", 1))
			}
			a, c = financialBatch("c", events[:450], q[:8]), financialBatch("d", more, q)
		}
		var wg sync.WaitGroup
		var ra, rc CommitResult
		var ea, ec error
		wg.Go(func() { ra, ea = s1.Commit(ctx, a) })
		wg.Go(func() { rc, ec = s2.Commit(ctx, c) })
		wg.Wait()
		if ea != nil || ec != nil {
			t.Fatalf("round %d: %v, %v", round, ea, ec)
		}
		for _, x := range []Batch{a, c} {
			l := x.Ledger
			if l.Accepted+l.Duplicates+l.Quarantined+l.Rejected != l.Read {
				t.Fatalf("round %d: entry of %s does not balance: %+v", round, l.RunID, l)
			}
		}
		if int64(ra.Inserted) != a.Ledger.Accepted || int64(rc.Inserted) != c.Ledger.Accepted {
			t.Fatalf("round %d: inserted %d and %d, entries say %d and %d", round, ra.Inserted, rc.Inserted, a.Ledger.Accepted, c.Ledger.Accepted)
		}
	}
	entries, _ := s.LedgerEntries(ctx, LedgerFilter{Source: billing})
	var accepted, heldN int64
	for _, e := range entries {
		accepted += e.Accepted
		heldN += e.Quarantined
	}
	all := []string{"evt_hook"}
	for i := range 600 {
		all = append(all, fmt.Sprintf("in_%04d", i))
	}
	for i := range 300 {
		all = append(all, fmt.Sprintf("in_new_%04d", i))
	}
	got, _ := s.ExistingEvents(ctx, billing, all)
	n := len(got)
	records, _ := quarantined(ctx, s, billing, 0)
	if n != 901 || accepted != int64(n) || len(records) != 16 || heldN != 16 {
		t.Fatalf("stored %d events (entries say %d), %d held records (entries say %d); want 901 and 16", n, accepted, len(records), heldN)
	}
	mustVerify(t, s, VerifyOptions{})
}

// tamperFixture is a store with a financial source's batches, a review, and
// a non-financial source beside it.
func tamperFixture(t *testing.T, b backend) Store {
	t.Helper()
	s := b.new(t)
	ctx := context.Background()
	var events []Event
	for i := range 12 {
		events = append(events, payment(fmt.Sprintf("in_%02d", i), fmt.Sprint("u", i), 10+float64(i)))
	}
	commit(t, s, financialBatch("run-1", events[:6], []QuarantineRecord{held("neg_1", -5, "amount-non-negative"), held("neg_2", -6, "amount-non-negative")}))
	commit(t, s, financialBatch("run-2", events[6:], []QuarantineRecord{held("neg_3", -7, "amount-non-negative")}))
	commit(t, s, Batch{Source: "media/playback", Events: []Event{ev("p1", "u1"), ev("p2", "u2")}})
	if _, err := s.Review(ctx, ReviewRequest{ID: "media/rev-1/uid", Source: billing, Decision: DecisionRelease,
		Selection: ReviewSelection{EventIDs: []string{"neg_1"}}, Reviewer: "carol@example.com", Reason: "credit note booked as a negative invoice"}); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s, VerifyOptions{})
	return s
}

func testTampering(t *testing.T, b backend) {
	cases := []struct {
		name string
		sql  string
		want string // in the error
	}{
		{"amount multiplied by ten", "UPDATE events SET amount = amount * 10 WHERE event_id = 'in_03'", "entry 1: its rows do not match"},
		{"event deleted", "DELETE FROM events WHERE event_id = 'in_08'", "entry 2: its rows do not match"},
		{"five events deleted", "DELETE FROM events WHERE event_id IN ('in_00', 'in_01', 'in_02', 'in_06', 'in_07')", "entry 1: its rows do not match"},
		{"event forged without an entry", `INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount,
			currency, run_id, ingested_at) VALUES ('media/billing', 'in_forged', 'media', 'u1', 'billing', 'stripe', 'invoice.paid',
			'2025-03-20T00:00:00.000000Z', 99, 'usd', 'run-2', '2025-03-20T00:00:00.000000Z')`, "no ledger entry covers"},
		{"event forged into an entry", `INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount,
			currency, run_id, ingested_at, entry) VALUES ('media/billing', 'in_forged', 'media', 'u1', 'billing', 'stripe', 'invoice.paid',
			'2025-03-20T00:00:00.000000Z', 99, 'usd', 'run-2', '2025-03-20T00:00:00.000000Z', 2)`, "entry 2: its rows do not match"},
		{"event moved to another user", "UPDATE events SET user_id = 'u99' WHERE event_id = 'in_09'", "entry 2: its rows do not match"},
		{"attributes edited", `UPDATE events SET attributes = '{"plan":"premium","minutes":12.5}' WHERE event_id = 'in_10'`, "entry 2: its rows do not match"},
		{"ledger row edited", "UPDATE ledger SET amount_loaded = '9000.00' WHERE seq = 2", "entry 2: stored hash"},
		{"record released by hand", "UPDATE quarantine SET status = 'Released' WHERE event_id = 'neg_2'", "changed status without a review"},
		{"record discarded under a review's name", "UPDATE quarantine SET status = 'Discarded', reviewed_entry = 3 WHERE event_id = 'neg_3'", "entry 3: its rows do not match"},
		{"released record put back", "UPDATE quarantine SET status = 'Pending' WHERE event_id = 'neg_1'", "entry 3: its rows do not match"},
		{"held record deleted", "DELETE FROM quarantine WHERE event_id = 'neg_3'", "entry 2: its rows do not match"},
		{"held record's reason edited", "UPDATE quarantine SET reason = 'fine' WHERE event_id = 'neg_2'", "entry 1: its rows do not match"},
		{"released event's amount edited", "UPDATE events SET amount = 5 WHERE event_id = 'neg_1'", "entry 3: its rows do not match"},
		{"row names an entry that does not exist", "UPDATE events SET entry = 77 WHERE event_id = 'in_11'", "entry 2: its rows do not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := tamperFixture(t, b)
			sql := c.sql
			if _, ok := s.(*pgStore); ok {
				sql = strings.ReplaceAll(sql, "00:00:00.000000Z'", "00:00:00Z'")
			}
			rawExec(t, s, sql)
			_, err := s.Verify(context.Background(), VerifyOptions{})
			var broken *BrokenLinkError
			if !errors.As(err, &broken) {
				t.Fatalf("after %q: Verify = %v, want a broken ledger", c.name, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("after %q: %v\nwant it to say %q", c.name, err, c.want)
			}
		})
	}
	// The non-financial source's events are not the ledger's to vouch for.
	s := tamperFixture(t, b)
	rawExec(t, s, "UPDATE events SET user_id = 'someone' WHERE event_id = 'p1'")
	mustVerify(t, s, VerifyOptions{})
}

// rewriteChain recomputes every covering entry's digest and every hash
// from the rows as they are now, as someone with write access to the
// database and this code could: the chain then verifies on its own.
func rewriteChain(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	entries, err := s.LedgerEntries(ctx, LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for _, e := range entries {
		var a entryAccount
		var err error
		switch st := s.(type) {
		case *sqliteStore:
			err = sqliteReadRows(ctx, st.db, `WHERE entry = ?`, `WHERE entry = ?`, `WHERE reviewed_entry = ?`, []any{e.Seq},
				func(_ int64, r *digestEvent) error { return a.addEvent(r) }, func(_ int64, r *digestQuarantine) error { return a.addQuarantine(r) },
				func(_ int64, r *digestReviewed) error { a.addReviewed(r); return nil })
		case *pgStore:
			err = st.pool.with(ctx, func(c *pgx.Conn) error {
				return pgReadRows(ctx, c, `WHERE entry = $1`, `WHERE entry = $1`, `WHERE reviewed_entry = $1`, []any{e.Seq}, []any{e.Seq},
					func(_ int64, r *digestEvent) error { return a.addEvent(r) }, func(_ int64, r *digestQuarantine) error { return a.addQuarantine(r) },
					func(_ int64, r *digestReviewed) error { a.addReviewed(r); return nil })
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		sum := a.summary()
		e.Digest, e.PrevHash = sum.digest(), prev
		e.Accepted, e.Quarantined = sum.count[sectionEvents], sum.count[sectionQuarantine]
		e.AmountLoaded = FormatDecimal(&sum.loaded)
		e.Hash = LedgerHash(e)
		rawExec(t, s, fmt.Sprintf("UPDATE ledger SET digest = '%s', prev_hash = '%s', hash = '%s', accepted = %d, quarantined = %d, amount_loaded = '%s' WHERE seq = %d",
			e.Digest, e.PrevHash, e.Hash, e.Accepted, e.Quarantined, e.AmountLoaded, e.Seq))
		prev = e.Hash
	}
	rawExec(t, s, fmt.Sprintf("UPDATE ledger_head SET hash = '%s' WHERE id = 1", prev))
}

func testConsistentRewrite(t *testing.T, b backend) {
	s := tamperFixture(t, b)
	anchor := mustVerify(t, s, VerifyOptions{}).Head
	rawExec(t, s, "UPDATE events SET amount = amount * 10 WHERE event_id = 'in_03'")
	rewriteChain(t, s)
	// Rewritten end to end, the chain verifies on its own...
	mustVerify(t, s, VerifyOptions{})
	// ...but no longer holds the head recorded outside the store.
	_, err := s.Verify(context.Background(), VerifyOptions{Anchors: []string{anchor}})
	if err == nil || !strings.Contains(err.Error(), "anchor "+anchor+" is not in the chain") {
		t.Fatalf("Verify with the anchor = %v", err)
	}
}

func testReview(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	unmappable := QuarantineRecord{RunID: "run-1", Check: "mapping", Reason: "spec.mapping.userID is null", Raw: []byte(`{"id":"x"}`)}
	commit(t, s, financialBatch("run-1", []Event{payment("in_1", "u1", 10)}, []QuarantineRecord{
		held("neg_1", -5, "amount-non-negative"), held("neg_2", -6.5, "amount-non-negative,currency"),
		held("dup_1", 3, "one-payment-per-intent"), held("in_1", 10, "late"), unmappable,
	}))
	release := ReviewRequest{ID: "media/rel/1", Source: billing, Decision: DecisionRelease, Reviewer: "carol@example.com",
		Reason: "credit notes booked as negative invoices (FIN-231)", Identified: "admission", Object: "media/rel",
		Selection: ReviewSelection{Checks: []string{"amount-non-negative", "mapping", "late"}}}
	res, err := s.Review(ctx, release)
	if err != nil {
		t.Fatal(err)
	}
	// neg_1 and neg_2 load; in_1's event is stored already (a duplicate,
	// marked released, nothing loaded); the unmappable record stays.
	if res.Matched != 4 || res.Released != 2 || res.Duplicates != 1 || res.Unreleasable != 1 || res.AmountReleased != "-11.50" ||
		res.Currency != "usd" || res.Repeated || !strings.HasPrefix(res.LedgerHash, "sha256:") {
		t.Fatalf("release = %+v", res)
	}
	got, _ := s.ExistingEvents(ctx, billing, []string{"neg_1", "neg_2", "dup_1"})
	if !got["neg_1"] || !got["neg_2"] || got["dup_1"] {
		t.Fatalf("stored after release: %v", got)
	}
	records, _ := s.FindQuarantine(ctx, QuarantineFilter{Source: billing, Status: QuarantineReleased})
	if len(records) != 3 || records[0].Review == nil || records[0].Review.Reviewer != "carol@example.com" ||
		records[0].Review.Reason != release.Reason || records[0].Review.ID != "media/rel/1" {
		t.Fatalf("released records = %+v", records)
	}
	// A released event is an event like any other: evaluation reads it.
	var seen []string
	if err := s.ScanEvents(ctx, EventQuery{Sources: []string{billing}}, func(e *Event, _ []byte) error {
		seen = append(seen, e.EventID)
		return nil
	}); err != nil || len(seen) != 3 {
		t.Fatalf("events read after release: %v, %v", seen, err)
	}
	if seq, _ := s.LatestSeq(ctx, []string{billing}); seq == 0 {
		t.Fatal("the watermark did not move past the released events")
	}
	discard := ReviewRequest{ID: "media/dis/1", Source: billing, Decision: DecisionDiscard, Reviewer: "dave@example.com",
		Reason: "a duplicate charge refunded in Stripe", Selection: ReviewSelection{RunIDs: []string{"run-1"}, EventIDs: []string{"dup_1", ""}}}
	res, err = s.Review(ctx, discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 2 || res.Discarded != 2 || res.AmountDiscarded != "3.00" {
		t.Fatalf("discard = %+v", res)
	}
	if pending, _ := s.Pending(ctx, []string{billing}); pending[billing].Pending != 0 {
		t.Fatalf("pending after both reviews: %+v", pending)
	}
	entries, _ := s.LedgerEntries(ctx, LedgerFilter{Source: billing, Kinds: []EntryKind{EntryReview}})
	if len(entries) != 2 || entries[0].Actor != "carol@example.com" || entries[0].Accepted != 2 || entries[0].AmountLoaded != "-11.50" ||
		!strings.Contains(entries[0].Detail, "FIN-231") || entries[1].Actor != "dave@example.com" {
		t.Fatalf("review entries = %+v", entries)
	}
	rep := mustVerify(t, s, VerifyOptions{Anchors: []string{entries[1].Hash}})
	if rep.Anchors != 1 {
		t.Fatalf("report = %+v", rep)
	}
	// Discrepancies: each check's records by what became of them, and how
	// long each waited for its review, the newest review first.
	d, err := s.Discrepancies(ctx, []string{billing})
	if err != nil {
		t.Fatal(err)
	}
	wantChecks := []CheckDiscrepancies{
		{Source: billing, Check: "amount-non-negative", Found: 2, Released: 2},
		{Source: billing, Check: "currency", Found: 1, Released: 1},
		{Source: billing, Check: "late", Found: 1, Released: 1},
		{Source: billing, Check: "mapping", Found: 1, Discarded: 1},
		{Source: billing, Check: "one-payment-per-intent", Found: 1, Discarded: 1},
	}
	if !reflect.DeepEqual(d.ByCheck, wantChecks) {
		t.Errorf("discrepancies by check:\n%+v\nwant\n%+v", d.ByCheck, wantChecks)
	}
	if len(d.Resolutions) != 5 || d.Reviewed != 5 || d.Pending != 0 {
		t.Fatalf("resolutions = %+v", d.Resolutions)
	}
	for i, r := range d.Resolutions {
		if r.Source != billing || r.Reviewed.Before(r.Held) || (i > 0 && r.Reviewed.After(d.Resolutions[i-1].Reviewed)) {
			t.Errorf("resolution %d = %+v", i, r)
		}
	}
	if other, err := s.Discrepancies(ctx, []string{"media/other"}); err != nil || len(other.ByCheck) != 0 || len(other.Resolutions) != 0 {
		t.Errorf("another source's discrepancies: %+v, %v", other, err)
	}
	// A record a review decided on is not held again when redelivered.
	again := financialBatch("run-2", nil, []QuarantineRecord{held("neg_1", -5, "amount-non-negative")})
	if res := commit(t, s, again); res.Held != 0 || again.Ledger.Duplicates != 1 {
		t.Fatalf("redelivered reviewed record: %+v, entry %+v", res, again.Ledger)
	}
}

func testReviewAppliedTwice(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	commit(t, s, financialBatch("run-1", nil, []QuarantineRecord{held("neg_1", -5, "amount-non-negative")}))
	req := ReviewRequest{ID: "media/rel/uid-1", Source: billing, Decision: DecisionRelease, Reviewer: "carol@example.com",
		Reason: "credit note confirmed with AR", Selection: ReviewSelection{Checks: []string{"amount-non-negative"}}}
	first, err := s.Review(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A new pending record the selection would match arrives meanwhile.
	commit(t, s, financialBatch("run-2", nil, []QuarantineRecord{held("neg_2", -6, "amount-non-negative")}))
	second, err := s.Review(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Repeated || second.Released != first.Released || second.LedgerHash != first.LedgerHash || second.Seq != first.Seq {
		t.Fatalf("second application = %+v, first %+v", second, first)
	}
	if p, _ := s.Pending(ctx, []string{billing}); p[billing].Pending != 1 {
		t.Fatalf("the second application changed something: %+v", p)
	}
	if rep := mustVerify(t, s, VerifyOptions{}); rep.Entries != 3 {
		t.Fatalf("entries = %d, want 3 (two batches and one review)", rep.Entries)
	}
}

func testReviewRefusals(t *testing.T, b backend) {
	s := b.new(t)
	ok := ReviewRequest{ID: "r", Source: billing, Decision: DecisionDiscard, Reviewer: "carol", Reason: "checked with AR",
		Selection: ReviewSelection{Checks: []string{"c"}}}
	for _, c := range []struct {
		name string
		edit func(r *ReviewRequest)
		want string
	}{
		{"no ID", func(r *ReviewRequest) { r.ID = "" }, "no ID"},
		{"no source", func(r *ReviewRequest) { r.Source = "" }, "no source"},
		{"decision", func(r *ReviewRequest) { r.Decision = "Approve" }, `decision "Approve"`},
		{"reviewer", func(r *ReviewRequest) { r.Reviewer = "" }, "no reviewer"},
		{"short reason", func(r *ReviewRequest) { r.Reason = "ok" }, "shorter than 10"},
		{"empty selection", func(r *ReviewRequest) { r.Selection = ReviewSelection{} }, "selection is empty"},
	} {
		r := ok
		c.edit(&r)
		_, err := s.Review(context.Background(), r)
		if !errors.Is(err, ErrReviewRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if n, err := verifyLedger(context.Background(), s); n != 0 || err != nil {
		t.Fatalf("refused reviews left a ledger: %d, %v", n, err)
	}
}

func testFindAndPending(t *testing.T, b backend) {
	s := b.new(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := []QuarantineRecord{held("a", -1, "amount-non-negative"), held("b", -2, "amount-non-negative,currency"), held("c", 3, "currency")}
	for i := range q {
		q[i].At = at.Add(time.Duration(i) * time.Hour)
	}
	q[2].RunID = "run-2"
	commit(t, s, financialBatch("run-1", nil, q))
	find := func(f QuarantineFilter) []string {
		f.Source = billing
		got, err := s.FindQuarantine(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.EventID)
		}
		return ids
	}
	for _, c := range []struct {
		f    QuarantineFilter
		want string
	}{
		{QuarantineFilter{Check: "currency"}, "b c"},
		{QuarantineFilter{Check: "amount-non-negative"}, "a b"},
		{QuarantineFilter{Check: "amount"}, ""},
		{QuarantineFilter{RunIDs: []string{"run-2"}}, "c"},
		{QuarantineFilter{EventIDs: []string{"a", "c"}}, "a c"},
		{QuarantineFilter{From: at.Add(time.Hour)}, "b c"},
		{QuarantineFilter{To: at.Add(time.Hour)}, "a"},
		{QuarantineFilter{Status: QuarantineDiscarded}, ""},
		{QuarantineFilter{Limit: 2}, "a b"},
		{QuarantineFilter{UserID: "u-b"}, "b"},
		{QuarantineFilter{UserID: "u-%"}, ""},
		{QuarantineFilter{UserID: "u"}, ""},
	} {
		if got := strings.Join(find(c.f), " "); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
	got, _ := s.FindQuarantine(ctx, QuarantineFilter{Source: billing, EventIDs: []string{"b"}})
	if len(got) != 1 || got[0].Event == nil || *got[0].Event.Amount != -2 || got[0].Event.UserID != "u-b" || got[0].Event.Attributes["plan"] != "basic" {
		t.Fatalf("held event read back: %+v", got)
	}
	p, err := s.Pending(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := p[billing]
	if sum.Pending != 3 || !sum.Oldest.Equal(at) || len(sum.ByCheck) != 2 || sum.ByCheck[0].Check != "amount-non-negative" ||
		sum.ByCheck[0].Pending != 2 || sum.ByCheck[1].Pending != 2 || !sum.ByCheck[1].Oldest.Equal(at.Add(time.Hour)) {
		t.Fatalf("pending = %+v", p)
	}
}

// testUpgradeFromLegacyEntries opens a database as journey left it before
// migration 0006, with a run's legacy entries and rows, upgrades it, and
// checks that it verifies, and that the source's next entry adopts its old
// rows, after which every row is covered.
func testUpgradeFromLegacyEntries(t *testing.T, b backend) {
	if !b.shared {
		return // an in-memory database does not outlive its store
	}
	ctx := context.Background()
	dsn := b.dsn(t)
	old, err := openUpTo(ctx, dsn, "0005_lean_event_indexes.sql")
	if err != nil {
		t.Fatal(err)
	}
	ts := "'2026-11-01T00:00:00.000000Z'"
	if _, ok := old.(*pgStore); ok {
		ts = "'2026-11-01T00:00:00Z'"
	}
	rawExec(t, old, `INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency,
		run_id, ingested_at) VALUES ('media/billing', 'old_1', 'media', 'u1', 'billing', 'stripe', 'invoice.paid', `+ts+`, 12.5, 'usd', 'run-0', `+ts+`)`)
	rawExec(t, old, `INSERT INTO quarantine (source, run_id, event_id, check_name, reason, raw, at, status, record_hash)
		VALUES ('media/billing', 'run-0', 'old_neg', 'amount', 'negative', NULL, `+ts+`, 'Pending', 'h1'),
		       ('media/billing', 'run-0', 'old_neg', 'amount', 'negative', NULL, `+ts+`, 'Pending', 'h1')`)
	// Two legacy entries, as the old ingest wrote them (a batch's and the
	// run's, with the same totals), hashed the old way.
	prev := ""
	for seq := int64(1); seq <= 2; seq++ {
		e := LedgerEntry{Seq: seq, Source: billing, RunID: "run-0", At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Read: 3, Accepted: 1,
			Quarantined: 2, AmountRead: "12.50", AmountLoaded: "12.50", PrevHash: prev}
		e.Hash = LedgerHash(e)
		rawExec(t, old, fmt.Sprintf(`INSERT INTO ledger (seq, source, run_id, at, config_hash, read, accepted, duplicates, quarantined, rejected,
			amount_read, amount_loaded, cursor, prev_hash, hash) VALUES (%d, 'media/billing', 'run-0', %s, '', 3, 1, 0, 2, 0, '12.50', '12.50', '', '%s', '%s')`,
			seq, ts, prev, e.Hash))
		prev = e.Hash
	}
	rawExec(t, old, fmt.Sprintf("UPDATE ledger_head SET seq = 2, hash = '%s' WHERE id = 1", prev))
	old.Close()

	s := b.open(t, dsn)
	rep := mustVerify(t, s, VerifyOptions{Anchors: []string{prev}})
	if rep.Entries != 2 || rep.Legacy != 2 || rep.Unadopted[billing] != 3 || len(rep.Sources) != 0 {
		t.Fatalf("after the upgrade: %+v", rep)
	}
	// The source's next batch: its old rows are adopted by an entry of
	// their own, then the batch's entry covers the batch.
	next := financialBatch("run-1", []Event{payment("new_1", "u2", 1)}, nil)
	commit(t, s, next)
	if next.Ledger.Seq != 4 {
		t.Fatalf("the batch's entry is %d, want 4 (3 adopts the old rows)", next.Ledger.Seq)
	}
	adopt, _ := s.LedgerEntries(ctx, LedgerFilter{Kinds: []EntryKind{EntryAdopt}})
	if len(adopt) != 1 || adopt[0].Accepted != 1 || adopt[0].Quarantined != 2 || adopt[0].Seq != 3 {
		t.Fatalf("adopt entries = %+v", adopt)
	}
	rep = mustVerify(t, s, VerifyOptions{Anchors: []string{prev}})
	if rep.Entries != 4 || rep.Legacy != 2 || len(rep.Unadopted) != 0 || rep.Rows != 4 {
		t.Fatalf("after adopting: %+v", rep)
	}
	// The old rows are covered now: an edit is caught.
	rawExec(t, s, "UPDATE events SET amount = 125 WHERE event_id = 'old_1'")
	if _, err := s.Verify(ctx, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "entry 3") {
		t.Fatalf("an adopted row edited: %v", err)
	}
}
