package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
)

// markStatefulSetAvailable does what the StatefulSet controller and kubelet
// would, as markAvailable does for a Deployment.
func markStatefulSetAvailable(g Gomega, ns, name string) {
	var sts appsv1.StatefulSet
	g.Expect(k8s.Get(ctx, key(ns, name), &sts)).To(Succeed())
	n := ptr.Deref(sts.Spec.Replicas, 1)
	if sts.Status.ObservedGeneration == sts.Generation && sts.Status.AvailableReplicas == n {
		return
	}
	sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: n, CurrentReplicas: n,
		UpdatedReplicas: n, AvailableReplicas: n}
	g.Expect(k8s.Status().Update(ctx, &sts)).To(Succeed())
}

func shardedJourney(ns string, shards *int32) *v1alpha1.JourneyMap {
	jm := &v1alpha1.JourneyMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "journey"},
		Spec: v1alpha1.JourneyMapSpec{
			Stages: []v1alpha1.Stage{{Name: "Subscribed", EnterWhen: `event.type == "invoice.paid"`}},
		},
	}
	if shards != nil {
		jm.Spec.Evaluation = &v1alpha1.Evaluation{Shards: shards}
	}
	return jm
}

var _ = Describe("a JourneyMap whose evaluation is sharded", func() {
	It("runs a StatefulSet of one pod per shard, Ready once every shard is, and goes back to a Deployment at one shard", func() {
		ns := newNamespace()
		createSecret(ns, "journey-store", "dsn")
		Expect(k8s.Create(ctx, billingSource(ns, "billing"))).To(Succeed())
		Expect(k8s.Create(ctx, shardedJourney(ns, ptr.To[int32](3)))).To(Succeed())

		var sts appsv1.StatefulSet
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "journey-evaluator"), &sts)).To(Succeed())
			jm := getMap(ns, "journey")
			g.Expect(jm.Status.Workload).NotTo(BeNil())
			g.Expect(jm.Status.Workload.Kind).To(Equal("StatefulSet"))
			g.Expect(condition(jm, "Ready")).To(HavePrefix("Unknown/WorkloadUnavailable: waiting for StatefulSet journey-evaluator"))
		}, timeout).Should(Succeed())
		Expect(ptr.Deref(sts.Spec.Replicas, 0)).To(Equal(int32(3)))
		Expect(sts.Spec.PodManagementPolicy).To(Equal(appsv1.ParallelPodManagement))
		Expect(sts.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--shard=$(JOURNEY_SHARD)", "--shards=3"))
		expectControlledBy(&sts, "JourneyMap", "journey")
		expectRestricted(sts.Spec.Template.ObjectMeta, sts.Spec.Template.Spec)
		Expect(apierrors.IsNotFound(k8s.Get(ctx, key(ns, "journey-evaluator"), &appsv1.Deployment{}))).To(BeTrue(), "no Deployment beside the StatefulSet")
		var svc = getService(ns, "journey-evaluator")
		Expect(svc.Spec.Selector).To(HaveKeyWithValue(render.PodIndexLabel, "0"), "the Service reaches shard 0, which serves the page")

		Eventually(func(g Gomega) {
			markStatefulSetAvailable(g, ns, "journey-evaluator")
			g.Expect(condition(getMap(ns, "journey"), "Ready")).To(HavePrefix("True/Applied: evaluator journey-evaluator is available, 3 shards"))
		}, timeout).Should(Succeed())

		jm := getMap(ns, "journey")
		jm.Spec.Evaluation.Shards = ptr.To[int32](1)
		Expect(k8s.Update(ctx, jm)).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8s.Get(ctx, key(ns, "journey-evaluator"), &appsv1.StatefulSet{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the StatefulSet is gone: %v", err)
			markAvailable(g, ns, "journey-evaluator")
			jm := getMap(ns, "journey")
			g.Expect(jm.Status.Workload.Kind).To(Equal("Deployment"))
			g.Expect(condition(jm, "Ready")).To(HavePrefix("True/Applied"))
			g.Expect(getService(ns, "journey-evaluator").Spec.Selector).NotTo(HaveKey(render.PodIndexLabel))
		}, timeout).Should(Succeed())
	})

	It("refuses a number of shards out of 1..64, and a churn model over shards, at admission, naming the field", func() {
		ns := newNamespace()
		for _, n := range []int32{0, 65} {
			err := k8s.Create(ctx, shardedJourney(ns, ptr.To(n)))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%d shards: %v", n, err)
			Expect(err.Error()).To(ContainSubstring("spec.evaluation.shards"))
		}
		jm := shardedJourney(ns, ptr.To[int32](2))
		jm.Spec.Prediction = &v1alpha1.Prediction{}
		err := k8s.Create(ctx, jm)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a churn model over shards: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.prediction needs spec.evaluation.shards of 1"))
	})
})

func getService(ns, name string) *corev1.Service {
	var svc corev1.Service
	Expect(k8s.Get(ctx, key(ns, name), &svc)).To(Succeed())
	return &svc
}
