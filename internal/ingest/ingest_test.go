package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// stores runs a test against every store: SQLite in a file and PostgreSQL.
func stores(t *testing.T, test func(t *testing.T, st store.Store)) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "journey.db") },
		"postgres": func(t *testing.T) string { return pg.DSN(t) },
	} {
		t.Run(name, func(t *testing.T) {
			st, err := store.Open(context.Background(), dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			test(t, st)
		})
	}
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func writeLines(t *testing.T, dir, name string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSource(name, touchpoint, file string, financial bool, m v1alpha1.EventMapping) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: name, Generation: 1, Labels: map[string]string{"domain": touchpoint}},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: touchpoint, System: "test", Financial: financial,
			Batch:   &v1alpha1.BatchSource{Schedule: "@hourly", File: &v1alpha1.FileConnector{Path: file, Format: v1alpha1.FileFormatJSONLines}},
			Mapping: m,
		},
	}
}

var billingMapping = v1alpha1.EventMapping{
	EventID: "record.id", UserID: "record.customer", OccurredAt: "timestamp(int(record.created))", Type: "record.type",
	Amount: "double(record.amount) / 100.0", Currency: "record.currency",
	Attributes: map[string]v1alpha1.Expression{"paymentIntent": "record.payment_intent"},
}

func billingRule() v1alpha1.ValidationRule {
	return v1alpha1.ValidationRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing-controls", Generation: 1},
		Spec: v1alpha1.ValidationRuleSpec{
			SourceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"domain": "billing"}},
			Checks: []v1alpha1.Check{
				{Name: "amount-non-negative", Expression: "event.amount == null || event.amount >= 0.0", Action: v1alpha1.ActionQuarantine},
				{Name: "one-payment-per-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.payment_intent", Window: &metav1.Duration{Duration: 720 * time.Hour}}, Action: v1alpha1.ActionQuarantine},
				{Name: "customer-known", Relationship: &v1alpha1.RelationshipCheck{Key: "event.userID", Touchpoint: "crm"}, Action: v1alpha1.ActionQuarantine},
				{Name: "currency", AcceptedValues: &v1alpha1.AcceptedValuesCheck{Key: "event.currency", Values: []string{"usd", "eur"}}, Action: v1alpha1.ActionWarn},
				{Name: "test-mode", Expression: "!has(record.livemode) || record.livemode", Action: v1alpha1.ActionReject},
				{Name: "user-present", NotNull: []v1alpha1.Expression{"event.userID"}, Action: v1alpha1.ActionReject},
			},
		},
	}
}

// billingLines plants one anomaly per control. created = 1 hour before now.
func billingLines() []string {
	c := now.Add(-time.Hour).Unix()
	line := func(id, cust string, amount int, cur, pi, extra string) string {
		cs := ""
		if cust != "" {
			cs = fmt.Sprintf(`"customer":%q,`, cust)
		}
		return fmt.Sprintf(`{"id":%q,%s"created":%d,"type":"invoice.paid","amount":%d,"currency":%q,"payment_intent":%q%s}`, id, cs, c, amount, cur, pi, extra)
	}
	return []string{
		line("evt_1", "cus_A", 1000, "usd", "pi_1", ""),                                                          // accepted
		line("evt_2", "cus_B", 2000, "usd", "pi_2", ""),                                                          // accepted
		line("evt_2", "cus_B", 2000, "usd", "pi_2", ""),                                                          // redelivery: duplicate
		line("evt_3", "cus_C", -500, "usd", "pi_3", ""),                                                          // negative: quarantined
		line("evt_4", "cus_Z", 700, "usd", "pi_4", ""),                                                           // unknown customer: quarantined
		line("evt_5", "cus_A", 1000, "usd", "pi_1", ""),                                                          // second payment of pi_1: quarantined
		line("evt_6", "cus_B", 300, "jpy", "pi_6", ""),                                                           // odd currency: warning, accepted
		line("evt_7", "", 100, "usd", "pi_7", ""),                                                                // no customer: mapping fails, quarantined
		line("evt_8", "cus_A", 100, "usd", "pi_8", `,"livemode":false`),                                          // test mode: rejected
		line("evt_9", "cus_C", -100, "usd", "pi_9", `,"livemode":false`),                                         // negative and test mode: Reject wins
		`{"id": "evt_broken", "customer": `,                                                                      // not JSON: quarantined
		fmt.Sprintf(`{"id":"evt_10","customer":"cus_B","created":%d,"type":"customer.subscription.deleted"}`, c), // no amount: fine
	}
}

