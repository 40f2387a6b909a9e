package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
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
	if err := writeStripe(filepath.Join(dir, "billing.jsonl"), b.N); err != nil {
		b.Fatal(err)
	}
	env, err := expr.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	cfg := benchBillingConfig()
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
	if err := writeStripe(filepath.Join(dir, "billing.jsonl"), b.N); err != nil {
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
	s, err := ingest.Run(context.Background(), benchBillingConfig(), "hash", ingest.Options{Store: st, Expr: env, BaseDir: dir})
	if err != nil || s.Read != int64(b.N) {
		b.Fatalf("read %d of %d: %v", s.Read, b.N, err)
	}
}

func benchBillingConfig() runconfig.Source {
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "billing"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "billing", System: "bench", Financial: true,
			Batch: &v1alpha1.BatchSource{Schedule: "@hourly", File: &v1alpha1.FileConnector{Path: "billing.jsonl", Format: v1alpha1.FileFormatJSONLines}},
			Mapping: v1alpha1.EventMapping{
				EventID: "record.id", UserID: "record.data.object.customer", OccurredAt: "timestamp(int(record.created))", Type: "record.type",
				Amount: "double(record.data.object.amount_paid) / 100.0", Currency: "record.data.object.currency",
				Attributes: map[string]v1alpha1.Expression{"paymentIntent": "record.data.object.payment_intent"},
			},
		},
	}
	rule := v1alpha1.ValidationRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "billing-controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{
			{Name: "amount-non-negative", Expression: "event.amount == null || event.amount >= 0.0", Action: v1alpha1.ActionQuarantine},
			{Name: "one-payment-per-intent", Unique: &v1alpha1.UniqueCheck{Key: "record.data.object.payment_intent", Window: &metav1.Duration{Duration: 720 * time.Hour}}, Action: v1alpha1.ActionQuarantine},
			{Name: "customer-known", Relationship: &v1alpha1.RelationshipCheck{Key: "event.userID", Touchpoint: "crm"}, Action: v1alpha1.ActionQuarantine},
			{Name: "required", NotNull: []v1alpha1.Expression{"event.userID"}, Action: v1alpha1.ActionReject},
			{Name: "currency", AcceptedValues: &v1alpha1.AcceptedValuesCheck{Key: "event.currency", Values: []string{"usd", "eur", "gbp"}}, Action: v1alpha1.ActionWarn},
			{Name: "test-mode", Expression: "!has(record.livemode) || record.livemode", Action: v1alpha1.ActionReject},
			{Name: "invoice-amount", Expression: `!event.type.startsWith("invoice.") || event.amount != null`, Action: v1alpha1.ActionQuarantine},
		}},
	}
	return render.SourceConfig(src, []v1alpha1.ValidationRule{rule})
}

// writeStripe writes n records shaped as make bench-ingest's, about 1% of
// them with a planted anomaly.
func writeStripe(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"invoice.paid", "invoice.paid", "invoice.paid", "invoice.payment_failed", "charge.refunded"}
	for i := 0; i < n; i++ {
		cust := fmt.Sprintf("cus_%06d", r.IntN(50_000))
		amount := 999 + r.IntN(2000)
		currency, pi, live := "usd", fmt.Sprintf("pi_%d", i), "true"
		switch r.IntN(400) {
		case 0:
			amount = -amount
		case 1:
			cust = "cus_unknown"
		case 2:
			pi = fmt.Sprintf("pi_%d", i/2)
		case 3:
			currency = "xxx"
		}
		if r.IntN(1000) == 0 {
			live = "false"
		}
		fmt.Fprintf(w, `{"id":"evt_%d","type":%q,"created":%d,"livemode":%s,"data":{"object":{"customer":%q,"amount_paid":%d,"currency":%q,"payment_intent":%q}}}`+"\n",
			i, types[r.IntN(len(types))], 1756684800+i, live, cust, amount, currency, pi)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
