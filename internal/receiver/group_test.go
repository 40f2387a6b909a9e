package receiver_test

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/receiver"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Group commits: many deliveries at once, some of them the same event sent
// several times (a retry racing its first attempt), to one receiver and to
// two on one store. Each event is stored once and answered accepted
// exactly once, whichever deliveries committed together and whichever
// receiver committed first. For a financial source, the ledger's entries
// (fewer than the deliveries: they committed in groups) count every
// delivery read, every event accepted once and the rest as duplicates,
// with their amounts, and the chain verifies against the data.
func TestConcurrentDeliveriesCommitTogether(t *testing.T) {
	sqlite := func(t testing.TB) string { return sqliteDSN(t.(*testing.T)) }
	for _, tc := range []struct {
		name      string
		dsn       func(t testing.TB) string
		receivers int
		financial bool
	}{
		{"sqlite", sqlite, 1, false},
		{"postgres", pg.DSN, 1, false},
		{"postgres, two receivers", pg.DSN, 2, false},
		{"sqlite, financial", sqlite, 1, true},
		{"postgres, financial, two receivers", pg.DSN, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := tc.dsn(t)
			src := &v1alpha1.TouchpointSource{
				ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "hook"},
				Spec: v1alpha1.TouchpointSourceSpec{
					Touchpoint: "billing", System: "stripe",
					Webhook: &v1alpha1.WebhookSource{Path: "/stripe", Signature: &v1alpha1.WebhookSignature{
						Scheme: v1alpha1.SignatureStripe, Tolerance: &metav1.Duration{Duration: 5 * time.Minute},
						SecretRefs: []v1alpha1.SecretKeyRef{{Name: "whsec", Key: "current"}},
					}},
					Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.data.object.customer",
						OccurredAt: "timestamp(int(record.created))", Type: "record.type"},
				},
			}
			if tc.financial {
				src.Spec.Financial = true
				src.Spec.Mapping.Amount = "double(record.data.object.amount_paid) / 100.0"
			}
			secrets := map[string]map[string]string{"media/whsec": {"current": current}}
			var servers []*httptest.Server
			var st store.Store
			for range tc.receivers {
				h, s := newReceiver(t, dsn, src, nil, secrets, func() time.Time { return now })
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				servers, st = append(servers, srv), s
			}
			const events, copies = 60, 3
			outcomes := make(chan receiver.Response, events*copies)
			var wg sync.WaitGroup
			for i := range events * copies {
				wg.Go(func() {
					body := event(fmt.Sprintf("evt_%03d", i%events), 100)
					status, resp, text := post(t, servers[i%len(servers)], body, signed(body, current, now))
					if status != http.StatusOK {
						t.Errorf("delivery %d: %d %s", i, status, text)
					}
					outcomes <- resp
				})
			}
			wg.Wait()
			close(outcomes)
			accepted := map[string]int{}
			for o := range outcomes {
				switch o.Outcome {
				case receiver.OutcomeAccepted:
					accepted[o.EventID]++
				case receiver.OutcomeDuplicate:
				default:
					t.Errorf("answer %+v", o)
				}
			}
			ids := make([]string, events)
			for i := range ids {
				ids[i] = fmt.Sprintf("evt_%03d", i)
				if accepted[ids[i]] != 1 {
					t.Errorf("%s answered accepted %d times, want once", ids[i], accepted[ids[i]])
				}
			}
			stored, err := st.ExistingEvents(context.Background(), "media/hook", ids)
			if err != nil || len(stored) != events {
				t.Fatalf("%d of %d events stored (%v)", len(stored), events, err)
			}
			if !tc.financial {
				return
			}
			entries, err := st.LedgerEntries(context.Background(), store.LedgerFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var read, loaded, duplicates int64
			var amountRead, amountLoaded, amountDuplicates big.Rat
			for _, e := range entries {
				read, loaded, duplicates = read+e.Read, loaded+e.Accepted, duplicates+e.Duplicates
				for _, a := range []struct {
					sum  *big.Rat
					text string
				}{{&amountRead, e.AmountRead}, {&amountLoaded, e.AmountLoaded}, {&amountDuplicates, e.AmountDuplicates}} {
					var r big.Rat
					if _, ok := r.SetString(a.text); ok {
						a.sum.Add(a.sum, &r)
					}
				}
			}
			if len(entries) >= events*copies || read != events*copies || loaded != events || duplicates != events*(copies-1) {
				t.Errorf("%d ledger entries read %d, accepted %d, duplicates %d; want fewer than %d entries, %d, %d, %d",
					len(entries), read, loaded, duplicates, events*copies, events*copies, events, events*(copies-1))
			}
			if amountRead.Cmp(big.NewRat(events*copies, 1)) != 0 || amountLoaded.Cmp(big.NewRat(events, 1)) != 0 || amountDuplicates.Cmp(big.NewRat(events*(copies-1), 1)) != 0 {
				t.Errorf("amounts read %s, loaded %s, duplicates %s; want %d, %d, %d", amountRead.FloatString(2), amountLoaded.FloatString(2),
					amountDuplicates.FloatString(2), events*copies, events, events*(copies-1))
			}
			if rep, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil || rep.Entries != int64(len(entries)) {
				t.Errorf("verify: %+v %v", rep, err)
			}
		})
	}
}
