package api_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// create applies a minimal manifest and reads the stored object back.
func create(ns, manifest string, into client.Object) {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	Expect(k8s.Create(ctx, u)).To(Succeed())
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: u.GetName()}, into)).To(Succeed())
}

var _ = Describe("defaults", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("fill in a minimal TouchpointSource", func() {
		var src journeyv1alpha1.TouchpointSource
		create(ns, `
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: stripe-hook}
spec:
  touchpoint: billing
  webhook:
    path: /stripe
    signature: {scheme: Stripe, secretRefs: [{name: stripe-whsec, key: secret}]}
  mapping: {eventID: record.id, userID: record.customer, occurredAt: timestamp(int(record.created)), type: record.type}
`, &src)
		Expect(src.Status.ObservedGeneration).To(Equal(int64(-1)), "a fresh object reads as in progress")
		Expect(src.Spec.Webhook.Signature.Tolerance).NotTo(BeNil())
		Expect(src.Spec.Webhook.Signature.Tolerance.Duration).To(Equal(5 * time.Minute))

		var poll journeyv1alpha1.TouchpointSource
		create(ns, `
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: tickets}
spec:
  touchpoint: support
  batch: {schedule: "@hourly", http: {url: "https://support.example.internal/tickets"}}
  mapping: {eventID: record.id, userID: record.user, occurredAt: timestamp(record.at), type: '"ticket"'}
`, &poll)
		Expect(poll.Status.ObservedGeneration).To(Equal(int64(-1)))
		Expect(poll.Spec.Batch.HTTP.Timeout.Duration).To(Equal(30 * time.Second))
	})

	It("fill in a minimal ValidationRule", func() {
		var rule journeyv1alpha1.ValidationRule
		create(ns, `
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata: {name: basics}
spec:
  sourceSelector: {}
  checks:
  - {name: positive, expression: "event.amount >= 0.0"}
  - {name: volume, volume: {minRecords: 1}}
`, &rule)
		Expect(rule.Status.ObservedGeneration).To(Equal(int64(-1)))
		Expect(rule.Spec.Checks[0].Action).To(Equal(journeyv1alpha1.ActionQuarantine))
		Expect(rule.Spec.Checks[1].Action).To(Equal(journeyv1alpha1.ActionQuarantine))
		Expect(rule.Spec.Checks[1].Volume.BaselineRuns).To(Equal(int32(7)))
	})

	It("fill in a minimal JourneyMap", func() {
		var m journeyv1alpha1.JourneyMap
		create(ns, `
apiVersion: journey.cjm.dev/v1alpha1
kind: JourneyMap
metadata: {name: tiny}
spec:
  sourceSelector: {}
  stages: [{name: Trial, enterWhen: 'event.type == "trial_started"'}]
  alerts: [{name: AnyTrial, expression: 'user.stage == "Trial"'}]
  dashboard: {}
`, &m)
		Expect(m.Status.ObservedGeneration).To(Equal(int64(-1)))
		Expect(m.Spec.EvaluationInterval.Duration).To(Equal(5 * time.Minute))
		Expect(m.Spec.ConversionWindow.Duration).To(Equal(336 * time.Hour))
		Expect(m.Spec.Alerts[0].Scope).To(Equal(journeyv1alpha1.AlertScopeUser))
		Expect(m.Spec.Alerts[0].Severity).To(Equal("warning"))
		Expect(m.Spec.Dashboard.Enabled).To(BeTrue())
	})
})
