package controllers_test

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// A quota is how a platform team most often refuses an operator's objects;
// the condition must say which step the API server refused.
var _ = Describe("reconcile failures", func() {
	// refuse makes the namespace's quota allow no object of the resource
	// (e.g. "count/jobs.batch"). Its status is written here, as the quota
	// controller (absent from envtest) would.
	refuse := func(ns, resourceName string) {
		rq := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "none"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceName(resourceName): resource.MustParse("0")}},
		}
		Expect(k8s.Create(ctx, rq)).To(Succeed())
		rq.Status = corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourceName(resourceName): resource.MustParse("0")},
			Used: corev1.ResourceList{corev1.ResourceName(resourceName): resource.MustParse("0")},
		}
		Expect(k8s.Status().Update(ctx, rq)).To(Succeed())
	}

	It("says ApplyFailed, naming the object, when a workload is refused", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		refuse(ns, "count/cronjobs.batch")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		Eventually(func(g Gomega) {
			src := getSource(ns, "billing")
			g.Expect(condition(src, "Ready")).To(And(HavePrefix("False/ApplyFailed: applying CronJob billing-ingest: "), ContainSubstring("exceeded quota")))
			g.Expect(condition(src, "Reconciling")).To(HavePrefix("True/"))
		}, timeout).Should(Succeed())
	})

	It("says JobCreateFailed when a requested run's Job is refused, and recovers once it is allowed", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		refuse(ns, "count/jobs.batch")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		updateSource(ns, "billing", func(src *v1alpha1.TouchpointSource) {
			src.Annotations = map[string]string{v1alpha1.RequestedAtAnnotation: "2026-12-03T16:00:00Z"}
		})
		Eventually(func(g Gomega) {
			g.Expect(condition(getSource(ns, "billing"), "Ready")).To(And(
				HavePrefix("False/JobCreateFailed: creating Job billing-ingest-"), ContainSubstring("for the requested run"), ContainSubstring("exceeded quota")))
		}, timeout).Should(Succeed())

		Expect(k8s.Delete(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "none"}})).To(Succeed())
		Eventually(func(g Gomega) {
			src := getSource(ns, "billing")
			g.Expect(src.Status.LastHandledRequestedAt).To(Equal("2026-12-03T16:00:00Z"))
			g.Expect(condition(src, "Ready")).NotTo(ContainSubstring("JobCreateFailed"))
		}, timeout).Should(Succeed())
	})
})
