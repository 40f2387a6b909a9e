package api_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

// loadSamples reads every object config/samples/kustomization.yaml lists.
func loadSamples() map[string]*unstructured.Unstructured {
	samples, err := testutil.Samples(repoRoot)
	Expect(err).NotTo(HaveOccurred())
	Expect(samples).NotTo(BeEmpty())
	return samples
}

// sample returns a copy of one sample, placed in namespace ns.
func sample(key, ns string) *unstructured.Unstructured {
	u, ok := loadSamples()[key]
	Expect(ok).To(BeTrue(), "no sample %s in config/samples", key)
	u = u.DeepCopy()
	u.SetNamespace(ns)
	return u
}

var _ = Describe("the samples in config/samples", func() {
	It("describe a whole streaming service", func() {
		samples := loadSamples()
		touchpoints := map[string]bool{}
		var batch, webhook, financial int
		for _, u := range samples {
			if u.GetKind() != "TouchpointSource" {
				continue
			}
			tp, _, _ := unstructured.NestedString(u.Object, "spec", "touchpoint")
			touchpoints[tp] = true
			if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "batch"); ok {
				batch++
			}
			if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "webhook"); ok {
				webhook++
			}
			if f, _, _ := unstructured.NestedBool(u.Object, "spec", "financial"); f {
				financial++
			}
		}
		for _, tp := range []string{"catalog", "playback", "billing", "support", "crm", "feedback"} {
			Expect(touchpoints).To(HaveKey(tp), "a sample TouchpointSource for the %s touchpoint", tp)
		}
		Expect(batch).To(BeNumerically(">=", 4))
		Expect(webhook).To(BeNumerically(">=", 2))
		Expect(financial).To(BeNumerically(">=", 2))
		Expect(samples).To(HaveKey("ValidationRule/billing-controls"))
		Expect(samples).To(HaveKey("ValidationRule/identity-controls"))
		Expect(samples).To(HaveKey("JourneyMap/streaming-journey"))
	})

	It("are accepted by the API server with strict field validation and read back into the Go types", func() {
		ns := newNamespace()
		samples := loadSamples()
		for key, u := range samples {
			u = u.DeepCopy()
			u.SetNamespace(ns)
			// Strict: a misspelt field is an error, not silently pruned.
			Expect(k8s.Create(ctx, u, client.FieldValidation("Strict"))).To(Succeed(), "creating sample %s", key)
		}

		var sources journeyv1alpha1.TouchpointSourceList
		Expect(k8s.List(ctx, &sources, client.InNamespace(ns))).To(Succeed())
		var rules journeyv1alpha1.ValidationRuleList
		Expect(k8s.List(ctx, &rules, client.InNamespace(ns))).To(Succeed())
		var maps journeyv1alpha1.JourneyMapList
		Expect(k8s.List(ctx, &maps, client.InNamespace(ns))).To(Succeed())
		Expect(len(sources.Items) + len(rules.Items) + len(maps.Items)).To(Equal(len(samples)))

		var billing journeyv1alpha1.TouchpointSource
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "billing-stripe"}, &billing)).To(Succeed())
		Expect(billing.Spec.Financial).To(BeTrue())
		Expect(billing.Spec.Batch.HTTP.Pagination.NextCursor).To(Equal(journeyv1alpha1.Expression("records[size(records)-1].id")))
		Expect(billing.Spec.Mapping.OccurredAt).To(Equal(journeyv1alpha1.Expression("timestamp(int(record.created))")))

		var journey journeyv1alpha1.JourneyMap
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "streaming-journey"}, &journey)).To(Succeed())
		var stages []string
		for _, s := range journey.Spec.Stages {
			stages = append(stages, s.Name)
		}
		Expect(stages).To(Equal([]string{"Discovery", "Trial", "Subscribed", "Engaged", "AtRisk", "Churned"}))
		Expect(journey.Spec.Alerts).To(ContainElement(HaveField("Name", "StreamingDropAfterBillingFailure")))
		Expect(journey.Spec.Alerts).To(ContainElement(SatisfyAll(
			HaveField("Name", "TrialConversionLow"), HaveField("Scope", journeyv1alpha1.AlertScopeJourney))))
		Expect(journey.Spec.Feedback).To(ContainElement(SatisfyAll(
			HaveField("Name", "exit-survey"), HaveField("OnEnter", "Churned"))))

		// Every stored object decodes into the Go types with no field left
		// over: what the API server keeps is what the controller will read.
		for key := range samples {
			stored := &unstructured.Unstructured{}
			stored.SetAPIVersion(journeyv1alpha1.GroupVersion.String())
			stored.SetKind(samples[key].GetKind())
			Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: samples[key].GetName()}, stored)).To(Succeed())
			typed, err := k8s.Scheme().New(stored.GroupVersionKind())
			Expect(err).NotTo(HaveOccurred())
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(stored.Object, typed, true)).
				To(Succeed(), "decoding stored %s strictly into the Go type", key)
		}
	})
})
