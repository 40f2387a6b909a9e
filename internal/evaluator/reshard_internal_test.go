package evaluator

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Every shard of a new layout works out the same generation, before and
// after the merging shard records it; a number of shards the map comes
// back to is a new generation, whose state is its own and whose previous
// layout is the one it follows, not the stale state of the first time.
func TestLayoutGenerations(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "journey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg := runconfig.Journey{Namespace: "media", Name: "streaming",
		Spec: v1alpha1.JourneyMapSpec{Stages: []v1alpha1.Stage{{Name: "Seen", EnterWhen: `true`}}}}
	shard := func(k, n int) *Evaluator {
		ev, err := New(env, cfg, st, nil, prometheus.NewRegistry(), time.Now, logr.Discard(), Options{Shard: journey.Shard{Index: k, Count: n}})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	type want struct {
		id   string
		prev *layout
	}
	for i, step := range []struct {
		shards int
		want   want
	}{
		{1, want{"media/streaming", nil}},
		{3, want{"media/streaming#shard-1/3@1", &layout{Shards: 1}}},
		{2, want{"media/streaming#shard-1/2@2", &layout{Shards: 3, Generation: 1}}},
		{3, want{"media/streaming#shard-1/3@3", &layout{Shards: 2, Generation: 2}}},
		{1, want{"media/streaming#shard-0/1@4", &layout{Shards: 3, Generation: 3}}},
	} {
		k := min(1, step.shards-1)
		// A shard other than 0 starts first, then shard 0 records the layout,
		// then that shard restarts: both times the same generation.
		for _, restarted := range []bool{false, true} {
			ev := shard(k, step.shards)
			if err := ev.restore(ctx); err != nil {
				t.Fatal(err)
			}
			gen, prev, err := ev.resolveLayout(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ev.generation = gen
			if got := ev.stateID(); got != step.want.id || !samePrev(prev, step.want.prev) {
				t.Errorf("step %d (%d shards, restarted %v): state %s after %+v; want %s after %+v", i, step.shards, restarted, got, prev, step.want.id, step.want.prev)
			}
			if !restarted {
				if err := shard(0, step.shards).restore(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func samePrev(a, b *layout) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
