package evaluator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// comparable keeps what must not depend on how the evaluation got there.
func comparable(s journey.Snapshot) journey.Snapshot {
	s.EvaluatedAt, s.Sources, s.Feedback = time.Time{}, nil, nil
	for i := range s.Alerts {
		s.Alerts[i].Instances = nil
	}
	return s
}

// After a batch of new events, an incremental evaluation (only the users
// with new events re-evaluated) equals a full recompute.
func TestIncrementalEqualsFull(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	asOf, st := smp.asOf, smp.store
	cfg := render.JourneyConfig(&smp.journey, smp.sources)
	clock := func() time.Time { return asOf }
	env, _ := expr.NewEnv()
	reg := prometheus.NewRegistry()
	inc, err := evaluator.New(env, cfg, st, nil, reg, clock, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inc.Once(ctx); err != nil {
		t.Fatal(err)
	}

	// About 1% new events over the last day: existing users stream, fail
	// payments and churn; new users browse and start trials.
	r := rand.New(rand.NewPCG(7, 7))
	var playback, billing, catalog []store.Event
	event := func(source, touchpoint, id, user, typ string, at time.Time, attrs map[string]any) store.Event {
		return store.Event{Source: "default/" + source, Namespace: "default", EventID: id, UserID: user, Touchpoint: touchpoint,
			System: "test", Type: typ, OccurredAt: at, Attributes: attrs, RunID: "late"}
	}
	for i := 0; i < 250; i++ {
		at := asOf.Add(-time.Duration(r.IntN(24*60)) * time.Minute)
		user := fmt.Sprintf("cus_%06d", r.IntN(2500)) // some exist, some are new
		switch r.IntN(5) {
		case 0:
			billing = append(billing, event("billing-stripe", "billing", fmt.Sprintf("evt_late_%d", i), user, "invoice.payment_failed", at, nil))
		case 1:
			billing = append(billing, event("billing-stripe", "billing", fmt.Sprintf("evt_late_%d", i), user, "customer.subscription.deleted", at, nil))
		case 2:
			catalog = append(catalog, event("catalog-views", "catalog", fmt.Sprintf("view_late_%d", i), user, "catalog.title_viewed", at, nil))
		default:
			playback = append(playback, event("playback-sessions", "playback", fmt.Sprintf("ses_late_%d", i), user, "playback.session", at,
				map[string]any{"minutes": float64(r.IntN(180))}))
		}
	}
	for src, evs := range map[string][]store.Event{"default/playback-sessions": playback, "default/billing-stripe": billing, "default/catalog-views": catalog} {
		if _, err := st.Commit(ctx, store.Batch{Source: src, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}

	got, err := inc.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), clock, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := full.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(comparable(got), comparable(want)) {
		t.Errorf("incremental:\n%+v\nfull:\n%+v", comparable(got), comparable(want))
	}
	if got.Users <= 2000 {
		t.Errorf("new users did not appear: %d users", got.Users)
	}
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "journey_events_behind_watermark" {
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 250 {
				t.Errorf("the incremental evaluation caught up %v events, want the 250 new ones", v)
			}
		}
	}
}
