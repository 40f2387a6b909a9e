package evaluator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// Three shards on one store find exactly what one evaluator of every user
// finds, over two evaluations an alert's `for` apart: stages, moves,
// funnel, User- and Journey-scoped alerts, surveys. Together they send
// each user's alert and survey once, the Journey-scoped alert only from
// shard 0. A shard that dies after delivering and before saving its
// users' states, and is restarted, changes nothing and sends nothing
// again. Shard 0 waits for every shard's first figures. Resharding to two
// carries every alert's `for` and every survey's cooldown over.
func TestShardedEvaluationEqualsOne(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	st, asOf := smp.store, smp.asOf
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	since, _ := json.Marshal(asOf.Add(-14 * 24 * time.Hour))
	type run struct {
		am, survey *recorder
		cfg        runconfig.Journey
	}
	// The two runs are two maps on one store, as if deployed side by side.
	newRun := func(name string) *run {
		r := &run{am: &recorder{}, survey: &recorder{}}
		amSrv, surveySrv := httptest.NewServer(r.am), httptest.NewServer(r.survey)
		t.Cleanup(amSrv.Close)
		t.Cleanup(surveySrv.Close)
		jm := *smp.journey.DeepCopy()
		jm.Name = name
		if err := st.SaveState(ctx, "default/"+name, "feedback-since", since); err != nil {
			t.Fatal(err)
		}
		jm.Spec.Prediction = nil // each shard would learn from its own users
		jm.Spec.Dashboard = &v1alpha1.Dashboard{Enabled: false}
		jm.Spec.Alerts = append(jm.Spec.Alerts, v1alpha1.Alert{Name: "TrialsConvertBelowNinetyPercent", Scope: v1alpha1.AlertScopeJourney,
			Expression: `journey.conversion("Trial", "Subscribed") < 0.9`, For: &metav1.Duration{Duration: time.Hour}})
		jm.Spec.Notify = &v1alpha1.Notify{Alertmanager: &v1alpha1.AlertmanagerTarget{URL: amSrv.URL}}
		jm.Spec.Feedback = []v1alpha1.FeedbackTrigger{{Name: "exit-survey", OnEnter: "Churned", Webhook: v1alpha1.WebhookTarget{URL: surveySrv.URL}}}
		r.cfg = render.JourneyConfig(&jm, smp.sources)
		return r
	}
	times := []time.Time{asOf.Add(-90 * time.Minute), asOf}
	var now time.Time
	clock := func() time.Time { return now }
	start := func(r *run, shard journey.Shard) *evaluator.Evaluator {
		t.Helper()
		ev, err := evaluator.New(env, r.cfg, st, nil, prometheus.NewRegistry(), clock, logr.Discard(), evaluator.Options{Shard: shard})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}

	one := newRun("streaming-journey")
	whole := start(one, journey.Shard{})
	var want []journey.Snapshot
	for _, now = range times {
		s, err := whole.Once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	last := want[1].Alerts
	if last[0].Firing == 0 || last[len(last)-1].Firing != 1 || want[0].Alerts[len(last)-1].Firing != 0 || want[1].Feedback[0].Sent == 0 {
		t.Fatalf("the comparison proves little: alerts %+v, then %+v; feedback %+v", want[0].Alerts, last, want[1].Feedback)
	}

	sharded := newRun("streaming-journey-sharded")
	const count = 3
	shards := make([]*evaluator.Evaluator, count)
	for k := range shards {
		shards[k] = start(sharded, journey.Shard{Index: k, Count: count})
	}
	now = times[0]
	if _, err := shards[0].Once(ctx); !errors.Is(err, evaluator.ErrShardsMissing) {
		t.Fatalf("shard 0 before the others' first evaluation: %v; want it to wait for them", err)
	}
	for i, at := range times {
		now = at
		for k := count - 1; k >= 0; k-- {
			if k == 1 && i == 1 {
				// Shard 1 dies after delivering, before saving its users' states.
				if _, err := shards[k].Evaluate(ctx); err != nil {
					t.Fatal(err)
				}
				shards[k] = start(sharded, journey.Shard{Index: k, Count: count})
			}
			if _, err := shards[k].Once(ctx); err != nil {
				t.Fatalf("shard %d: %v", k, err)
			}
		}
		got := shards[0].Last()
		if !reflect.DeepEqual(shared(got), shared(want[i])) {
			t.Errorf("at %s, merged from %d shards:\n got %+v\nwant %+v", at, count, shared(got), shared(want[i]))
		}
	}

	// Two shards take over from the three: each user's alert `for` and
	// survey cooldown go with them, so nothing falls back to pending and
	// nobody is surveyed again.
	now = asOf.Add(30 * time.Minute)
	again, err := whole.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k >= 0; k-- {
		ev := start(sharded, journey.Shard{Index: k, Count: 2})
		if _, err := ev.Once(ctx); err != nil {
			t.Fatalf("shard %d of 2: %v", k, err)
		}
		if k == 0 && !reflect.DeepEqual(shared(ev.Last()), shared(again)) {
			t.Errorf("after resharding to 2:\n got %+v\nwant %+v", shared(ev.Last()), shared(again))
		}
	}

	for what, pair := range map[string][2][]string{
		"alerts":  {alerted(t, one.am), alerted(t, sharded.am)},
		"surveys": {surveyed(t, one.survey), surveyed(t, sharded.survey)},
	} {
		if len(pair[0]) == 0 || !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s sent by one evaluator %v, by the shards %v", what, pair[0], pair[1])
		}
	}

	// A shard's page has no drill-down, and says why.
	jm := *smp.journey.DeepCopy()
	cfg := render.JourneyConfig(&jm, smp.sources)
	page, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), clock, logr.Discard(), evaluator.Options{Shard: journey.Shard{Index: 0, Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page.Handler(prometheus.NewRegistry()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/journey")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !json.Valid(body) || !strings.Contains(string(body), "shards") {
		t.Errorf("drill-down of a sharded evaluation: %d %s", resp.StatusCode, body)
	}
	if _, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), clock, logr.Discard(), evaluator.Options{Shard: journey.Shard{Index: 2, Count: 2}}); err == nil {
		t.Error("shard 2 of 2 was accepted")
	}
}

// shared is what a merged snapshot must share with one evaluator's.
func shared(s journey.Snapshot) journey.Snapshot {
	s.Sources, s.Name = nil, ""
	return s
}

// alerted is every (alert, user) an Alertmanager was sent as firing,
// counted once per sender payload, sorted.
func alerted(t *testing.T, am *recorder) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, body := range am.all() {
		var alerts []struct{ Labels map[string]string }
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Fatalf("Alertmanager payload: %v", err)
		}
		for _, a := range alerts {
			seen[a.Labels["alertname"]+"/"+a.Labels["user"]] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// surveyed is every user surveyed; a user surveyed twice fails the test.
func surveyed(t *testing.T, r *recorder) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, body := range r.all() {
		var req struct{ User string }
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		if seen[req.User] {
			t.Errorf("user %s surveyed twice", req.User)
		}
		seen[req.User] = true
	}
	return slices.Sorted(maps.Keys(seen))
}
