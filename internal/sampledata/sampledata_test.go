package sampledata

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/default.sha256 from the generator's output")

// files returns the folder's files (relative paths) and their bytes.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var dataFiles = []string{FileCRM, FileCatalog, FilePlayback, FileBilling, FileSupport, FileFeedback}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	a, _ := generate(t, cfg)
	b, _ := generate(t, cfg)
	fa, fb := files(t, a), files(t, b)
	if !slices.Equal(slices.Sorted(maps.Keys(fa)), slices.Sorted(maps.Keys(fb))) {
		t.Fatalf("two runs wrote different files: %v vs %v", slices.Sorted(maps.Keys(fa)), slices.Sorted(maps.Keys(fb)))
	}
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs between two runs with the same flags", name)
		}
	}

	cfg.Seed = 2
	c, _ := generate(t, cfg)
	fc := files(t, c)
	for _, name := range append(dataFiles, ManifestFile, "README.md") {
		if bytes.Equal(fa[name], fc[name]) {
			t.Errorf("%s is the same for seeds 1 and 2", name)
		}
	}
	for name := range Specs {
		if !bytes.Equal(fa[name], fc[name]) {
			t.Errorf("spec %s depends on the seed", name)
		}
	}
}

// TestGolden pins the bytes of the default output, so a change to the
// generator that changes the data is a deliberate one (go test -update).
func TestGolden(t *testing.T) {
	dir, _ := generate(t, DefaultConfig())
	fa := files(t, dir)
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(fa)) {
		sum := sha256.Sum256(fa[name])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	golden := filepath.Join("testdata", "default.sha256")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("the default output changed; if that is intended, run go test ./internal/sampledata -run TestGolden -update\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestManifestMatchesFiles(t *testing.T) {
	dir, returned := generate(t, DefaultConfig())
	m := readManifest(t, dir)
	if m.Config.AsOf != "2026-10-31T00:00:00Z" || m.Config.Start != "2026-09-01T00:00:00Z" || m.Config.Users != 2000 || m.Config.Days != 60 || m.Config.Seed != 1 {
		t.Errorf("config %+v", m.Config)
	}
	if returned.Totals != m.Totals {
		t.Errorf("Generate returned totals %+v, expected.json says %+v", returned.Totals, m.Totals)
	}
	tl := scan(t, dir)
	asOf, _ := time.Parse(time.RFC3339, m.Config.AsOf)
	fa := files(t, dir)

	if len(m.Sources) != 6 {
		t.Fatalf("expected.json lists %d sources, want 6", len(m.Sources))
	}
	var totalRecords, totalBytes int64
	for name, s := range m.Sources {
		if got := tl.records[name]; got != s.Records {
			t.Errorf("%s: %d records in %s, expected.json says %d", name, got, s.File, s.Records)
		}
		if got := int64(len(fa[s.File])); got != s.Bytes {
			t.Errorf("%s: %d bytes, expected.json says %d", name, got, s.Bytes)
		}
		if got := tl.undecodable[name]; got != s.Anomalies[AnomalyUndecodable] {
			t.Errorf("%s: %d undecodable records, expected.json says %d", name, got, s.Anomalies[AnomalyUndecodable])
		}
		if got := tl.newest[name].Format(time.RFC3339); got != s.Newest {
			t.Errorf("%s: newest record %s, expected.json says %s", name, got, s.Newest)
		}
		if !tl.newest[name].Before(asOf) {
			t.Errorf("%s: a record at %s, not before asOf %s", name, tl.newest[name], asOf)
		}
		if s.Freshness != nil {
			late := asOf.Sub(tl.newest[name]) > FreshnessMaxAge*time.Second
			if late != s.Freshness.Late || (s.Anomalies[AnomalyLateFeed] == 1) != late {
				t.Errorf("%s: late %v, expected.json says %+v and lateFeed %d", name, late, s.Freshness, s.Anomalies[AnomalyLateFeed])
			}
			if late != (name == SourceSupport) {
				t.Errorf("%s: late %v; only %s should be late", name, late, SourceSupport)
			}
		}
		totalRecords += s.Records
		totalBytes += s.Bytes

		// The expected run summary adds up.
		e := s.Expected
		if e.Read != s.Records || e.Accepted != e.Read-e.Duplicates-e.Quarantined-e.Rejected {
			t.Errorf("%s: expected %+v does not add up to %d records", name, e, s.Records)
		}
		if e.Checks[CheckDecode] != tl.undecodable[name] {
			t.Errorf("%s: expected decode failures %d, files have %d", name, e.Checks[CheckDecode], tl.undecodable[name])
		}
	}
	if totalRecords != m.Totals.Records || totalBytes != m.Totals.Bytes {
		t.Errorf("totals %+v, files hold %d records, %d bytes", m.Totals, totalRecords, totalBytes)
	}

	billing := m.Sources[SourceBilling]
	for _, kind := range []string{AnomalyExactDuplicate, AnomalyDuplicatePayment, AnomalyNegativeAmount,
		AnomalyUnknownCustomer, AnomalyMissingCurrency, AnomalyTestMode} {
		got, want := tl.anomalies[kind], billing.Anomalies[kind]
		if got != want {
			t.Errorf("billing %s: %d in the file, expected.json says %d", kind, got, want)
		}
		if got == 0 {
			t.Errorf("billing %s: none planted", kind)
		}
	}
	if !maps.Equal(tl.types, billing.Types) {
		t.Errorf("billing types in the file %v, expected.json says %v", tl.types, billing.Types)
	}
	for _, typ := range []string{"customer.subscription.trial_started", "invoice.paid", "invoice.payment_failed", "charge.refunded", "customer.subscription.deleted"} {
		if tl.types[typ] == 0 {
			t.Errorf("no billing event of type %s", typ)
		}
	}
	e := billing.Expected
	if e.Duplicates != tl.anomalies[AnomalyExactDuplicate] || e.Rejected != tl.anomalies[AnomalyTestMode] ||
		e.Quarantined != tl.undecodable[SourceBilling]+tl.anomalies[AnomalyDuplicatePayment]+tl.anomalies[AnomalyNegativeAmount]+
			tl.anomalies[AnomalyUnknownCustomer]+tl.anomalies[AnomalyMissingCurrency] {
		t.Errorf("billing expected %+v does not match the anomalies in the file %v", e, tl.anomalies)
	}
	wantChecks := map[string]int64{
		CheckDecode:              tl.undecodable[SourceBilling],
		CheckOnePaymentPerIntent: tl.anomalies[AnomalyDuplicatePayment],
		CheckAmountNonNegative:   tl.anomalies[AnomalyNegativeAmount],
		CheckCustomerKnown:       tl.anomalies[AnomalyUnknownCustomer],
		CheckUserKnown:           tl.anomalies[AnomalyUnknownCustomer],
		CheckInvoiceAmount:       tl.anomalies[AnomalyMissingCurrency],
		CheckTestMode:            tl.anomalies[AnomalyTestMode],
	}
	if !maps.Equal(e.Checks, wantChecks) {
		t.Errorf("billing expected checks %v, want %v", e.Checks, wantChecks)
	}
	if e.Outcome != "Quarantined" {
		t.Errorf("billing expected outcome %s", e.Outcome)
	}
	if s := m.Sources[SourceSupport].Expected; s.Outcome != "Stale" || s.Quarantined != 0 || !slices.Equal(s.RunLevel, []string{CheckFeedFresh}) {
		t.Errorf("support expected %+v: the late feed must fail %s, the run reading Stale", s, CheckFeedFresh)
	}
	for _, name := range []string{SourceCatalog, SourceFeedback} {
		if s := m.Sources[name].Expected; s.Outcome != "Succeeded" {
			t.Errorf("%s expected %+v, want a clean run", name, s)
		}
	}
	if got := tl.undecodable[SourceCRM] + tl.undecodable[SourcePlayback] + tl.undecodable[SourceBilling]; got == 0 {
		t.Errorf("no undecodable records planted")
	}
	// Every customer outside billing's planted unknowns is in CRM.
	for _, source := range []string{SourceCatalog, SourcePlayback, SourceSupport, SourceFeedback} {
		for _, rec := range tl.decoded[source] {
			var user string
			switch source {
			case SourceSupport:
				user, _ = rec["external_id"].(string)
			case SourceFeedback:
				user, _ = rec["form_response"].(map[string]any)["hidden"].(map[string]any)["user"].(string)
			default:
				user, _ = rec["user_id"].(string)
			}
			if !tl.known[user] {
				t.Fatalf("%s: customer %q is not in CRM", source, user)
			}
		}
	}
}

// TestJourney: among users whose payment failed, some stream less than half
// as much in the week after the failure as in the week before (the alert's
// true positives) and some keep streaming (its negatives), as expected.json
// says; and the alert holds at asOf for the users it says.
func TestJourney(t *testing.T) {
	dir, _ := generate(t, DefaultConfig())
	m := readManifest(t, dir)
	tl := scan(t, dir)
	asOf, _ := time.Parse(time.RFC3339, m.Config.AsOf)
	const week = 7 * 24 * time.Hour

	var got PaymentFailures
	for user, tf := range tl.firstFailure {
		got.Users++
		ss := tl.sessions[user]
		if tf.Add(week).After(asOf) {
			got.WindowIncomplete++
			continue
		}
		pre, post := minutes(ss, tf.Add(-week), tf), minutes(ss, tf, tf.Add(week))
		switch {
		case pre == 0:
			got.NoBaseline++
		case post < 0.5*pre:
			got.Drop++
		default:
			got.Kept++
		}
	}
	want := m.Journey.PaymentFailures
	if got.Users != want.Users || got.Drop != want.Drop || got.Kept != want.Kept || got.NoBaseline != want.NoBaseline || got.WindowIncomplete != want.WindowIncomplete {
		t.Errorf("measured from the files %+v, expected.json says %+v", got, want)
	}
	if got.Drop == 0 || got.Kept == 0 {
		t.Errorf("want users who stream less than half after a payment failure and users who keep streaming: %+v", got)
	}
	if got.Drop < want.PlantedDrop/3 {
		t.Errorf("only %d of %d planted droppers measured as a drop", got.Drop, want.PlantedDrop)
	}

	alerts := int64(0)
	for user, times := range tl.failures {
		recent := false
		for _, at := range times {
			if at.After(asOf.Add(-week)) && !at.After(asOf) {
				recent = true
			}
		}
		ss := tl.sessions[user]
		sec := time.Second
		last := minutes(ss, asOf.Add(-week+sec), asOf.Add(sec))
		prev := minutes(ss, asOf.Add(-2*week+sec), asOf.Add(-week+sec))
		if recent && last < 0.5*prev {
			alerts++
		}
	}
	if alerts != m.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"] || alerts == 0 {
		t.Errorf("the streaming-drop alert holds at asOf for %d users, expected.json says %v", alerts, m.Journey.AlertsAtAsOf)
	}

	j := m.Journey
	if j.Trials == 0 || j.TrialConversions == 0 || j.Churned == 0 || j.ExitSurveyResponses == 0 || j.SupportTickets == 0 || j.VoluntaryChurn == 0 || j.InvoluntaryChurn == 0 {
		t.Errorf("a journey step is missing: %+v", j)
	}
	if rate := float64(j.TrialConversions) / float64(j.TrialConversions+j.TrialCancellations); rate < 0.2 || rate > 0.5 {
		t.Errorf("trial conversion %.2f, want a plausible 0.2-0.5", rate)
	}
	if got := int64(len(tl.decoded[SourceFeedback])); got != j.ExitSurveyResponses+j.PostTrialSurveyResponses {
		t.Errorf("%d survey responses in the file, expected.json says %d + %d", got, j.ExitSurveyResponses, j.PostTrialSurveyResponses)
	}
	if got := tl.types["customer.subscription.trial_started"] - dupsOf(t, dir, "customer.subscription.trial_started"); got != j.Trials {
		t.Errorf("%d trials in billing, expected.json says %d", got, j.Trials)
	}
}

