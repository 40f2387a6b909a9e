package render_test

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

func segmentSource(replicas *int32, suspend bool) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "app-events", UID: "uid-1"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "app", Suspend: suspend,
			Webhook: &v1alpha1.WebhookSource{Path: "/segment", Protocol: v1alpha1.WebhookProtocolSegment, Replicas: replicas,
				WriteKeySecretRef: &v1alpha1.SecretKeyRef{Name: "segment-write-key", Key: "key"}},
		},
	}
}

// Replicas reach the Deployment when set; unset, the count is left out of
// what the operator applies, so an autoscaler (or kubectl scale) owns it.
// Suspended, there is none.
func TestReceiverReplicas(t *testing.T) {
	opts := render.Options{Image: "journey:test"}
	for _, tc := range []struct {
		name     string
		replicas *int32
		suspend  bool
		want     *int32
	}{
		{"unset", nil, false, nil},
		{"one", ptr.To[int32](1), false, ptr.To[int32](1)},
		{"three", ptr.To[int32](3), false, ptr.To[int32](3)},
		{"three, suspended", ptr.To[int32](3), true, ptr.To[int32](0)},
		{"unset, suspended", nil, true, ptr.To[int32](0)},
	} {
		dep := render.ReceiverDeployment(segmentSource(tc.replicas, tc.suspend), "sha256:h", opts)
		if got := dep.Spec.Replicas; (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: replicas %v, want %v", tc.name, ptr.Deref(got, -1), ptr.Deref(tc.want, -1))
		}
	}
}

// A PodDisruptionBudget from two replicas on: one receiver evicted at a
// time, unready ones always, selecting exactly the receiver's pods, owned
// by the source.
func TestReceiverPodDisruptionBudget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas *int32
		suspend  bool
		want     bool
	}{
		{"unset", nil, false, false},
		{"one", ptr.To[int32](1), false, false},
		{"two", ptr.To[int32](2), false, true},
		{"five", ptr.To[int32](5), false, true},
		{"five, suspended", ptr.To[int32](5), true, false},
	} {
		src := segmentSource(tc.replicas, tc.suspend)
		pdb := render.ReceiverPodDisruptionBudget(src)
		if (pdb != nil) != tc.want {
			t.Errorf("%s: PodDisruptionBudget %v, want one: %v", tc.name, pdb != nil, tc.want)
			continue
		}
		if pdb == nil {
			continue
		}
		dep := render.ReceiverDeployment(src, "sha256:h", render.Options{Image: "journey:test"})
		if pdb.Name != "app-events-receiver" || pdb.Namespace != "media" || pdb.Kind != "PodDisruptionBudget" || pdb.APIVersion != "policy/v1" {
			t.Errorf("%s: %s %s/%s", tc.name, pdb.Kind, pdb.Namespace, pdb.Name)
		}
		if refs := pdb.OwnerReferences; len(refs) != 1 || refs[0].Kind != "TouchpointSource" || refs[0].Name != "app-events" || !*refs[0].Controller {
			t.Errorf("%s: owners %v", tc.name, refs)
		}
		if pdb.Labels[render.LabelManagedBy] != render.ManagedBy {
			t.Errorf("%s: labels %v: the operator's cache sees only what it manages", tc.name, pdb.Labels)
		}
		spec := pdb.Spec
		if spec.MinAvailable != nil || spec.MaxUnavailable == nil || *spec.MaxUnavailable != intstr.FromInt32(1) ||
			ptr.Deref(spec.UnhealthyPodEvictionPolicy, "") != policyv1.AlwaysAllow {
			t.Errorf("%s: %+v", tc.name, spec)
		}
		if !maps.Equal(spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
			t.Errorf("%s: selects %v, the Deployment %v", tc.name, spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels)
		}
	}
}

// A Segment receiver mounts its write key, only that key of its Secret, and
// runs restricted like every pod.
func TestSegmentReceiverMountsTheWriteKey(t *testing.T) {
	src := segmentSource(ptr.To[int32](2), false)
	if refs := render.SourceSecretRefs(src.Spec); len(refs) != 1 || refs[0] != *src.Spec.Webhook.WriteKeySecretRef {
		t.Errorf("secret refs %v", refs)
	}
	dep := render.ReceiverDeployment(src, "sha256:h", render.Options{Image: "journey:test"})
	pod := dep.Spec.Template
	var mounted bool
	for _, v := range pod.Spec.Volumes {
		if s := v.Secret; s != nil && s.SecretName == "segment-write-key" && len(s.Items) == 1 && s.Items[0] == (corev1.KeyToPath{Key: "key", Path: "key"}) {
			mounted = true
		}
	}
	c := pod.Spec.Containers[0]
	var at bool
	for _, m := range c.VolumeMounts {
		at = at || m.MountPath == runconfig.SecretsDir+"/segment-write-key"
	}
	if !mounted || !at {
		t.Errorf("the write key is not mounted where the receiver reads it: volumes %v, mounts %v", pod.Spec.Volumes, c.VolumeMounts)
	}
	if v, err := testutil.RestrictedViolations(pod.ObjectMeta, pod.Spec); err != nil || len(v) > 0 {
		t.Errorf("restricted Pod Security: %v %v", v, err)
	}
}
