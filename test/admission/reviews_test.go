package admission_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("QuarantineReview admission", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		// alice sets up a financial source reviewed by the finance
		// controllers, and the billing controls that select it.
		Expect(as[alice].Create(ctx, manifest(financialSourceYAML("billing-stripe", reviewerGroup), ns))).To(Succeed())
		Expect(as[alice].Create(ctx, manifest(ruleYAML("billing-controls", "billing"), ns))).To(Succeed())
	})

	// review creates a QuarantineReview of source as user, with fields set
	// by set (may be nil), and returns the API server's answer.
	review := func(user, name, source string, set func(*unstructured.Unstructured)) error {
		u := manifest(reviewYAML(name, source), ns)
		if set != nil {
			set(u)
		}
		return as[user].Create(ctx, u)
	}
	// edit changes an object as user (a spec change: an edit).
	edit := func(user, kind, name string, change func(*unstructured.Unstructured)) {
		GinkgoHelper()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			u := get(kind, ns, name)
			change(u)
			return as[user].Update(ctx, u)
		})).To(Succeed(), "%s edits %s %s", user, kind, name)
	}
	setField := func(value any, path ...string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(u.Object, value, path...)).To(Succeed())
		}
	}
	// expectRefused checks a create was refused by admission with a message
	// holding every part given, and that nothing was stored.
	expectRefused := func(err error, name string, parts ...string) {
		GinkgoHelper()
		Expect(err).To(HaveOccurred(), "the review %s is refused", name)
		GinkgoWriter.Printf("refused: %v\n", err)
		for _, p := range parts {
			Expect(err.Error()).To(ContainSubstring(p))
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("journey.cjm.dev/v1alpha1")
		u.SetKind("QuarantineReview")
		Expect(apierrors.IsNotFound(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u))).To(BeTrue(), "nothing stored")
	}

	It("admits a reviewer who changed nothing, recording who asked whatever the request said", func() {
		Expect(review(dave, "first-look", "billing-stripe", setField("mallory@example.com", "spec", "requestedBy"))).To(Succeed())
		u := get("QuarantineReview", ns, "first-look")
		Expect(requestedBy(u)).To(Equal(dave))
	})

	It("refuses the source's last editor, naming the person and the object", func() {
		edit(carol, "TouchpointSource", "billing-stripe", setField("0 * * * *", "spec", "batch", "schedule"))
		at := get("TouchpointSource", ns, "billing-stripe").GetAnnotations()[atKey]
		expectRefused(review(carol, "self-review", "billing-stripe", nil), "self-review",
			`admission webhook "four-eyes.journey.cjm.dev" denied the request`,
			fmt.Sprintf("carol@example.com last changed TouchpointSource %s/billing-stripe at %s; a change and its review need two people", ns, at))
		By("and admits another reviewer")
		Expect(review(dave, "four-eyes", "billing-stripe", nil)).To(Succeed())
	})

	It("refuses the last editor of a ValidationRule that selects the source, not of one that does not", func() {
		Expect(as[carol].Create(ctx, manifest(ruleYAML("crm-controls", "crm"), ns))).To(Succeed())
		Expect(review(carol, "unrelated-rule", "billing-stripe", nil)).To(Succeed(), "crm-controls does not select billing-stripe")

		edit(carol, "ValidationRule", "billing-controls", func(u *unstructured.Unstructured) {
			checks, _, _ := unstructured.NestedSlice(u.Object, "spec", "checks")
			checks[0].(map[string]any)["message"] = "negative invoice amount"
			Expect(unstructured.SetNestedSlice(u.Object, checks, "spec", "checks")).To(Succeed())
		})
		expectRefused(review(carol, "rule-editor", "billing-stripe", nil), "rule-editor",
			fmt.Sprintf("carol@example.com last changed ValidationRule %s/billing-controls, which selects TouchpointSource %s/billing-stripe, at", ns, ns),
			"a change and its review need two people")
	})

	It("refuses the author of a change applied through GitOps", func() {
		u := withAnnotations(manifest(financialSourceYAML("billing-stripe", reviewerGroup), ns), authorKey, carol)
		Expect(unstructured.SetNestedField(u.Object, "30 * * * *", "spec", "batch", "schedule")).To(Succeed())
		Expect(as[argo].Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("argocd-controller"), client.ForceOwnership)).To(Succeed())
		Expect(get("TouchpointSource", ns, "billing-stripe").GetAnnotations()).To(HaveKeyWithValue(viaKey, argo))

		expectRefused(review(carol, "authored", "billing-stripe", nil), "authored",
			fmt.Sprintf("carol@example.com last changed TouchpointSource %s/billing-stripe", ns))
	})

	It("refuses a requester in none of the source's reviewer groups", func() {
		expectRefused(review(erin, "outsider", "billing-stripe", nil), "outsider",
			fmt.Sprintf("erin@example.com may not review TouchpointSource %s/billing-stripe: they are in none of its reviewer groups (finance-controllers)", ns))
	})

	It("refuses a source that does not exist, is not financial or names no reviewers", func() {
		Expect(as[alice].Create(ctx, manifest(sourceYAML("catalog", "catalog"), ns))).To(Succeed())
		Expect(as[alice].Create(ctx, manifest(financialSourceYAML("billing-paypal"), ns))).To(Succeed())
		for _, tc := range []struct{ source, why string }{
			{"billing-zuora", "it does not exist"},
			{"catalog", "it is not financial (spec.financial)"},
			{"billing-paypal", "it names no reviewers (spec.compliance.reviewers.groups)"},
		} {
			expectRefused(review(dave, "of-"+tc.source, tc.source, nil), "of-"+tc.source,
				fmt.Sprintf("dave@example.com may not review TouchpointSource %s/%s: %s", ns, tc.source, tc.why))
		}
	})

	It("is not for editors: RBAC refuses them before admission", func() {
		err := review(alice, "by-an-editor", "billing-stripe", nil)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "forbidden: %v", err)
		Expect(err.Error()).To(ContainSubstring(`User "alice@example.com" cannot create resource "quarantinereviews"`))
	})

	It("keeps a review's decision as created (the CRD's CEL rule)", func() {
		Expect(review(dave, "keep", "billing-stripe", nil)).To(Succeed())
		for _, change := range []func(*unstructured.Unstructured){
			setField("Discard", "spec", "decision"),
			setField("mallory@example.com", "spec", "requestedBy"),
		} {
			// A merge patch: no resourceVersion to race the operator's status
			// writes on.
			u := get("QuarantineReview", ns, "keep")
			before := u.DeepCopy()
			change(u)
			err := admin.Patch(ctx, u, client.MergeFrom(before))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "invalid: %v", err)
			Expect(err.Error()).To(ContainSubstring("spec is immutable"))
		}
		Expect(requestedBy(get("QuarantineReview", ns, "keep"))).To(Equal(dave))
	})

	It("refuses an empty selection and a reason under 10 characters (the schema)", func() {
		expectRefused(review(dave, "nothing-selected", "billing-stripe", func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedMap(u.Object, map[string]any{}, "spec", "selection")).To(Succeed())
		}), "nothing-selected", "spec.selection must set at least one of runIDs, checks, eventIDs, from or to")
		expectRefused(review(dave, "terse", "billing-stripe", setField("fixed it", "spec", "reason")), "terse",
			"spec.reason", "at least 10 chars long")
	})
})

// requestedBy is a review's spec.requestedBy.
func requestedBy(u *unstructured.Unstructured) string {
	v, _, _ := unstructured.NestedString(u.Object, "spec", "requestedBy")
	return v
}
