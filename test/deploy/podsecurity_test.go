package deploy_test

import (
	"fmt"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// restrictedNamespace enforces the restricted Pod Security Standard, so a
// dry-run Pod created in it goes through the API server's own PodSecurity
// admission.
const restrictedNamespace = "psa-restricted"

var restrictedLatest = psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}

// forbiddenByRestricted evaluates a pod template with the Pod Security
// Admission library's checks at the restricted level, latest version, and
// returns what they forbid.
func forbiddenByRestricted(tmpl *corev1.PodTemplateSpec) []string {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	Expect(err).NotTo(HaveOccurred())
	results := evaluator.EvaluatePod(restrictedLatest, &tmpl.ObjectMeta, &tmpl.Spec)
	Expect(results).NotTo(BeEmpty(), "the restricted checks ran")
	var forbidden []string
	for _, r := range results {
		if !r.Allowed {
			forbidden = append(forbidden, fmt.Sprintf("%s (%s)", r.ForbiddenReason, r.ForbiddenDetail))
		}
	}
	return forbidden
}

// admitPod creates, with dry-run, a Pod from the template in a namespace
// enforcing restricted; the error is the API server's PodSecurity verdict.
func admitPod(tmpl *corev1.PodTemplateSpec) error {
	ensureNamespace(restrictedNamespace, map[string]string{
		psapi.EnforceLevelLabel:   string(psapi.LevelRestricted),
		psapi.EnforceVersionLabel: psapi.VersionLatest,
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "manager-psa-check", Namespace: restrictedNamespace, Labels: tmpl.Labels},
		Spec:       *tmpl.Spec.DeepCopy(),
	}
	return k8s.Create(ctx, pod, client.DryRunAll)
}

// expectRestricted asserts the manager's pod template passes the restricted
// Pod Security Standard, by the library and by the API server.
func expectRestricted(d *appsv1.Deployment) {
	tmpl := &d.Spec.Template
	Expect(forbiddenByRestricted(tmpl)).To(BeEmpty(), "restricted Pod Security Standard checks on Deployment %s", d.Name)
	Expect(admitPod(tmpl)).To(Succeed(), "PodSecurity admission (enforce=restricted) of Deployment %s's pod", d.Name)
}