func crmLines() []string {
	c := now.Add(-48 * time.Hour).Unix()
	var out []string
	for _, u := range []string{"cus_A", "cus_B", "cus_C"} {
		out = append(out, fmt.Sprintf(`{"id":"acct_%s","user":%q,"created":%d}`, u, u, c))
	}
	return out
}

var crmMapping = v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(int(record.created))", Type: `"crm.account"`}

func runSource(t *testing.T, st store.Store, src *v1alpha1.TouchpointSource, dir string, rules []v1alpha1.ValidationRule, o ingest.Options) (ingest.Summary, error) {
	t.Helper()
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg := render.SourceConfig(src, runconfig.MatchingRules(src, rules))
	_, hash, err := runconfig.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Expr, o.BaseDir, o.Now = st, env, dir, func() time.Time { return now }
	return ingest.Run(context.Background(), cfg, hash, o)
}

func expectCounts(t *testing.T, what string, s ingest.Summary, read, accepted, dup, quar, rej, warn int64) {
	t.Helper()
	got := [6]int64{s.Read, s.Accepted, s.Duplicates, s.Quarantined, s.Rejected, s.Warnings}
	want := [6]int64{read, accepted, dup, quar, rej, warn}
	if got != want {
		t.Errorf("%s: read/accepted/duplicates/quarantined/rejected/warnings = %v, want %v (%s)", what, got, want, s.Message)
	}
}

