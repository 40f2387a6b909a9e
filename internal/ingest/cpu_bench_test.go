package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/test/bench/ingest/billing"
)

// nullStore answers every lookup with "not found" (users: found) and
// commits nothing, so that a benchmark measures the client's own work:
// read, decode, map, check.
type nullStore struct{ store.Store }

func (nullStore) ExistingEvents(context.Context, string, []string) (map[string]bool, error) {
	return map[string]bool{}, nil
}
func (nullStore) HeldInQuarantine(context.Context, string, []string) (map[string]bool, error) {
	return map[string]bool{}, nil
}
func (nullStore) ExistingKeys(context.Context, string, string, []string, time.Time) (map[string]bool, error) {
	return map[string]bool{}, nil
}
func (nullStore) KnownUsers(_ context.Context, _, _ string, users []string) (map[string]bool, error) {
	m := make(map[string]bool, len(users))
	for _, u := range users {
		m[u] = u != "cus_unknown"
	}
	return m, nil
}
func (nullStore) Cursor(context.Context, string) (string, error)         { return "", nil }
func (nullStore) Runs(context.Context, string, int) ([]store.Run, error) { return nil, nil }
func (nullStore) Commit(_ context.Context, b store.Batch) (store.CommitResult, error) {
	return store.CommitResult{Inserted: len(b.Events)}, nil
}

// BenchmarkClientSide runs make bench-ingest's billing source (Stripe-shaped
// records, seven checks) over b.N records against a store that does
// nothing: the client's CPU per record.
//
//	go test -run - -bench ClientSide -benchtime 200000x -cpuprofile cpu.out ./internal/ingest/
func BenchmarkClientSide(b *testing.B) {
	dir := b.TempDir()
	if err := billing.WriteBilling(filepath.Join(dir, "billing.jsonl"), b.N); err != nil {
		b.Fatal(err)
	}
	env, err := expr.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	cfg := billing.Source("billing", "billing.jsonl")
	b.ReportAllocs()
	b.ResetTimer()
	s, err := ingest.Run(context.Background(), cfg, "hash", ingest.Options{Store: nullStore{}, Expr: env, BaseDir: dir})
	if err != nil || s.Read != int64(b.N) {
		b.Fatalf("read %d of %d: %v", s.Read, b.N, err)
	}
}

// BenchmarkBillingPostgres is BenchmarkClientSide into a real PostgreSQL
// store (after 50,000 CRM users), for profiling the whole client:
//
//	go test -run - -bench BillingPostgres -benchtime 200000x -cpuprofile cpu.out ./internal/ingest/
func BenchmarkBillingPostgres(b *testing.B) {
	dir := b.TempDir()
	if err := billing.WriteBilling(filepath.Join(dir, "billing.jsonl"), b.N); err != nil {
		b.Fatal(err)
	}
	crm := make([]string, 0, 50_000)
	for u := 0; u < 50_000; u++ {
		crm = append(crm, fmt.Sprintf(`{"id":"acct_%d","user":"cus_%06d","created":1756684800}`, u, u))
	}
	writeLines(&testing.T{}, dir, "crm.jsonl", crm...)
	env, err := expr.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(context.Background(), pg.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	crmSrc := fileSource("crm", "crm", "crm.jsonl", false, crmMapping)
	crmSrc.Namespace = "bench"
	if s, err := ingest.Run(context.Background(), render.SourceConfig(crmSrc, nil), "hash", ingest.Options{Store: st, Expr: env, BaseDir: dir}); err != nil || s.Accepted != 50_000 {
		b.Fatalf("crm: %v %+v", err, s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	s, err := ingest.Run(context.Background(), billing.Source("billing", "billing.jsonl"), "hash", ingest.Options{Store: st, Expr: env, BaseDir: dir})
	if err != nil || s.Read != int64(b.N) {
		b.Fatalf("read %d of %d: %v", s.Read, b.N, err)
	}
}
