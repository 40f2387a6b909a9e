package evaluator_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// An evaluator keeps the journey its states hold once months of events
// are retired by policy: evaluating again, and restarting from the saved
// states, give the journey evaluated before the retirement, although the
// events left alone give another.
func TestRetirementKeepsTheJourney(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	asOf := smp.asOf
	cfg := withoutDrillDown(withoutPrediction(render.JourneyConfig(&smp.journey, smp.sources)))
	env, _ := expr.NewEnv()
	start := func() *evaluator.Evaluator {
		ev, err := evaluator.New(env, cfg, smp.store, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	historyFrom := func(reg *prometheus.Registry) float64 {
		families, _ := reg.Gather()
		for _, f := range families {
			if f.GetName() == "journey_history_from_timestamp_seconds" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no journey_history_from_timestamp_seconds")
		return 0
	}
	first := start()
	want, err := first.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	horizon := time.Date(asOf.Year(), asOf.Month(), 1, 0, 0, 0, 0, time.UTC)
	res, err := smp.store.Retire(ctx, store.RetireRequest{Before: horizon, Actor: "test", Reason: "retention test"})
	if err != nil || res.Entry == nil {
		t.Fatalf("Retire: %+v, %v", res, err)
	}
	again, err := first.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := start().Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]any{"evaluated again": comparable(again), "restarted": comparable(restarted)} {
		if !reflect.DeepEqual(got, comparable(want)) {
			t.Errorf("%s after the retirement:\n%+v\nbefore:\n%+v", name, got, comparable(want))
		}
	}
	if left := fullRecompute(t, cfg, smp.store, asOf); reflect.DeepEqual(comparable(left), comparable(want)) {
		t.Error("the events left give the same journey: the retirement proves nothing")
	}

	// A changed map is evaluated from the events left, and says from when.
	changed := cfg
	changed.Spec = *cfg.Spec.DeepCopy()
	changed.Spec.Stages[3].EnterWhen = `user.sum("playback", "minutes", duration("168h")) >= 240.0`
	reg := prometheus.NewRegistry()
	ev, err := evaluator.New(env, changed, smp.store, nil, reg, func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if got := historyFrom(reg); got != float64(horizon.Unix()) {
		t.Errorf("a map evaluated after the retirement has history from %v, want %v", got, horizon.Unix())
	}
	reg = prometheus.NewRegistry()
	if ev, err = evaluator.New(env, changed, smp.store, nil, reg, func() time.Time { return asOf }, logr.Discard(), evaluator.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Once(ctx); err != nil || historyFrom(reg) != float64(horizon.Unix()) {
		t.Errorf("restarted, it has history from %v (%v), want %v", historyFrom(reg), err, horizon.Unix())
	}
}
