package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
)

// appEvents is a Segment source with no mapping: its messages map by default.
func appEvents(ns string, replicas *int32) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-events"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "app", System: "segment",
			Webhook: &v1alpha1.WebhookSource{Path: "/segment", Protocol: v1alpha1.WebhookProtocolSegment, Replicas: replicas,
				WriteKeySecretRef: &v1alpha1.SecretKeyRef{Name: "segment-write-key", Key: "key"}},
		},
	}
}

func pdbGone(g Gomega, ns, name string) {
	err := k8s.Get(ctx, key(ns, name), &policyv1.PodDisruptionBudget{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "PodDisruptionBudget %s: %v", name, err)
}

var _ = Describe("a Segment source whose write key's Secret is missing", func() {
	It("is not Ready, naming the Secret, and recovers once it appears", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, appEvents(ns, nil))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(getSource(ns, "app-events"), "Ready")).To(HavePrefix(`False/SecretMissing: Secret "segment-write-key" not found in namespace ` + ns))
		}, timeout).Should(Succeed())
		createSecret(ns, "segment-write-key", "key")
		Eventually(func(g Gomega) {
			markAvailable(g, ns, "app-events-receiver")
			g.Expect(condition(getSource(ns, "app-events"), "Ready")).To(HavePrefix("True/Applied"))
		}, timeout).Should(Succeed())
	})
})

var _ = Describe("receivers that scale out", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		createSecret(ns, "journey-store", "dsn")
		createSecret(ns, "segment-write-key", "key")
	})

	It("keeps a Segment source's replicas, with a PodDisruptionBudget from two on, and removes it below", func() {
		Expect(k8s.Create(ctx, appEvents(ns, ptr.To[int32](3)))).To(Succeed(), "a Segment source needs no mapping")
		var pdb policyv1.PodDisruptionBudget
		Eventually(func() error { return k8s.Get(ctx, key(ns, "app-events-receiver"), &pdb) }, timeout).Should(Succeed())
		expectControlledBy(&pdb, "TouchpointSource", "app-events")
		Expect(pdb.Spec.MaxUnavailable).To(Equal(ptr.To(intstr.FromInt32(1))))
		Expect(pdb.Spec.MinAvailable).To(BeNil())
		Expect(pdb.Spec.UnhealthyPodEvictionPolicy).To(Equal(ptr.To(policyv1.AlwaysAllow)))

		var dep appsv1.Deployment
		Expect(k8s.Get(ctx, key(ns, "app-events-receiver"), &dep)).To(Succeed())
		Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](3)))
		Expect(pdb.Spec.Selector.MatchLabels).To(Equal(dep.Spec.Selector.MatchLabels))
		Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(render.LabelComponent, render.ComponentReceiver))
		expectRestricted(dep.Spec.Template.ObjectMeta, dep.Spec.Template.Spec)
		Expect(dep.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", "segment-write-key")))

		Eventually(func(g Gomega) {
			markAvailable(g, ns, "app-events-receiver")
			src := getSource(ns, "app-events")
			g.Expect(condition(src, "Ready")).To(HavePrefix("True/Applied: receiver Deployment app-events-receiver is available"))
			g.Expect(src.Status.ObservedGeneration).To(Equal(src.Generation))
		}, timeout).Should(Succeed())

		updateSource(ns, "app-events", func(src *v1alpha1.TouchpointSource) { src.Spec.Webhook.Replicas = ptr.To[int32](1) })
		Eventually(func(g Gomega) {
			pdbGone(g, ns, "app-events-receiver")
			g.Expect(k8s.Get(ctx, key(ns, "app-events-receiver"), &dep)).To(Succeed())
			g.Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](1)))
		}, timeout).Should(Succeed())

		updateSource(ns, "app-events", func(src *v1alpha1.TouchpointSource) {
			src.Spec.Webhook.Replicas = ptr.To[int32](2)
			src.Spec.Suspend = true
		})
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "app-events-receiver"), &dep)).To(Succeed())
			g.Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](0)))
			g.Expect(condition(getSource(ns, "app-events"), "Ready")).To(HavePrefix("True/Suspended"))
		}, timeout).Should(Succeed())
		Consistently(func(g Gomega) { pdbGone(g, ns, "app-events-receiver") }, 2*time.Second, 200*time.Millisecond).Should(Succeed(),
			"a suspended source has no receiver to keep")
	})

	It("leaves the count of a receiver without replicas to whoever scales it (an autoscaler)", func() {
		Expect(k8s.Create(ctx, appEvents(ns, nil))).To(Succeed())
		var dep appsv1.Deployment
		Eventually(func() error { return k8s.Get(ctx, key(ns, "app-events-receiver"), &dep) }, timeout).Should(Succeed())
		Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](1)), "the API server's default until someone scales it")
		for _, mf := range dep.ManagedFields {
			if mf.Manager == "journey-operator" {
				Expect(string(mf.FieldsV1.Raw)).NotTo(ContainSubstring(`"f:replicas"`), "the operator does not own the count")
			}
		}

		// Scale it as a HorizontalPodAutoscaler does, then make the operator
		// reconcile the source: the count stays.
		patch := client.MergeFrom(dep.DeepCopy())
		dep.Spec.Replicas = ptr.To[int32](4)
		Expect(k8s.Patch(ctx, &dep, patch, client.FieldOwner("horizontal-pod-autoscaler"))).To(Succeed())
		updateSource(ns, "app-events", func(src *v1alpha1.TouchpointSource) {
			src.Annotations = map[string]string{v1alpha1.RequestedAtAnnotation: "scaled"}
		})
		Eventually(func(g Gomega) {
			g.Expect(getSource(ns, "app-events").Status.LastHandledRequestedAt).To(Equal("scaled"))
		}, timeout).Should(Succeed())
		Expect(k8s.Get(ctx, key(ns, "app-events-receiver"), &dep)).To(Succeed())
		Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](4)))
		Eventually(func(g Gomega) {
			markAvailable(g, ns, "app-events-receiver")
			g.Expect(condition(getSource(ns, "app-events"), "Ready")).To(HavePrefix("True/Applied"))
		}, timeout).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "app-events-receiver"), &dep)).To(Succeed())
			g.Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](4)))
			pdbGone(g, ns, "app-events-receiver")
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})
