package evaluator_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// comparable keeps what must not depend on how the evaluation got there.
func comparable(s journey.Snapshot) journey.Snapshot {
	s.Name, s.EvaluatedAt, s.Sources, s.Feedback = "", time.Time{}, nil, nil
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
	cfg := withoutPrediction(render.JourneyConfig(&smp.journey, smp.sources))
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

	commitLateEvents(t, st, asOf)

	got, err := inc.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fullRecompute(t, cfg, st, asOf)
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

// commitLateEvents commits 250 new events (about 1%) over the sample's last
// day: existing users stream, fail payments and churn; new users browse.
func commitLateEvents(t *testing.T, st store.Store, asOf time.Time) {
	t.Helper()
	ctx := context.Background()
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

}

// fullRecompute evaluates the map from every event: under another name, so
// that no state saved for the map is used.
func fullRecompute(t *testing.T, cfg runconfig.Journey, st store.Store, asOf time.Time) journey.Snapshot {
	t.Helper()
	cfg.Name += "-recomputed"
	env, _ := expr.NewEnv()
	full, err := evaluator.New(env, cfg, st, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := full.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// countingStore counts the events evaluators read (from several readers
// at once).
type countingStore struct {
	store.Store
	n atomic.Int64
}

func (c *countingStore) read() int { return int(c.n.Load()) }

func (c *countingStore) ScanEvents(ctx context.Context, q store.EventQuery, fn func(*store.Event, []byte) error) error {
	return c.Store.ScanEvents(ctx, q, func(e *store.Event, attrs []byte) error {
		c.n.Add(1)
		return fn(e, attrs)
	})
}

func (c *countingStore) ScanSlices(ctx context.Context, q store.EventQuery, n int, fn func(int, *store.Event, []byte) error) error {
	return c.Store.ScanSlices(ctx, q, n, func(slice int, e *store.Event, attrs []byte) error {
		c.n.Add(1)
		return fn(slice, e, attrs)
	})
}

// failingStore fails reading events once, after a number of them.
type failingStore struct {
	store.Store
	failAfter atomic.Int64 // events; < 0: never
}

var errReadFailed = errors.New("the connection broke")

func (f *failingStore) ScanEvents(ctx context.Context, q store.EventQuery, fn func(*store.Event, []byte) error) error {
	return f.Store.ScanEvents(ctx, q, func(e *store.Event, attrs []byte) error {
		if f.failAfter.Add(-1) == -1 {
			return errReadFailed
		}
		return fn(e, attrs)
	})
}

// An evaluation that fails partway through the new events leaves no user
// half-evaluated: the next one gives what a full recompute gives, without
// counting again the events the failed one got through.
func TestFailedUpdateCountsNothingTwice(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	cfg := withoutPrediction(render.JourneyConfig(&smp.journey, smp.sources))
	env, _ := expr.NewEnv()
	fs := &failingStore{Store: smp.store}
	fs.failAfter.Store(-1 << 40)
	ev, err := evaluator.New(env, cfg, fs, nil, prometheus.NewRegistry(), func() time.Time { return smp.asOf }, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Once(ctx); err != nil {
		t.Fatal(err)
	}
	commitLateEvents(t, smp.store, smp.asOf)
	fs.failAfter.Store(240) // of the 250 new events
	if _, err := ev.Once(ctx); !errors.Is(err, errReadFailed) {
		t.Fatalf("the evaluation with a broken read: %v", err)
	}
	fs.failAfter.Store(-1 << 40)
	got, err := ev.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fullRecompute(t, cfg, smp.store, smp.asOf); !reflect.DeepEqual(comparable(got), comparable(want)) {
		t.Errorf("after a failed evaluation:\n%+v\nrecomputed:\n%+v", comparable(got), comparable(want))
	}
}

// An evaluator that restarts goes on from the user states saved in the
// store and reads only the events ingested since; one whose stages changed
// evaluates every event again.
func TestRestartResumesFromSavedStates(t *testing.T) {
	ctx := context.Background()
	smp := newSample(t)
	asOf := smp.asOf
	cfg := withoutDrillDown(withoutPrediction(render.JourneyConfig(&smp.journey, smp.sources)))
	env, _ := expr.NewEnv()
	start := func(cfg runconfig.Journey) (*evaluator.Evaluator, *countingStore) {
		c := &countingStore{Store: smp.store}
		ev, err := evaluator.New(env, cfg, c, nil, prometheus.NewRegistry(), func() time.Time { return asOf }, logr.Discard(), evaluator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return ev, c
	}
	first, c1 := start(cfg)
	// Evaluate publishes without saving the user states; Persist saves them.
	saved := func() bool {
		doc, err := smp.store.LoadState(ctx, cfg.Namespace+"/"+cfg.Name, "users")
		if err != nil {
			t.Fatal(err)
		}
		return doc != nil
	}
	if _, err := first.Evaluate(ctx); err != nil || saved() {
		t.Fatalf("Evaluate: %v; states saved: %v, want not yet", err, saved())
	}
	if err := first.Persist(ctx); err != nil || !saved() {
		t.Fatalf("Persist: %v; states saved: %v", err, saved())
	}
	total := c1.read()
	if total < 10_000 {
		t.Fatalf("the first evaluation read %d events", total)
	}

	commitLateEvents(t, smp.store, asOf)
	second, c2 := start(cfg) // a new process
	got, err := second.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c2.read() < 250 || c2.read() > total/10 {
		t.Errorf("after a restart the evaluator read %d events of %d; want the 250 new ones and the history of late ones' users only", c2.read(), total)
	}
	if want := fullRecompute(t, cfg, smp.store, asOf); !reflect.DeepEqual(comparable(got), comparable(want)) {
		t.Errorf("resumed:\n%+v\nrecomputed:\n%+v", comparable(got), comparable(want))
	}
	// Nothing new: nothing read.
	c2.n.Store(0)
	if _, err := second.Once(ctx); err != nil || c2.read() != 0 {
		t.Errorf("an evaluation with nothing new read %d events (%v)", c2.read(), err)
	}

	changed := cfg
	changed.Spec = *cfg.Spec.DeepCopy()
	changed.Spec.Stages[3].EnterWhen = `user.sum("playback", "minutes", duration("168h")) >= 240.0`
	third, c3 := start(changed)
	if _, err := third.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if c3.read() != total+250 {
		t.Errorf("with a changed stage the evaluator read %d events, want all %d", c3.read(), total+250)
	}
}

// withoutPrediction leaves the churn model out: training reads every event
// once a day, which these tests of what an evaluation reads do not count.
func withoutPrediction(cfg runconfig.Journey) runconfig.Journey {
	cfg.Spec.Prediction = nil
	return cfg
}

// withoutDrillDown leaves the page and its drill-down out: the drill-down
// reads every user's segments and revenue once when an evaluator starts
// (measured in bench-journey), which these tests do not count.
func withoutDrillDown(cfg runconfig.Journey) runconfig.Journey {
	cfg.Spec.Dashboard = &v1alpha1.Dashboard{Enabled: false}
	return cfg
}