func TestEveryCheckAndAction(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		writeLines(t, dir, "crm.jsonl", crmLines()...)
		writeLines(t, dir, "billing.jsonl", billingLines()...)
		rules := []v1alpha1.ValidationRule{billingRule()}

		crm, err := runSource(t, st, fileSource("crm", "crm", "crm.jsonl", false, crmMapping), dir, rules, ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		expectCounts(t, "crm", crm, 3, 3, 0, 0, 0, 0)

		billing := fileSource("billing", "billing", "billing.jsonl", true, billingMapping)
		s, err := runSource(t, st, billing, dir, rules, ingest.Options{RunID: "run-1"})
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		expectCounts(t, "billing", s, 12, 4, 1, 5, 2, 1)
		if s.Outcome != v1alpha1.RunQuarantined {
			t.Errorf("outcome %s, want Quarantined", s.Outcome)
		}
		for check, want := range map[string]int64{
			"amount-non-negative": 2, "customer-known": 1, "one-payment-per-intent": 1, "currency": 1,
			"test-mode": 2, pipeline.CheckMapping: 1, pipeline.CheckDecode: 1,
		} {
			if got := s.Checks[check].Failed; got != want {
				t.Errorf("check %s failed %d times, want %d", check, got, want)
			}
		}
		// Totals as read (every mapped record, duplicates included) and as loaded.
		if s.AmountTotal != "65.00" || s.AmountLoaded != "33.00" {
			t.Errorf("amounts read %s loaded %s, want 65.00 and 33.00", s.AmountTotal, s.AmountLoaded)
		}
		if !strings.HasPrefix(s.LedgerHash, "sha256:") {
			t.Errorf("financial run without a ledger hash: %q", s.LedgerHash)
		}

		q, err := st.FindQuarantine(context.Background(), store.QuarantineFilter{Source: "media/billing", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]string{}
		for _, r := range q {
			reasons[r.Check] = r.Reason
			if len(r.Raw) == 0 {
				t.Errorf("quarantined %s without its raw record", r.Check)
			}
		}
		for check, want := range map[string]string{
			"amount-non-negative":    "evaluated to false",
			"customer-known":         `"cus_Z" has no crm event`,
			"one-payment-per-intent": `key "pi_1" seen before`,
			pipeline.CheckMapping:    "spec.mapping.userID",
			pipeline.CheckDecode:     "",
		} {
			if got, ok := reasons[check]; !ok || !strings.Contains(got, want) {
				t.Errorf("quarantine reason for %s = %q, want it to contain %q", check, got, want)
			}
		}
		known, _ := st.ExistingEvents(context.Background(), "media/billing", []string{"evt_1", "evt_2", "evt_6", "evt_10", "evt_3", "evt_8"})
		for _, id := range []string{"evt_1", "evt_2", "evt_6", "evt_10"} {
			if !known[id] {
				t.Errorf("%s was not stored", id)
			}
		}
		if rep, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil || rep.Entries < 2 {
			t.Errorf("ledger: %d entries, %v", rep.Entries, err)
		}

		// A rerun over the same input accepts nothing and holds nothing twice.
		again, err := runSource(t, st, billing, dir, rules, ingest.Options{RunID: "run-2"})
		if err != nil {
			t.Fatal(err)
		}
		if again.Accepted != 0 || again.Quarantined != 0 {
			t.Errorf("rerun accepted %d and quarantined %d, want 0 and 0", again.Accepted, again.Quarantined)
		}
		q2, _ := st.FindQuarantine(context.Background(), store.QuarantineFilter{Source: "media/billing", Limit: 100})
		if len(q2) != len(q) {
			t.Errorf("rerun grew the quarantine from %d to %d records", len(q), len(q2))
		}
		runs, _ := st.Runs(context.Background(), "media/billing", 5)
		if len(runs) != 2 || runs[0].ID != "run-2" || runs[1].LedgerHash != s.LedgerHash {
			t.Errorf("runs recorded: %+v", runs)
		}
	})
}

var errCrash = errors.New("killed between batches")

// A run stopped between batches and started again neither loses nor
// duplicates a record.
func TestKilledBetweenBatchesAndRerun(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		var lines []string
		c := now.Add(-time.Hour).Unix()
		for i := 0; i < 250; i++ {
			lines = append(lines, fmt.Sprintf(`{"id":"evt_%03d","user":"u%d","created":%d}`, i, i%17, c+int64(i)))
		}
		writeLines(t, dir, "events.jsonl", lines...)
		src := fileSource("playback", "playback", "events.jsonl", true, crmMapping)

		_, err := runSource(t, st, src, dir, nil, ingest.Options{BatchSize: 40, AfterCommit: func(batch int) error {
			if batch == 3 {
				return errCrash
			}
			return nil
		}})
		if !errors.Is(err, errCrash) {
			t.Fatalf("first run: %v, want the crash", err)
		}
		s, err := runSource(t, st, src, dir, nil, ingest.Options{BatchSize: 40})
		if err != nil {
			t.Fatal(err)
		}
		if s.Accepted+120 != 250 || s.Duplicates != 0 && s.Accepted+s.Duplicates != s.Read {
			t.Errorf("second run accepted %d (want 130 after 120 before the crash), duplicates %d, read %d", s.Accepted, s.Duplicates, s.Read)
		}
		ids := make([]string, 250)
		for i := range ids {
			ids[i] = fmt.Sprintf("evt_%03d", i)
		}
		known, err := st.ExistingEvents(context.Background(), "media/playback", ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(known) != 250 {
			t.Errorf("%d of 250 events stored after the rerun", len(known))
		}
		third, _ := runSource(t, st, src, dir, nil, ingest.Options{BatchSize: 40})
		if third.Accepted != 0 {
			t.Errorf("a third run accepted %d", third.Accepted)
		}
		if _, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil {
			t.Error(err)
		}
	})
}

