package api_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// apiExample is design/API.md's example, as written there.
const apiExample = `
apiVersion: journey.cjm.dev/v1alpha1
kind: QuarantineReview
metadata: {name: billing-2026-11-30, namespace: media}
spec:
  source: billing-stripe          # a TouchpointSource in this namespace
  selection:                      # at least one; all given must hold
    runIDs: ["..."]
    checks: [amount-non-negative]
    eventIDs: ["in_1Q..."]
    from: "2026-11-30T00:00:00Z"
    to: "2026-12-01T00:00:00Z"
  decision: Release               # Release | Discard
  reason: "credit notes booked as negative invoices; confirmed with AR (FIN-231)"   # required, 10..1024 chars
  requestedBy: carol@example.com  # set at admission from the request; a value the writer sends is replaced
`

// reviewBase is a QuarantineReview as a reviewer writes it.
const reviewBase = `
apiVersion: journey.cjm.dev/v1alpha1
kind: QuarantineReview
metadata: {name: credit-notes}
spec:
  source: billing-stripe
  selection:
    checks: [amount-non-negative]
    from: "2026-11-30T00:00:00Z"
    to: "2026-12-01T00:00:00Z"
  decision: Release
  reason: "credit notes booked as negative invoices; confirmed with AR (FIN-231)"
`

func review(ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(reviewBase), &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	return u
}

// The API server's schema refuses what no webhook needs to see, with a
// message naming the field. (Who may review is the admission webhook's:
// test/admission.)
var _ = Describe("QuarantineReview schema", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("takes a well-formed review, and API.md's example as written", func() {
		Expect(k8s.Create(ctx, review(ns))).To(Succeed())
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(apiExample), &u.Object)).To(Succeed())
		u.SetNamespace(ns)
		Expect(k8s.Create(ctx, u)).To(Succeed())
	})

	DescribeTable("refuses a bad review naming the field",
		func(e edit, want string) {
			obj := review(ns)
			e(obj.Object)
			err := k8s.Create(ctx, obj)
			Expect(err).To(HaveOccurred(), "the API server accepted it")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got: %v", err)
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("an empty selection", set("spec.selection", `{}`), "spec.selection must set at least one of runIDs, checks, eventIDs, from or to"),
		Entry("a reason under 10 characters", set("spec.reason", `ok`), "spec.reason"),
		Entry("no reason", del("spec.reason"), `spec.reason: Required value`),
		Entry("an unknown decision", set("spec.decision", `Approve`), `spec.decision: Unsupported value: "Approve"`),
		Entry("from after to", set("spec.selection.from", `"2026-12-02T00:00:00Z"`), "spec.selection.from must be before spec.selection.to"),
		Entry("a source that is not a name", set("spec.source", `Billing Stripe`), "source must be the name of a TouchpointSource"),
		Entry("an empty list of checks", set("spec.selection.checks", `[]`), "spec.selection.checks"),
		Entry("a name too long for its Job", func(o map[string]any) {
			o["metadata"].(map[string]any)["name"] = "a-review-name-that-is-much-longer-than-fifty-six-characters-x"
		}, "metadata.name must be at most 56 characters"),
	)

	It("refuses any change of spec once created: a decision is evidence", func() {
		obj := review(ns)
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		Expect(unstructured.SetNestedField(obj.Object, "Discard", "spec", "decision")).To(Succeed())
		err := k8s.Update(ctx, obj)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec is immutable: a review is evidence of a decision"))
	})
})

var _ = Describe("TouchpointSource compliance", func() {
	It("is refused on a source that is not financial, naming the field", func() {
		ns := newNamespace()
		obj := sample("TouchpointSource/catalog-views", ns)
		set("spec.compliance", `{reviewers: {groups: [finance-controllers]}}`)(obj.Object)
		err := k8s.Create(ctx, obj)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want a 422 Invalid, got: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.compliance applies to financial sources only"))
	})
})
