package evaluator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/testutil"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/render"
)

// TestEvaluatorOnTheSampleData runs the evaluator the way its Deployment
// does, on the sample data ingested as `journey run` would.
func TestEvaluatorOnTheSampleData(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	m, asOf, st, sources := smp.manifest, smp.asOf, smp.store, smp.sources
	cfg := render.JourneyConfig(&smp.journey, sources) // what the controller renders into the ConfigMap
	env, _ := expr.NewEnv()
	reg := prometheus.NewRegistry()
	ev, err := evaluator.New(env, cfg, st, nil, reg, func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ev.Handler(reg))
	defer srv.Close()
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first evaluation: %d, want 503", code)
	}

	snap, err := ev.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"]
	var pending int64
	for _, a := range snap.Alerts {
		if a.Name == "StreamingDropAfterBillingFailure" {
			pending = a.Pending
		}
	}
	if pending != want {
		t.Errorf("first evaluation: %d pending, want %d", pending, want)
	}
	// A restart keeps the alert state: had the users been pending for an
	// hour before it, the new process fires them at its first evaluation.
	doc, err := st.LoadState(ctx, "default/streaming-journey", "alerts")
	if err != nil || doc == nil {
		t.Fatalf("alert state was not saved: %v", err)
	}
	var mem map[string]time.Time
	if err := json.Unmarshal(doc, &mem); err != nil || len(mem) != int(want) {
		t.Fatalf("saved alert state: %s (%v)", doc, err)
	}
	for k := range mem {
		mem[k] = asOf.Add(-time.Hour)
	}
	doc, _ = json.Marshal(mem)
	if err := st.SaveState(ctx, "default/streaming-journey", "alerts", doc); err != nil {
		t.Fatal(err)
	}
	restarted, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := restarted.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again.Alerts {
		if a.Name == "StreamingDropAfterBillingFailure" && a.Firing != want {
			t.Errorf("after a restart: firing %d, want %d", a.Firing, want)
		}
	}
	if len(snap.Sources) != len(sources) || snap.Sources[0].LastRun == nil {
		t.Errorf("sources with their last run: %+v", snap.Sources)
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after an evaluation: %d", code)
	}
	_, metrics := get(t, srv.URL+"/metrics")
	for _, line := range []string{
		`journey_alerts_pending{alert="StreamingDropAfterBillingFailure",journey="streaming-journey",namespace="default",severity="warning"} ` + itoa(want),
		`journey_stage_users{journey="streaming-journey",namespace="default",stage="Churned"} ` + itoa(m.Journey.Churned),
		`journey_users{journey="streaming-journey",namespace="default"} `,
		`journey_evaluations_total{journey="streaming-journey",namespace="default"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if _, page := get(t, srv.URL+"/"); !strings.Contains(page, "StreamingDropAfterBillingFailure") || !strings.Contains(page, "<svg") {
		t.Error("the journey map page at / does not show the journey")
	}

	// The map asks for a churn model: the first evaluation trains it and
	// reports it, in the snapshot, the status and /metrics.
	p := snap.Prediction
	if p == nil || p.Model != "logistic" || p.HeldOut.AUC < p.HeldOut.BaselineAUC+0.2 || len(p.ByStage) == 0 || !p.TrainedAt.Equal(asOf) {
		t.Fatalf("prediction: %+v", p)
	}
	status := evaluator.Status(snap)
	if status.Prediction == nil || status.Prediction.HeldOut.AUC != strconv.FormatFloat(p.HeldOut.AUC, 'f', 2, 64) || status.Prediction.ByStage[0].Stage != "Discovery" {
		t.Fatalf("status.prediction: %+v", status.Prediction)
	}
	for _, line := range []string{
		`journey_churn_model_auc{journey="streaming-journey",namespace="default"} `,
		`journey_churn_rule_auc{journey="streaming-journey",namespace="default"} `,
		`journey_churn_expected_ratio{journey="streaming-journey",namespace="default",stage="Trial"} `,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	// It is not trained again before retrainEvery.
	if again, err := ev.Once(ctx); err != nil || again.Prediction != p {
		t.Errorf("a second evaluation at the same time retrained the model (%v)", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestStatusBesideTheController: on a real API server, the evaluator's
// status fields and the controller's conditions are applied by two field
// managers and neither erases the other; unchanged counts write nothing.
func TestStatusBesideTheController(t *testing.T) {
	assets, err := testutil.EnvtestAssets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ErrorIfCRDPathMissing: true,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	scheme, _ := manager.NewScheme()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jm := &v1alpha1.JourneyMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "streaming"},
		Spec: v1alpha1.JourneyMapSpec{Stages: []v1alpha1.Stage{{Name: "Trial", EnterWhen: "true"}, {Name: "Subscribed", EnterWhen: "true"}}}}
	if err := c.Create(ctx, jm); err != nil {
		t.Fatal(err)
	}
	controllerApplies := func() {
		u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
			"observedGeneration": int64(1), "stageCount": int64(2),
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Applied", "message": "evaluator available",
				"lastTransitionTime": "2026-11-23T08:00:00Z", "observedGeneration": int64(1)}},
		}}}
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("JourneyMap"))
		u.SetNamespace("default")
		u.SetName("streaming")
		if err := c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("journey-operator"), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
	}
	controllerApplies()

	w := &evaluator.KubeStatus{Client: c, Namespace: "default", Name: "streaming"}
	snap := journey.Snapshot{Namespace: "default", Name: "streaming", EvaluatedAt: time.Date(2026, 11, 23, 8, 5, 0, 0, time.UTC), Users: 120,
		Stages: []journey.StageCount{{Name: "Trial", Users: 70}, {Name: "Subscribed", Users: 50}},
		Funnel: []journey.FunnelStep{{From: "Trial", To: "Subscribed", Rate: 0.3125}},
		Alerts: []journey.AlertState{{Name: "TrialConversionLow", Firing: 1}}}
	if err := w.Apply(ctx, snap); err != nil {
		t.Fatal(err)
	}
	controllerApplies() // the controller's next reconcile
	var got v1alpha1.JourneyMap
	if err := c.Get(ctx, client.ObjectKeyFromObject(jm), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Users != 120 || len(got.Status.Stages) != 2 || got.Status.FiringAlerts != 1 ||
		len(got.Status.Conversions) != 1 || got.Status.Conversions[0].Rate != "0.31" || got.Status.LastEvaluationTime == nil {
		t.Errorf("the evaluator's fields: %+v", got.Status)
	}
	if len(got.Status.Conditions) != 1 || got.Status.StageCount != 2 {
		t.Errorf("the controller's fields: %+v", got.Status)
	}
	managers := map[string]bool{}
	for _, mf := range got.ManagedFields {
		if mf.Subresource == "status" {
			managers[mf.Manager] = true
		}
	}
	if !managers["journey-operator"] || !managers[evaluator.FieldManager] {
		t.Errorf("status field managers: %v", managers)
	}

	// The same counts an interval later: no write.
	rv := got.ResourceVersion
	snap.EvaluatedAt = snap.EvaluatedAt.Add(5 * time.Minute)
	if err := w.Apply(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(jm), &got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != rv {
		t.Error("unchanged counts were written")
	}
	// New counts: written, and an alert that stopped firing is cleared.
	snap.Users, snap.Alerts = 121, []journey.AlertState{{Name: "TrialConversionLow"}}
	if err := w.Apply(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(jm), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Users != 121 || got.Status.FiringAlerts != 0 || len(got.Status.Conditions) != 1 {
		t.Errorf("after new counts: users %d, firing %d, conditions %d", got.Status.Users, got.Status.FiringAlerts, len(got.Status.Conditions))
	}
}
