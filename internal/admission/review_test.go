package admission

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

func source(mutate func(*v1alpha1.TouchpointSource)) *v1alpha1.TouchpointSource {
	s := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Name: "billing-stripe", Namespace: "media",
			Labels:      map[string]string{"journey.cjm.dev/domain": "billing"},
			Annotations: map[string]string{by: "alice@example.com", at: earlier}},
		Spec: v1alpha1.TouchpointSourceSpec{Financial: true,
			Compliance: &v1alpha1.Compliance{Reviewers: &v1alpha1.Reviewers{Groups: []string{"finance-controllers", "auditors"}}}},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func rule(name string, selector metav1.LabelSelector, editor string) v1alpha1.ValidationRule {
	r := v1alpha1.ValidationRule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "media"},
		Spec: v1alpha1.ValidationRuleSpec{SourceSelector: selector}}
	if editor != "" {
		r.Annotations = map[string]string{by: editor, at: "2026-11-29T12:00:00Z"}
	}
	return r
}

var billing = metav1.LabelSelector{MatchLabels: map[string]string{"journey.cjm.dev/domain": "billing"}}

func TestReviewRefusal(t *testing.T) {
	carol := func(r ReviewRequest) ReviewRequest {
		r.Namespace, r.SourceName = "media", "billing-stripe"
		if r.Username == "" {
			r.Username, r.RequestedBy = "carol@example.com", "carol@example.com"
		}
		if r.Groups == nil {
			r.Groups = []string{"system:authenticated", "finance-controllers"}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		req  ReviewRequest
		// want is "" (admitted) or every part the refusal must contain.
		want []string
	}{
		{"a reviewer who changed nothing is admitted",
			carol(ReviewRequest{Source: source(nil), Rules: []v1alpha1.ValidationRule{
				rule("billing-controls", billing, "alice@example.com"),
				rule("crm-controls", metav1.LabelSelector{MatchLabels: map[string]string{"journey.cjm.dev/domain": "crm"}}, "carol@example.com"),
			}}), nil},
		{"a member of the second reviewer group is admitted",
			carol(ReviewRequest{Groups: []string{"auditors"}, Source: source(nil)}), nil},
		{"requestedBy that is not the requester is refused (mutating webhook missing)",
			carol(ReviewRequest{RequestedBy: "dave@example.com", Username: "carol@example.com", Source: source(nil)}),
			[]string{`spec.requestedBy is "dave@example.com"`, "carol@example.com sent the request"}},
		{"a missing source",
			carol(ReviewRequest{}),
			[]string{"carol@example.com may not review TouchpointSource media/billing-stripe", "does not exist"}},
		{"a source that is not financial",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) { s.Spec.Financial = false })}),
			[]string{"carol@example.com may not review TouchpointSource media/billing-stripe", "not financial", "spec.financial"}},
		{"a source without compliance",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) { s.Spec.Compliance = nil })}),
			[]string{"carol@example.com may not review TouchpointSource media/billing-stripe", "names no reviewers", "spec.compliance.reviewers.groups"}},
		{"a source with an empty reviewer list",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) { s.Spec.Compliance.Reviewers.Groups = nil })}),
			[]string{"names no reviewers"}},
		{"a requester outside the reviewer groups",
			carol(ReviewRequest{Groups: []string{"system:authenticated", "editors"}, Source: source(nil)}),
			[]string{"carol@example.com may not review TouchpointSource media/billing-stripe", "none of its reviewer groups (finance-controllers, auditors)"}},
		{"the source's last editor",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) { s.Annotations[by] = "carol@example.com" })}),
			[]string{"carol@example.com last changed TouchpointSource media/billing-stripe at " + earlier + "; a change and its review need two people"}},
		{"the GitOps identity that applied the source's last change",
			carol(ReviewRequest{Username: argo, RequestedBy: argo, Groups: []string{"finance-controllers"},
				Source: source(func(s *v1alpha1.TouchpointSource) {
					s.Annotations[by], s.Annotations[via] = "dave@example.com", argo
				})}),
			[]string{argo + " applied the last change to TouchpointSource media/billing-stripe (by dave@example.com)", "two people"}},
		{"a change author recorded through GitOps is the editor",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) {
				s.Annotations[by], s.Annotations[via], s.Annotations[author] = "carol@example.com", argo, "carol@example.com"
			})}),
			[]string{"carol@example.com last changed TouchpointSource media/billing-stripe"}},
		{"an unrecorded change-author (from someone not GitOps) does not refuse",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) { s.Annotations[author] = "carol@example.com" })}),
			nil},
		{"a source whose editor was never recorded",
			carol(ReviewRequest{Source: source(func(s *v1alpha1.TouchpointSource) { s.Annotations = nil })}),
			[]string{"carol@example.com may not review: TouchpointSource media/billing-stripe has no recorded editor", by}},
		{"the last editor of a rule selecting the source",
			carol(ReviewRequest{Source: source(nil), Rules: []v1alpha1.ValidationRule{
				rule("billing-controls", billing, "alice@example.com"),
				rule("duplicates", billing, "carol@example.com"),
			}}),
			[]string{"carol@example.com last changed ValidationRule media/duplicates, which selects TouchpointSource media/billing-stripe, at 2026-11-29T12:00:00Z; a change and its review need two people"}},
		{"the last editor of a rule with an empty selector (it selects every source)",
			carol(ReviewRequest{Source: source(nil), Rules: []v1alpha1.ValidationRule{rule("everything", metav1.LabelSelector{}, "carol@example.com")}}),
			[]string{"ValidationRule media/everything, which selects"}},
		{"the last editor of a rule whose selector does not parse",
			carol(ReviewRequest{Source: source(nil), Rules: []v1alpha1.ValidationRule{rule("broken", metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Near"}}}, "carol@example.com")}}),
			[]string{"ValidationRule media/broken"}},
		{"a selecting rule whose editor was never recorded",
			carol(ReviewRequest{Source: source(nil), Rules: []v1alpha1.ValidationRule{rule("old", billing, "")}}),
			[]string{"ValidationRule media/old, which selects TouchpointSource media/billing-stripe, has no recorded editor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReviewRefusal(tc.req)
			if tc.want == nil {
				if got != "" {
					t.Fatalf("refused: %s", got)
				}
				return
			}
			if got == "" {
				t.Fatalf("admitted; want a refusal saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("refusal %q\nlacks %q", got, w)
				}
			}
		})
	}
}
