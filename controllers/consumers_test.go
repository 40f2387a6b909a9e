package controllers_test

import (
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
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

// plays is a Kafka source with SASL credentials from a Secret.
func plays(ns string) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plays"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "playback", System: "player",
			Stream: &v1alpha1.StreamSource{Kafka: &v1alpha1.KafkaStream{
				Brokers: []string{"kafka-0.kafka:9092"}, Topics: []string{"playback.sessions"}, ConsumerGroup: "journey-plays",
				SASL: &v1alpha1.KafkaSASL{Mechanism: v1alpha1.KafkaSASLScramSHA512,
					UsernameSecretRef: v1alpha1.SecretKeyRef{Name: "kafka-user", Key: "username"},
					PasswordSecretRef: v1alpha1.SecretKeyRef{Name: "kafka-user", Key: "password"}},
			}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(record.at)", Type: `"playback.session"`},
		},
	}
}

var _ = Describe("a Kafka source", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		createSecret(ns, "journey-store", "dsn")
	})

	It("runs a restricted consumer Deployment, Ready once it is available, and names a missing credentials Secret", func() {
		Expect(k8s.Create(ctx, plays(ns))).To(Succeed())
		Eventually(func(g Gomega) {
			src := getSource(ns, "plays")
			g.Expect(condition(src, "Ready")).To(HavePrefix(`False/SecretMissing: Secret "kafka-user" not found in namespace ` + ns))
			g.Expect(src.Status.Mode).To(Equal(v1alpha1.SourceModeStream))
			g.Expect(src.Status.Workload).To(Equal(&v1alpha1.WorkloadReference{Kind: "Deployment", Name: "plays-consumer"}))
		}, timeout).Should(Succeed())

		var dep appsv1.Deployment
		Expect(k8s.Get(ctx, key(ns, "plays-consumer"), &dep)).To(Succeed())
		expectControlledBy(&dep, "TouchpointSource", "plays")
		expectRestricted(dep.Spec.Template.ObjectMeta, dep.Spec.Template.Spec)
		Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(render.LabelComponent, render.ComponentConsumer))
		Expect(dep.Spec.Template.Spec.Containers[0].Args).To(HaveExactElements("consume", "--config", HaveSuffix("config.json"), "--listen", ":8080"))
		Expect(dep.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", "kafka-user")))
		Expect(dep.Spec.Template.Spec.AutomountServiceAccountToken).To(Equal(ptr.To(false)))

		createSecret(ns, "kafka-user", "username", "password")
		Eventually(func(g Gomega) {
			g.Expect(condition(getSource(ns, "plays"), "Ready")).To(HavePrefix(
				"Unknown/WorkloadUnavailable: waiting for Deployment plays-consumer to become available: a consumer is ready once it reaches the Kafka brokers kafka-0.kafka:9092"))
		}, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			markAvailable(g, ns, "plays-consumer")
			src := getSource(ns, "plays")
			g.Expect(condition(src, "Ready")).To(Equal(
				"True/Applied: consumer Deployment plays-consumer is available, reading playback.sessions as consumer group journey-plays"))
			g.Expect(src.Status.ObservedGeneration).To(Equal(src.Generation))
		}, timeout).Should(Succeed())
		Expect(kstatusOf(getSource(ns, "plays"))).To(Equal(status.CurrentStatus))

		updateSource(ns, "plays", func(src *v1alpha1.TouchpointSource) { src.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "plays-consumer"), &dep)).To(Succeed())
			g.Expect(dep.Spec.Replicas).To(Equal(ptr.To[int32](0)))
			g.Expect(condition(getSource(ns, "plays"), "Ready")).To(HavePrefix("True/Suspended: suspended: consumer Deployment plays-consumer scaled to zero"))
		}, timeout).Should(Succeed())
	})

	It("moves between modes, removing the workload of the mode it left", func() {
		createSecret(ns, "kafka-user", "username", "password")
		Expect(k8s.Create(ctx, plays(ns))).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, key(ns, "plays-consumer"), &appsv1.Deployment{}) }, timeout).Should(Succeed())

		updateSource(ns, "plays", func(src *v1alpha1.TouchpointSource) {
			src.Spec.Stream = nil
			src.Spec.Webhook = &v1alpha1.WebhookSource{Path: "/plays"}
		})
		Eventually(func(g Gomega) {
			err := k8s.Get(ctx, key(ns, "plays-consumer"), &appsv1.Deployment{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the consumer Deployment is gone: %v", err)
			g.Expect(k8s.Get(ctx, key(ns, "plays-receiver"), &appsv1.Deployment{})).To(Succeed())
			g.Expect(getSource(ns, "plays").Status.Mode).To(Equal(v1alpha1.SourceModeWebhook))
		}, timeout).Should(Succeed())

		updateSource(ns, "plays", func(src *v1alpha1.TouchpointSource) {
			src.Spec.Webhook = nil
			src.Spec.Stream = plays(ns).Spec.Stream
		})
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key(ns, "plays-consumer"), &appsv1.Deployment{})).To(Succeed())
			for _, gone := range []string{"plays-receiver"} {
				err := k8s.Get(ctx, key(ns, gone), &appsv1.Deployment{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "Deployment %s: %v", gone, err)
				err = k8s.Get(ctx, key(ns, gone), &corev1.Service{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "Service %s: %v", gone, err)
			}
		}, timeout).Should(Succeed())
	})
})
