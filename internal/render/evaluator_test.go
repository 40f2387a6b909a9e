package render_test

import (
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

func shardedMap(shards *int32, suspend bool) *v1alpha1.JourneyMap {
	jm := &v1alpha1.JourneyMap{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "streaming", UID: "uid-3"}}
	jm.Spec.Suspend = suspend
	if shards != nil {
		jm.Spec.Evaluation = &v1alpha1.Evaluation{Shards: shards}
	}
	return jm
}

// A sharded map's evaluators are a StatefulSet, one pod per shard started
// in parallel, each told its shard by its pod index; the pod is the one a
// map of one shard runs (restricted, the same container) but for that.
// The Service reaches shard 0, which serves the page.
func TestEvaluatorStatefulSet(t *testing.T) {
	opts := render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}}
	sts := render.EvaluatorStatefulSet(shardedMap(ptr.To[int32](4), false), "sha256:h", opts)
	if sts.Kind != "StatefulSet" || sts.Name != "streaming-evaluator" || sts.Namespace != "media" {
		t.Fatalf("%s %s/%s", sts.Kind, sts.Namespace, sts.Name)
	}
	if refs := sts.OwnerReferences; len(refs) != 1 || refs[0].Kind != "JourneyMap" || refs[0].Name != "streaming" {
		t.Errorf("owners %v", refs)
	}
	if ptr.Deref(sts.Spec.Replicas, 0) != 4 || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || sts.Spec.ServiceName != "streaming-evaluator" {
		t.Errorf("replicas %v, pod management %q, service %q", sts.Spec.Replicas, sts.Spec.PodManagementPolicy, sts.Spec.ServiceName)
	}
	pod := sts.Spec.Template
	for k, v := range sts.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("the selector %v does not select the pod %v", sts.Spec.Selector.MatchLabels, pod.Labels)
		}
	}
	c := pod.Spec.Containers[0]
	want := []string{"evaluate", "--config", runconfig.Path(), "--listen", ":8080", "--shard=$(JOURNEY_SHARD)", "--shards=4"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	var shard bool
	for _, e := range c.Env {
		shard = shard || e.Name == "JOURNEY_SHARD" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.labels['apps.kubernetes.io/pod-index']"
	}
	if !shard {
		t.Errorf("no shard from the pod index: env %v", c.Env)
	}
	if v, err := testutil.RestrictedViolations(pod.ObjectMeta, pod.Spec); err != nil || len(v) > 0 {
		t.Errorf("restricted Pod Security: %v %v", v, err)
	}
	one := render.EvaluatorDeployment(shardedMap(nil, false), "sha256:h", opts).Spec.Template
	oneC := one.Spec.Containers[0]
	c.Args, c.Env, oneC.Args, oneC.Env = nil, nil, nil, nil
	pod.Spec.Containers, one.Spec.Containers = nil, nil
	if !reflect.DeepEqual(c, oneC) || !reflect.DeepEqual(pod, one) {
		t.Errorf("a shard's pod differs from an unsharded evaluator's beyond its shard:\n%+v\n%+v", pod, one)
	}

	if got := ptr.Deref(render.EvaluatorStatefulSet(shardedMap(ptr.To[int32](4), true), "h", opts).Spec.Replicas, -1); got != 0 {
		t.Errorf("suspended: %d replicas", got)
	}
	for shards, want := range map[int32]map[string]string{
		1: {render.LabelJourney: "streaming", render.LabelComponent: render.ComponentEvaluator},
		4: {render.LabelJourney: "streaming", render.LabelComponent: render.ComponentEvaluator, render.PodIndexLabel: "0"},
	} {
		if got := render.EvaluatorService(shardedMap(ptr.To(shards), false)).Spec.Selector; !reflect.DeepEqual(got, want) {
			t.Errorf("%d shards: Service selects %v, want %v", shards, got, want)
		}
	}
}
