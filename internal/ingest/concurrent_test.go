package ingest_test

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Two runs of one financial source over the same 1,000 records at once (a
// requested-at Job beside the CronJob's run is normal operation): each
// record is stored once and held once, the runs' accepted counts add up to
// what is stored, each run balances in records and amounts, and the
// ledger's entries sum to what the store holds.
func TestConcurrentRunsOfOverlappingInput(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		c := now.Add(-time.Hour).Unix()
		var lines []string
		good, held := 0, 0
		for i := range 1000 {
			amount := 500 + i
			if i%61 == 0 {
				amount = -amount // negative: held for review
				held++
			} else {
				good++
			}
			lines = append(lines, fmt.Sprintf(`{"id":"in_%04d","customer":"cus_%d","created":%d,"type":"invoice.paid","amount":%d,"currency":"usd","payment_intent":"pi_%04d"}`,
				i, i%50, c, amount, i))
		}
		writeLines(t, dir, "billing.jsonl", lines...)
		src := fileSource("billing", "billing", "billing.jsonl", true, billingMapping)
		rule := v1alpha1.ValidationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "controls"},
			Spec: v1alpha1.ValidationRuleSpec{SourceSelector: metav1.LabelSelector{}, Checks: []v1alpha1.Check{
				{Name: "amount-non-negative", Expression: "event.amount >= 0.0", Action: v1alpha1.ActionQuarantine}}}}

		var wg sync.WaitGroup
		sums := make([]ingest.Summary, 2)
		errs := make([]error, 2)
		for i := range sums {
			wg.Go(func() {
				sums[i], errs[i] = runSource(t, st, src, dir, []v1alpha1.ValidationRule{rule},
					ingest.Options{RunID: fmt.Sprint("run-", i), BatchSize: 97})
			})
		}
		wg.Wait()
		var accepted, quarantined int64
		for i, s := range sums {
			if errs[i] != nil {
				t.Fatalf("run %d: %v", i, errs[i])
			}
			if s.Read != 1000 || s.Accepted+s.Duplicates+s.Quarantined+s.Rejected != s.Read {
				t.Errorf("run %d does not balance: %+v", i, s.RunSummary)
			}
			var sum, read big.Rat
			read.SetString(s.AmountTotal)
			for _, a := range []string{s.AmountLoaded, s.AmountDuplicates, s.AmountQuarantined, s.AmountRejected} {
				v, _ := new(big.Rat).SetString(a)
				sum.Add(&sum, v)
			}
			if sum.Cmp(&read) != 0 {
				t.Errorf("run %d's amounts do not balance: read %s, loaded %s + duplicates %s + quarantined %s + rejected %s",
					i, s.AmountTotal, s.AmountLoaded, s.AmountDuplicates, s.AmountQuarantined, s.AmountRejected)
			}
			accepted += s.Accepted
			quarantined += s.Quarantined
		}
		ctx := context.Background()
		var ids []string
		for i := range 1000 {
			ids = append(ids, fmt.Sprintf("in_%04d", i))
		}
		stored, _ := st.ExistingEvents(ctx, "media/billing", ids)
		records, _ := st.FindQuarantine(ctx, store.QuarantineFilter{Source: "media/billing"})
		if len(stored) != good || accepted != int64(good) || len(records) != held || quarantined != int64(held) {
			t.Fatalf("stored %d events (runs accepted %d), %d held records (runs held %d); want %d and %d",
				len(stored), accepted, len(records), quarantined, good, held)
		}
		entries, _ := st.LedgerEntries(ctx, store.LedgerFilter{Source: "media/billing"})
		var entryAccepted, entryHeld, entryRead int64
		for _, e := range entries {
			entryAccepted += e.Accepted
			entryHeld += e.Quarantined
			entryRead += e.Read
		}
		if entryAccepted != int64(good) || entryHeld != int64(held) || entryRead != 2000 {
			t.Fatalf("ledger entries sum to %d accepted, %d held, %d read; want %d, %d, 2000", entryAccepted, entryHeld, entryRead, good, held)
		}
		if _, err := st.Verify(ctx, store.VerifyOptions{Anchors: []string{sums[0].LedgerHash, sums[1].LedgerHash}}); err != nil {
			t.Fatal(err)
		}
	})
}