func TestRunLevelChecks(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		old := now.Add(-72 * time.Hour).Unix()
		writeLines(t, dir, "tickets.jsonl",
			fmt.Sprintf(`{"id":"t1","user":"cus_A","created":%d}`, old),
			fmt.Sprintf(`{"id":"t2","user":"cus_B","created":%d}`, old))
		src := fileSource("support", "support", "tickets.jsonl", false, crmMapping)
		rule := func(action v1alpha1.CheckAction, c v1alpha1.Check) []v1alpha1.ValidationRule {
			c.Action = action
			return []v1alpha1.ValidationRule{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "feed"},
				Spec:       v1alpha1.ValidationRuleSpec{SourceSelector: metav1.LabelSelector{}, Checks: []v1alpha1.Check{c}},
			}}
		}
		fresh := v1alpha1.Check{Name: "fresh", Freshness: &v1alpha1.FreshnessCheck{MaxAge: metav1.Duration{Duration: 26 * time.Hour}}}
		volume := v1alpha1.Check{Name: "volume", Volume: &v1alpha1.VolumeCheck{MinRecords: ptr.To[int64](10)}}

		// Reject judges the run before anything is committed.
		s, err := runSource(t, st, src, dir, rule(v1alpha1.ActionReject, volume), ingest.Options{})
		if err == nil || s.Outcome != v1alpha1.RunFailed || !strings.Contains(s.Message, "fewer than minRecords 10") {
			t.Fatalf("volume Reject: outcome %s, message %q, err %v", s.Outcome, s.Message, err)
		}
		if known, _ := st.ExistingEvents(context.Background(), "media/support", []string{"t1", "t2"}); len(known) != 0 {
			t.Errorf("a rejected run committed %d events", len(known))
		}
		// Warn counts and accepts.
		s, err = runSource(t, st, src, dir, rule(v1alpha1.ActionWarn, fresh), ingest.Options{})
		if err != nil || s.Outcome != v1alpha1.RunSucceeded || s.Accepted != 2 || s.Warnings != 1 {
			t.Errorf("freshness Warn: %+v, %v", s.RunSummary, err)
		}
		// Quarantine commits the run and names what happened to the feed
		// in its outcome: it held no record.
		s, err = runSource(t, st, src, dir, rule(v1alpha1.ActionQuarantine, fresh), ingest.Options{})
		if err != nil || s.Outcome != v1alpha1.RunStale || !strings.Contains(s.Message, "newest event is 72h0m0s old") || s.Quarantined != 0 {
			t.Errorf("freshness Quarantine: outcome %s message %q quarantined %d err %v; want Stale", s.Outcome, s.Message, s.Quarantined, err)
		}
		s, err = runSource(t, st, src, dir, rule(v1alpha1.ActionQuarantine, volume), ingest.Options{})
		if err != nil || s.Outcome != v1alpha1.RunVolumeAnomaly || !strings.Contains(s.Message, "fewer than minRecords 10") {
			t.Errorf("volume Quarantine: outcome %s message %q err %v; want VolumeAnomaly", s.Outcome, s.Message, err)
		}
		// Both: the stale feed is named, and the message gives both checks.
		both := rule(v1alpha1.ActionQuarantine, volume)
		fresh.Action = v1alpha1.ActionQuarantine
		both[0].Spec.Checks = append(both[0].Spec.Checks, fresh)
		s, err = runSource(t, st, src, dir, both, ingest.Options{})
		if err != nil || s.Outcome != v1alpha1.RunStale || !strings.Contains(s.Message, "fewer than minRecords 10") ||
			!strings.Contains(s.Message, "newest event is 72h0m0s old") {
			t.Errorf("freshness and volume Quarantine: outcome %s message %q err %v; want Stale naming both", s.Outcome, s.Message, err)
		}
	})
}

