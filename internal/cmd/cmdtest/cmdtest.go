// Package cmdtest is what the command packages' tests share: stores on
// every backend, and a financial source's history in them.
package cmdtest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// Backend names a new, empty store.
type Backend struct {
	Name string
	DSN  func(t *testing.T) string
}

// Backends are SQLite on a file and a throwaway PostgreSQL on loopback.
func Backends() []Backend {
	return []Backend{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "journey.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.Start(t) }},
	}
}

// T is what Fill needs of a test: a testing.T or Ginkgo's GinkgoT().
type T interface {
	Helper()
	Fatal(args ...any)
}

// Billing is the financial source the fixtures write.
const Billing = "media/billing-stripe"

// HeldAt is when the fixture's records were held.
var HeldAt = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func payment(id string, amount float64) store.Event {
	return store.Event{Namespace: "media", EventID: id, UserID: "cus_" + id, Touchpoint: "billing", System: "stripe",
		Type: "invoice.paid", OccurredAt: HeldAt.Add(-time.Hour), Amount: &amount, Currency: "usd", RunID: "run-1"}
}

// Fill writes one run of the billing source: 4 invoices loaded, 2 negative
// ones held by amount-non-negative, 1 record that never decoded, and the
// run's closing entry. It returns the closing entry's hash.
func Fill(t T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var events []store.Event
	for i := range 4 {
		events = append(events, payment(fmt.Sprintf("in_%d", i), 10+float64(i)))
	}
	neg1, neg2 := payment("in_neg1", -5.25), payment("in_neg2", -4)
	q := []store.QuarantineRecord{
		{RunID: "run-1", EventID: "in_neg1", Check: "amount-non-negative", Reason: "negative amount", Raw: []byte(`{"id":"in_neg1"}`), Event: &neg1, At: HeldAt},
		{RunID: "run-1", EventID: "in_neg2", Check: "amount-non-negative", Reason: "negative amount", Raw: []byte(`{"id":"in_neg2"}`), Event: &neg2, At: HeldAt.Add(time.Minute)},
		{RunID: "run-1", Check: "decode", Reason: "line 7: not valid JSON", Raw: []byte(`{"id":`), At: HeldAt.Add(2 * time.Minute)},
	}
	if _, err := st.Commit(ctx, store.Batch{Source: Billing, Events: events, Quarantine: q,
		Ledger: &store.LedgerEntry{Kind: store.EntryBatch, RunID: "run-1", Read: 8, Rejected: 1, AmountRead: "36.75", AmountRejected: "-2.00", ConfigHash: "sha256:cfg"}}); err != nil {
		t.Fatal(err)
	}
	closing := &store.LedgerEntry{Kind: store.EntryRun, RunID: "run-1", ConfigHash: "sha256:cfg",
		Detail: `{"outcome":"Quarantined","editors":[{"kind":"TouchpointSource","name":"billing-stripe","by":"alice@example.com","at":"2026-11-29T10:00:00Z"}]}`}
	if _, err := st.Commit(ctx, store.Batch{Source: Billing, Ledger: closing,
		Run: &store.Run{ID: "run-1", Outcome: "Quarantined", StartedAt: HeldAt, FinishedAt: HeldAt.Add(3 * time.Minute), Read: 8, Accepted: 4, Quarantined: 3, Rejected: 1}}); err != nil {
		t.Fatal(err)
	}
	return closing.Hash
}