// dupsOf counts the redelivered copies of billing events of a type.
func dupsOf(t *testing.T, dir, typ string) int64 {
	seen := map[string]bool{}
	n := int64(0)
	eachLine(t, filepath.Join(dir, FileBilling), func(line []byte) {
		rec, ok := decodeRecord(line)
		if !ok || rec["type"] != typ {
			return
		}
		id := rec["id"].(string)
		if seen[id] {
			n++
		}
		seen[id] = true
	})
	return n
}

// TestOtherSizes: small and odd configurations still add up.
func TestOtherSizes(t *testing.T) {
	for _, cfg := range []Config{
		{Users: 1, Days: MinDays, Seed: 7, Start: DefaultStart},
		{Users: 50, Days: 30, Seed: -3, Start: time.Date(2025, 2, 27, 13, 30, 0, 0, time.FixedZone("x", 3600))},
		{Users: 5000, Days: 20, Seed: 42, Start: DefaultStart},
	} {
		t.Run(fmt.Sprintf("%d-users-%d-days", cfg.Users, cfg.Days), func(t *testing.T) {
			dir, _ := generate(t, cfg)
			m := readManifest(t, dir)
			tl := scan(t, dir)
			for name, s := range m.Sources {
				if tl.records[name] != s.Records || tl.undecodable[name] != s.Anomalies[AnomalyUndecodable] {
					t.Errorf("%s: %d records (%d undecodable), expected.json says %d (%d)", name, tl.records[name], tl.undecodable[name], s.Records, s.Anomalies[AnomalyUndecodable])
				}
			}
			for kind, n := range tl.anomalies {
				if m.Sources[SourceBilling].Anomalies[kind] != n {
					t.Errorf("billing %s: %d in the file, expected.json says %d", kind, n, m.Sources[SourceBilling].Anomalies[kind])
				}
			}
			if want := cfg.Start.UTC().Add(time.Duration(cfg.Days) * 24 * time.Hour).Format(time.RFC3339); m.Config.AsOf != want {
				t.Errorf("asOf %s, want %s", m.Config.AsOf, want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{
		{Users: 0, Days: 60, Start: DefaultStart},
		{Users: 10, Days: MinDays - 1, Start: DefaultStart},
		{Users: 10, Days: MaxDays + 1, Start: DefaultStart},
		{Users: 10, Days: 60},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
		if _, err := Generate(context.Background(), t.TempDir(), cfg); err == nil {
			t.Errorf("Generate(%+v): no error", cfg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, t.TempDir(), DefaultConfig()); err == nil {
		t.Error("Generate with a cancelled context: no error")
	}
}

func TestIDsAreUnique(t *testing.T) {
	g := newIDs(1)
	seen := map[string]bool{}
	for user := uint64(0); user < 3000; user++ {
		for _, s := range []string{g.customer(user), g.account(user),
			string(g.appendID(nil, "evt_1", user, idEvent, evK(evPaid, 3))),
			string(g.appendID(nil, "evt_1", user, idEvent, evK(evPaid, 4))),
			string(g.appendUUID(nil, user, idSession, 17))} {
			if seen[s] {
				t.Fatalf("%s made twice", s)
			}
			seen[s] = true
		}
	}
	if c := g.customer(12345); len(c) != 18 || !strings.HasPrefix(c, "cus_") {
		t.Errorf("customer ID %q", c)
	}
	if a := g.account(12345); len(a) != 18 || !strings.HasPrefix(a, "001") {
		t.Errorf("account ID %q", a)
	}
	if e := string(g.appendID(nil, "evt_1", 1, idEvent, 1)); len(e) != len("evt_1NG8Du2eZvKYlo2CUI79vXWy") {
		t.Errorf("event ID %q", e)
	}
}
