package retain_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/cmd/audit"
	"github.com/cjm-dev/journey-operator/internal/cmd/retain"
	"github.com/cjm-dev/journey-operator/internal/evidence"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// A policy retires whole months of a store; the audit then still verifies
// and says how many rows were retired by policy, and the evidence names
// who retired them and why.
func TestRetainThenAudit(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "j.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old, recent := now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1)
	amount := 9.5
	var events []store.Event
	for i, at := range []time.Time{old, old.Add(time.Hour), recent} {
		events = append(events, store.Event{Namespace: "media", EventID: "in_" + string(rune('a'+i)), UserID: "u1", Touchpoint: "billing",
			System: "stripe", Type: "invoice.paid", OccurredAt: at, Amount: &amount, Currency: "usd", RunID: "run-1"})
	}
	if _, err := st.Commit(ctx, store.Batch{Source: "media/billing", Events: events,
		Ledger: &store.LedgerEntry{RunID: "run-1", Read: 3, AmountRead: "28.5"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := retain.Run(ctx, append([]string{"--store", dsn}, args...), &out)
		return out.String(), err
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--older-than", "400d"}, "--actor"},
		{[]string{"--older-than", "400d", "--before", "2025-01", "--actor", "a"}, "one of --older-than"},
		{[]string{"--older-than", "soon", "--actor", "a"}, `"soon": want a number of days`},
		{[]string{"--older-than", "-3d", "--actor", "a"}, "more than nothing"},
		{[]string{"--before", "2025-01", "--actor", "a"}, "--reason is required"},
	} {
		if _, err := run(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("retain %v: %v, want %q", c.args, err, c.want)
		}
	}
	out, err := run("--older-than", "400d", "--actor", "system:serviceaccount:journey:retention")
	if err != nil || !strings.Contains(out, "retired 2 events") || !strings.Contains(out, "hashes of the 2 a ledger entry covered") {
		t.Fatalf("retain: %v\n%s", err, out)
	}
	if out, err := run("--older-than", "400d", "--actor", "a"); err != nil || !strings.Contains(out, "nothing to retire") {
		t.Fatalf("retain again: %v\n%s", err, out)
	}

	var verified bytes.Buffer
	if err := audit.Run(ctx, []string{"verify", "--store", dsn}, &verified); err != nil ||
		!strings.Contains(verified.String(), "2 of them retired by policy in 1 retirement(s)") {
		t.Fatalf("audit verify: %v\n%s", err, verified.String())
	}
	st, err = store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := evidence.Build(ctx, st, evidence.Options{Source: "media/billing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Retirements) != 1 || rep.Retirements[0].Actor != "system:serviceaccount:journey:retention" ||
		rep.Retirements[0].Reason != "retention 400d" || rep.Retirements[0].Events != 2 || !rep.Ledger.Verifies || rep.Ledger.Retired != 2 {
		t.Fatalf("evidence: %+v, ledger %+v", rep.Retirements, rep.Ledger)
	}
	if other, err := evidence.Build(ctx, st, evidence.Options{Source: "media/playback"}); err != nil || len(other.Retirements) != 0 {
		t.Fatalf("another source's evidence lists %+v (%v)", other.Retirements, err)
	}
}
