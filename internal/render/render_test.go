package render_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
)

// memory is a container's memory request and limit, and its GOMEMLIMIT.
func memory(t *testing.T, c corev1.Container) (request, limit, goMemLimit string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == render.MemoryLimitEnv {
			goMemLimit = e.Value
		}
	}
	req, lim := c.Resources.Requests[corev1.ResourceMemory], c.Resources.Limits[corev1.ResourceMemory]
	return req.String(), lim.String(), goMemLimit
}

// Every workload's Go runtime keeps to 90% of its container's memory limit;
// an evaluator's memory is the manager's to size.
func TestMemory(t *testing.T) {
	jm := &v1alpha1.JourneyMap{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "streaming"}}
	src := &v1alpha1.TouchpointSource{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing"},
		Spec: v1alpha1.TouchpointSourceSpec{Batch: &v1alpha1.BatchSource{Schedule: "@hourly"}}}
	hook := &v1alpha1.TouchpointSource{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "stripe"},
		Spec: v1alpha1.TouchpointSourceSpec{Webhook: &v1alpha1.WebhookSource{}}}
	opts := render.Options{Image: "journey:test"}
	sized := opts
	sized.EvaluatorMemory = resource.MustParse("2Gi")
	for _, tc := range []struct {
		name                    string
		c                       corev1.Container
		request, limit, goLimit string
	}{
		{"evaluator", render.EvaluatorDeployment(jm, "h", opts).Spec.Template.Spec.Containers[0], "128Mi", "512Mi", "483183819"},
		{"evaluator, 2Gi", render.EvaluatorDeployment(jm, "h", sized).Spec.Template.Spec.Containers[0], "2Gi", "2Gi", "1932735276"},
		{"ingest", render.IngestCronJob(src, "h", opts).Spec.JobTemplate.Spec.Template.Spec.Containers[0], "128Mi", "512Mi", "483183819"},
		{"receiver", render.ReceiverDeployment(hook, "h", opts).Spec.Template.Spec.Containers[0], "64Mi", "256Mi", "241591905"},
	} {
		request, limit, goLimit := memory(t, tc.c)
		if request != tc.request || limit != tc.limit || goLimit != tc.goLimit {
			t.Errorf("%s: memory request %s, limit %s, GOMEMLIMIT %q; want %s, %s, %s", tc.name, request, limit, goLimit, tc.request, tc.limit, tc.goLimit)
		}
	}
}

// An evaluator's /tmp holds a full evaluation's events; its size is the
// manager's to set. Other workloads keep 1Gi.
func TestEvaluatorScratch(t *testing.T) {
	jm := &v1alpha1.JourneyMap{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "streaming"}}
	src := &v1alpha1.TouchpointSource{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing"},
		Spec: v1alpha1.TouchpointSourceSpec{Batch: &v1alpha1.BatchSource{Schedule: "@hourly"}}}
	tmp := func(spec corev1.PodSpec) string {
		for _, v := range spec.Volumes {
			if v.Name == "tmp" && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
				return v.EmptyDir.SizeLimit.String()
			}
		}
		return "none"
	}
	opts := render.Options{Image: "journey:test"}
	sized := opts
	sized.EvaluatorScratch = resource.MustParse("10Gi")
	for name, tc := range map[string]struct{ spec corev1.PodSpec }{
		"4Gi":  {render.EvaluatorDeployment(jm, "h", opts).Spec.Template.Spec},
		"10Gi": {render.EvaluatorDeployment(jm, "h", sized).Spec.Template.Spec},
		"1Gi":  {render.IngestCronJob(src, "h", sized).Spec.JobTemplate.Spec.Template.Spec},
	} {
		if got := tmp(tc.spec); got != name {
			t.Errorf("/tmp %s, want %s", got, name)
		}
	}
}
