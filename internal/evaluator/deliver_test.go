package evaluator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// recorder is an HTTP receiver that keeps every JSON body it gets.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

// Alerts reach Alertmanager, one per user; users who churned after the
// evaluator started are surveyed once each; nothing is sent twice.
func TestDeliveryOnTheSampleData(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	m, asOf, st, sources, jm := smp.manifest, smp.asOf, smp.store, smp.sources, smp.journey
	am, survey := &recorder{}, &recorder{}
	amSrv, surveySrv := httptest.NewServer(am), httptest.NewServer(survey)
	defer amSrv.Close()
	defer surveySrv.Close()
	jm.Spec.Notify = &v1alpha1.Notify{Alertmanager: &v1alpha1.AlertmanagerTarget{URL: amSrv.URL}}
	jm.Spec.Feedback = []v1alpha1.FeedbackTrigger{{Name: "exit-survey", OnEnter: "Churned", Webhook: v1alpha1.WebhookTarget{URL: surveySrv.URL}}}
	cfg := render.JourneyConfig(&jm, sources)

	since := asOf.Add(-14 * 24 * time.Hour)
	doc, _ := json.Marshal(since) // as if the evaluator had started two weeks ago
	if err := st.SaveState(ctx, "default/streaming-journey", "feedback-since", doc); err != nil {
		t.Fatal(err)
	}
	// The users who churned since then, counted from the events themselves.
	firstChurn := map[string]time.Time{}
	var ids []string
	for _, s := range sources {
		ids = append(ids, s.Namespace+"/"+s.Name)
	}
	_ = st.ScanEvents(ctx, store.EventQuery{Sources: ids, Lean: true}, func(e *store.Event, _ []byte) error {
		if e.Type == "customer.subscription.deleted" {
			if at, ok := firstChurn[e.UserID]; !ok || e.OccurredAt.Before(at) {
				firstChurn[e.UserID] = e.OccurredAt
			}
		}
		return nil
	})
	wantSurveys := 0
	for _, at := range firstChurn {
		if at.After(since) {
			wantSurveys++
		}
	}
	if wantSurveys == 0 {
		t.Fatal("nobody churned in the last two weeks of the sample data")
	}

	env, _ := expr.NewEnv()
	ev, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ev.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(survey.all()); got != wantSurveys {
		t.Errorf("%d survey requests, want %d (users who churned in the last two weeks)", got, wantSurveys)
	}
	var req struct{ User, Stage, Journey, Trigger string }
	if err := json.Unmarshal(survey.all()[0], &req); err != nil || req.Stage != "Churned" || req.Trigger != "exit-survey" ||
		req.Journey != "default/streaming-journey" || firstChurn[req.User].IsZero() {
		t.Errorf("survey request %+v (%v)", req, err)
	}
	if len(snap.Feedback) != 1 || snap.Feedback[0].Sent != int64(wantSurveys) {
		t.Errorf("feedback counts: %+v", snap.Feedback)
	}

	// Alerts have `for: 1h`: pending at first, nothing sent; held for an
	// hour, Alertmanager gets one alert per user.
	if n := len(am.all()); n != 0 {
		t.Errorf("%d posts to Alertmanager while the alert is only pending", n)
	}
	doc, _ = st.LoadState(ctx, "default/streaming-journey", "alerts")
	var mem map[string]time.Time
	_ = json.Unmarshal(doc, &mem)
	for k := range mem {
		mem[k] = asOf.Add(-time.Hour)
	}
	doc, _ = json.Marshal(mem)
	_ = st.SaveState(ctx, "default/streaming-journey", "alerts", doc)
	restarted, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.Once(ctx); err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, body := range am.all() {
		var alerts []struct{ Labels map[string]string }
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Fatalf("Alertmanager payload: %v", err)
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "StreamingDropAfterBillingFailure" && a.Labels["journey"] == "streaming-journey" && a.Labels["user"] != "" {
				users[a.Labels["user"]] = true
			}
		}
	}
	if want := m.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"]; int64(len(users)) != want {
		t.Errorf("Alertmanager got the alert for %d users, want %d", len(users), want)
	}
	// The restarted evaluator remembers whom it surveyed.
	if got := len(survey.all()); got != wantSurveys {
		t.Errorf("after a restart: %d survey requests in all, want still %d", got, wantSurveys)
	}
}
