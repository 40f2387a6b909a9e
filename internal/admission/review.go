package admission

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// ReviewRequest is what the API server knows when a QuarantineReview is
// created: who asks, and the source and rules as stored right now.
type ReviewRequest struct {
	// Namespace of the review, its source and the rules.
	Namespace string
	// SourceName is spec.source.
	SourceName string
	// RequestedBy is spec.requestedBy after the mutating webhook ran.
	RequestedBy string
	// Username and Groups are the request's userInfo.
	Username string
	Groups   []string
	// Source is the TouchpointSource named, nil when it does not exist.
	Source *v1alpha1.TouchpointSource
	// Rules are every ValidationRule in the namespace.
	Rules []v1alpha1.ValidationRule
}

// ReviewRefusal returns why the review may not be created, naming the
// person and the object, or "" when it may. The checks, in order: the
// requester is who spec.requestedBy names; the source exists, is financial
// and names reviewer groups; the requester is in one of them; and the
// requester made (or, as a GitOps identity, applied) neither the last
// change of the source nor that of any ValidationRule selecting it. A source
// or rule whose editor was never recorded (created before admission stamped
// editors) refuses too: segregation of duties cannot be shown for it.
func ReviewRefusal(r ReviewRequest) string {
	who := r.Username
	source := fmt.Sprintf("TouchpointSource %s/%s", r.Namespace, r.SourceName)
	if r.RequestedBy != r.Username {
		return fmt.Sprintf("spec.requestedBy is %q but %s sent the request: the API server sets it at admission "+
			"(is journey-operator's mutating webhook for QuarantineReviews installed?)", r.RequestedBy, who)
	}
	refuse := func(why string) string { return fmt.Sprintf("%s may not review %s: %s", who, source, why) }
	s := r.Source
	switch {
	case s == nil:
		return refuse("it does not exist (spec.source names a TouchpointSource in the review's namespace)")
	case !s.Spec.Financial:
		return refuse("it is not financial (spec.financial): only financial sources hold records for review")
	case s.Spec.Compliance == nil || s.Spec.Compliance.Reviewers == nil || len(s.Spec.Compliance.Reviewers.Groups) == 0:
		return refuse("it names no reviewers (spec.compliance.reviewers.groups), and without them no review is admitted")
	}
	reviewers := s.Spec.Compliance.Reviewers.Groups
	if !slices.ContainsFunc(r.Groups, func(g string) bool { return slices.Contains(reviewers, g) }) {
		return refuse(fmt.Sprintf("they are in none of its reviewer groups (%s)", strings.Join(reviewers, ", ")))
	}
	if why := changedBy(who, source, "", s.ObjectMeta); why != "" {
		return why
	}
	rules := slices.Clone(r.Rules)
	slices.SortFunc(rules, func(a, b v1alpha1.ValidationRule) int { return strings.Compare(a.Name, b.Name) })
	for i := range rules {
		rule := &rules[i]
		if !selects(rule, s) {
			continue
		}
		name := fmt.Sprintf("ValidationRule %s/%s", r.Namespace, rule.Name)
		if why := changedBy(who, name, ", which selects "+source+",", rule.ObjectMeta); why != "" {
			return why
		}
	}
	return ""
}

// changedBy says why who may not review after the last change of an
// object, or "" when they did not make it.
func changedBy(who, object, clause string, meta metav1.ObjectMeta) string {
	by := meta.Annotations[v1alpha1.LastModifiedByAnnotation]
	at := meta.Annotations[v1alpha1.LastModifiedAtAnnotation]
	via := meta.Annotations[v1alpha1.LastModifiedViaAnnotation]
	switch {
	case by == "":
		return fmt.Sprintf("%s may not review: %s%s has no recorded editor (%s), so segregation of duties cannot be shown; "+
			"its next change through the API server records one", who, object, clause, v1alpha1.LastModifiedByAnnotation)
	case by == who:
		return fmt.Sprintf("%s last changed %s%s at %s; a change and its review need two people", who, object, clause, at)
	case via == who:
		return fmt.Sprintf("%s applied the last change to %s%s (by %s) at %s; a change and its review need two people",
			who, object, clause, by, at)
	}
	return ""
}

// selects reports whether a rule's selector matches the source. A selector
// that does not parse counts as matching: the rule's controller reports it,
// and a review must not slip through a rule that may apply.
func selects(rule *v1alpha1.ValidationRule, s *v1alpha1.TouchpointSource) bool {
	sel, err := metav1.LabelSelectorAsSelector(&rule.Spec.SourceSelector)
	if err != nil {
		return true
	}
	return sel.Matches(labels.Set(s.Labels))
}
