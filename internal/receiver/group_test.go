package receiver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/receiver"
)

// Group commits: many deliveries at once to a non-financial source, some
// of them the same event sent several times (a retry racing its first
// attempt), to one receiver and to two on one store. Each event is stored
// once and answered accepted exactly once, whichever deliveries committed
// together and whichever receiver committed first.
func TestConcurrentDeliveriesCommitTogether(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dsn       func(t testing.TB) string
		receivers int
	}{
		{"sqlite", func(t testing.TB) string { return sqliteDSN(t.(*testing.T)) }, 1},
		{"postgres", pg.DSN, 1},
		{"postgres, two receivers", pg.DSN, 2},
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
			secrets := map[string]map[string]string{"media/whsec": {"current": current}}
			var servers []*httptest.Server
			var st interface {
				ExistingEvents(context.Context, string, []string) (map[string]bool, error)
			}
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
		})
	}
}
