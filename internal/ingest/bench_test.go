package ingest_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"context"
	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// BenchmarkIngest runs the billing pipeline (seven checks) over b.N records
// into SQLite: go test -bench Ingest -cpuprofile cpu.out ./internal/ingest/
func BenchmarkIngest(b *testing.B) {
	dir := b.TempDir()
	c := now.Add(-time.Hour).Unix()
	lines := make([]string, 0, b.N)
	for i := 0; i < b.N; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"evt_%d","customer":"cus_%c","created":%d,"type":"invoice.paid","amount":%d,"currency":"usd","payment_intent":"pi_%d"}`,
			i, 'A'+rune(i%3), c, 1000+i%500, i))
	}
	t := &testing.T{}
	writeLines(t, dir, "billing.jsonl", lines...)
	writeLines(t, dir, "crm.jsonl", crmLines()...)
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "j.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rules := []v1alpha1.ValidationRule{billingRule()}
	if _, err := runSource(t, st, fileSource("crm", "crm", "crm.jsonl", false, crmMapping), dir, rules, ingest.Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	s, err := runSource(t, st, fileSource("billing", "billing", "billing.jsonl", true, billingMapping), dir, rules, ingest.Options{})
	if err != nil || s.Accepted != int64(b.N) {
		b.Fatalf("accepted %d of %d: %v %s", s.Accepted, b.N, err, strings.TrimSpace(s.Message))
	}
}
