package journey_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// Shards, each evaluating its users (a full evaluation of the older half
// of the events, then an update with the rest), merge into exactly what
// one evaluation of every user finds: stages, moves, funnel with its
// medians, User- and Journey-scoped alerts with their `for`, across two
// evaluations. Every user is in exactly one shard.
func TestShardsMergeIntoTheWhole(t *testing.T) {
	smp := evaluate(t)
	ctx := context.Background()
	spec := *smp.spec.DeepCopy()
	spec.Alerts = append(spec.Alerts, v1alpha1.Alert{Name: "FewSubscribe", Scope: v1alpha1.AlertScopeJourney,
		Expression: `journey.conversion("Discovery", "Subscribed") < 0.9 && journey.users("Trial") > 0`, For: &metav1.Duration{Duration: time.Hour}})
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	whole, err := journey.NewEngine(env, spec)
	if err != nil {
		t.Fatal(err)
	}
	upTo, err := smp.store.LatestSeq(ctx, smp.sources)
	if err != nil {
		t.Fatal(err)
	}
	all, err := whole.EvaluateStore(ctx, smp.store, smp.sources, upTo)
	if err != nil {
		t.Fatal(err)
	}
	times := []time.Time{smp.asOf.Add(-2 * time.Hour), smp.asOf}
	var want []journey.Snapshot
	var mem journey.AlertMemory
	for _, at := range times {
		var s journey.Snapshot
		s, mem = whole.Snapshot("default", "streaming-journey", all, at, mem)
		want = append(want, s)
	}
	if a := want[1].Alerts; a[0].Firing == 0 || a[len(a)-1].Firing != 1 || want[0].Alerts[len(a)-1].Firing != 0 {
		t.Fatalf("the comparison proves little: alerts %+v then %+v", want[0].Alerts, a)
	}

	for _, count := range []int{2, 3} {
		engines := make([]*journey.Engine, count)
		users := make([]*journey.Users, count)
		mems := make([]journey.AlertMemory, count)
		seen := map[string]int{}
		for k := range count {
			if engines[k], err = journey.NewEngine(env, spec); err != nil {
				t.Fatal(err)
			}
			if err := engines[k].SetShard(journey.Shard{Index: k, Count: count}); err != nil {
				t.Fatal(err)
			}
			if users[k], err = engines[k].EvaluateStore(ctx, smp.store, smp.sources, upTo/2); err != nil {
				t.Fatal(err)
			}
			if _, _, err := engines[k].Update(ctx, smp.store, smp.sources, users[k], upTo/2, upTo); err != nil {
				t.Fatal(err)
			}
			for i := range users[k].Len() {
				seen[users[k].At(i).User]++
			}
		}
		if len(seen) != all.Len() {
			t.Fatalf("%d shards hold %d users, one evaluation %d", count, len(seen), all.Len())
		}
		for u, n := range seen {
			if n != 1 || all.Get(u) == nil {
				t.Fatalf("%d shards: user %s in %d of them", count, u, n)
			}
		}
		var journeyMem journey.AlertMemory
		for i, at := range times {
			parts := make([]journey.Partial, count)
			for k := range count {
				parts[k] = engines[k].PartialWhere(users[k], nil, true)
				mems[k] = engines[k].JudgeUserAlerts(&parts[k], users[k], at, mems[k])
			}
			merged, err := whole.Merge(parts...)
			if err != nil {
				t.Fatal(err)
			}
			var got journey.Snapshot
			got, journeyMem = whole.SnapshotOf("default", "streaming-journey", merged, at, journeyMem)
			if !reflect.DeepEqual(got, want[i]) {
				t.Errorf("%d shards at %s:\n got %+v\nwant %+v", count, at, got, want[i])
			}
		}
	}

	other := spec.DeepCopy()
	other.Stages = other.Stages[:3]
	three, err := journey.NewEngine(env, *other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := whole.Merge(three.PartialWhere(three.NewUsers(), nil, true)); err == nil {
		t.Error("a partial of another map's stages was merged")
	}
	if err := whole.SetShard(journey.Shard{Index: 2, Count: 2}); err == nil {
		t.Error("shard 2 of 2 was accepted")
	}
}