// gatedStore holds each batch's commit until the next batch has been
// checked (its HeldInQuarantine lookup, the pipeline's last, has returned),
// so that every batch but the first is checked while the one before it is
// still uncommitted.
type gatedStore struct {
	store.Store
	batches int // commits after the last batch's are not held
	mu      sync.Mutex
	cond    *sync.Cond
	checked int
	commits int
}

func newGatedStore(st store.Store, batches int) *gatedStore {
	g := &gatedStore{Store: st, batches: batches}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gatedStore) HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error) {
	m, err := g.Store.HeldInQuarantine(ctx, source, hashes)
	g.mu.Lock()
	g.checked++
	g.cond.Broadcast()
	g.mu.Unlock()
	return m, err
}

func (g *gatedStore) Commit(ctx context.Context, b store.Batch) (store.CommitResult, error) {
	if b.Run == nil {
		g.mu.Lock()
		g.commits++
		if k := g.commits; k < g.batches {
			for g.checked < k+1 {
				g.cond.Wait()
			}
		}
		g.mu.Unlock()
	}
	return g.Store.Commit(ctx, b)
}

// A duplicate, a redelivered held record, a unique key and a related user
// split across two batches are judged as if the first had committed before
// the second was checked, though its commit is still under way.
func TestBatchCheckedWhileThePreviousCommits(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		c := now.Add(-time.Hour).Unix()
		line := func(id, user, ref, pi string, amount int) string {
			return fmt.Sprintf(`{"id":%q,"user":%q,"ref":%q,"pi":%q,"amount":%d,"created":%d}`, id, user, ref, pi, amount, c)
		}
		a1, a2 := line("a1", "u1", "u1", "p1", 10), line("a2", "u2", "u2", "p2", -5)
		writeLines(t, dir, "accounts.jsonl",
			// batch 1
			a1,                               // accepted
			a2,                               // negative: quarantined
			line("a3", "u3", "u3", "p3", 10), // accepted
			// batch 2, checked while batch 1 commits
			a1,                               // duplicate of an event in flight
			a2,                               // duplicate of a record held in flight
			line("a4", "u4", "u3", "p3", 10), // p3 seen in flight: quarantined; u3 is known from batch 1
			// batch 3
			line("a5", "u5", "u1", "p4", 10), // accepted
			line("a6", "u6", "u9", "p5", 10), // u9 unknown: quarantined
		)
		src := fileSource("accounts", "crm", "accounts.jsonl", true, v1alpha1.EventMapping{
			EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(int(record.created))", Type: `"signup"`,
			Amount: "double(record.amount)",
		})
		rules := []v1alpha1.ValidationRule{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "accounts"},
			Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{
				{Name: "amount", Expression: "event.amount >= 0.0", Action: v1alpha1.ActionQuarantine},
				{Name: "one-per-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.pi"}, Action: v1alpha1.ActionQuarantine},
				{Name: "referrer-known", Relationship: &v1alpha1.RelationshipCheck{Key: "record.ref", Touchpoint: "crm"}, Action: v1alpha1.ActionQuarantine},
			}},
		}}
		s, err := runSource(t, newGatedStore(st, 3), src, dir, rules, ingest.Options{BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		expectCounts(t, "accounts", s, 8, 3, 2, 3, 0, 0)
		for check, want := range map[string]int64{"amount": 1, "one-per-intent": 1, "referrer-known": 1} {
			if got := s.Checks[check].Failed; got != want {
				t.Errorf("check %s failed %d times, want %d", check, got, want)
			}
		}
		if q, _ := st.FindQuarantine(context.Background(), store.QuarantineFilter{Source: "media/accounts", Limit: 0}); len(q) != 3 {
			t.Errorf("%d records quarantined, want 3", len(q))
		}
		if rep, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil || rep.Entries != 4 {
			t.Errorf("ledger: %d entries (want 3 batches and the run), %v", rep.Entries, err)
		}
	})
}
