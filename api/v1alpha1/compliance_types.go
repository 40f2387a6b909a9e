package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations the API server stamps at admission on every create or update
// of a TouchpointSource, ValidationRule or JourneyMap (not its status). A
// writer cannot set them: whatever a request carries there is replaced.
const (
	// LastModifiedByAnnotation is who made the last change: the request's
	// user, or, from a GitOps identity, the change author it passed.
	LastModifiedByAnnotation = "journey.cjm.dev/last-modified-by"
	// LastModifiedAtAnnotation is when, RFC 3339 in UTC.
	LastModifiedAtAnnotation = "journey.cjm.dev/last-modified-at"
	// LastModifiedViaAnnotation is the GitOps identity that applied a change
	// on behalf of its author; absent for a direct change.
	LastModifiedViaAnnotation = "journey.cjm.dev/last-modified-via"
	// ChangeAuthorAnnotation is set by a GitOps pipeline to the author of the
	// commit it applies. It is trusted only from a configured GitOps
	// identity (`journey manager --gitops-identities`) and ignored from
	// anyone else.
	ChangeAuthorAnnotation = "journey.cjm.dev/change-author"
)

// Compliance says who may review a financial source's quarantine and how
// soon.
type Compliance struct {
	// Reviewers may create QuarantineReviews for the source. Without
	// reviewers, no review is admitted.
	// +optional
	Reviewers *Reviewers `json:"reviewers,omitempty"`

	// ReviewWithin is how long a record may stay pending review before
	// AuditCompliant turns False (ReviewOverdue). Defaults to 72h.
	// +optional
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="reviewWithin must be a positive duration such as 72h"
	ReviewWithin *metav1.Duration `json:"reviewWithin,omitempty"`
}

// Reviewers name who may review, by the groups the API server
// authenticates them in.
type Reviewers struct {
	// Groups whose members may review, e.g. finance-controllers.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Groups []string `json:"groups,omitempty"`
}

// QuarantineStatus is what a source holds for review, as its newest run or
// review reported it.
type QuarantineStatus struct {
	// Pending is the number of records waiting for review.
	Pending int64 `json:"pending"`

	// OldestPendingTime is when the oldest pending record was held.
	// +optional
	OldestPendingTime *metav1.Time `json:"oldestPendingTime,omitempty"`

	// ByCheck counts pending records by the checks that held them, largest
	// first.
	// +optional
	// +listType=map
	// +listMapKey=check
	// +kubebuilder:validation:MaxItems=16
	ByCheck []CheckPending `json:"byCheck,omitempty"`

	// AsOf is when the store was read.
	// +optional
	AsOf *metav1.Time `json:"asOf,omitempty"`
}

// CheckPending counts one check's pending records.
type CheckPending struct {
	// Check that held the records ("mapping" or "decode" for records that
	// never became events).
	// +kubebuilder:validation:MaxLength=128
	Check string `json:"check"`
	// Pending records it holds.
	Pending int64 `json:"pending"`
	// OldestPendingTime is when the oldest of them was held.
	// +optional
	OldestPendingTime *metav1.Time `json:"oldestPendingTime,omitempty"`
}
