package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReviewDecision is what a review does with the records it selects.
// +kubebuilder:validation:Enum=Release;Discard
type ReviewDecision string

const (
	// DecisionRelease loads the selected records as events.
	DecisionRelease ReviewDecision = "Release"
	// DecisionDiscard marks them discarded; they are kept, never loaded.
	DecisionDiscard ReviewDecision = "Discard"
)

// QuarantineReviewSpec releases or discards quarantined records of one
// source. It cannot change once created: a decision is evidence.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a review is evidence of a decision; create a new QuarantineReview instead"
type QuarantineReviewSpec struct {
	// Source is the financial TouchpointSource, in this namespace, whose
	// quarantine is reviewed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="source must be the name of a TouchpointSource in this namespace"
	Source string `json:"source"`

	// Selection picks the pending records reviewed: every criterion given
	// must hold. At least one is required.
	// +required
	Selection QuarantineSelection `json:"selection"`

	// Decision: Release (load the records as events, deduplicated as any
	// record is) or Discard (mark them discarded, keep them).
	// +required
	Decision ReviewDecision `json:"decision"`

	// Reason for the decision, recorded in the audit ledger: what was
	// checked and with whom, e.g. a ticket.
	// +required
	// +kubebuilder:validation:MinLength=10
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// RequestedBy is who asked for the review. The API server sets it at
	// admission from the request; a value the writer sends is replaced.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RequestedBy string `json:"requestedBy,omitempty"`
}

// QuarantineSelection picks pending quarantined records.
// +kubebuilder:validation:XValidation:rule="has(self.runIDs) || has(self.checks) || has(self.eventIDs) || has(self.from) || has(self.to)",message="spec.selection must set at least one of runIDs, checks, eventIDs, from or to: a review names what it decides on"
// +kubebuilder:validation:XValidation:rule="!has(self.from) || !has(self.to) || timestamp(self.from) < timestamp(self.to)",message="spec.selection.from must be before spec.selection.to"
type QuarantineSelection struct {
	// RunIDs of the runs that held the records.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	RunIDs []string `json:"runIDs,omitempty"`

	// Checks that held the records: a record is selected when one of the
	// checks that held it is named here.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Checks []string `json:"checks,omitempty"`

	// EventIDs of the records.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	EventIDs []string `json:"eventIDs,omitempty"`

	// From selects records held at or after this time.
	// +optional
	From *metav1.Time `json:"from,omitempty"`

	// To selects records held before this time.
	// +optional
	To *metav1.Time `json:"to,omitempty"`
}

// QuarantineReviewStatus is what the review did.
type QuarantineReviewStatus struct {
	// ObservedGeneration is the generation the status describes; -1 until
	// the controller has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Workload is the Job that carries out the decision.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`

	// Matched is the number of pending records the selection picked.
	Matched int64 `json:"matched"`
	// Released records were loaded as events.
	Released int64 `json:"released"`
	// Discarded records were marked discarded.
	Discarded int64 `json:"discarded"`
	// Duplicates were released records whose event was stored already: they
	// are marked released and load nothing.
	// +optional
	Duplicates int64 `json:"duplicates,omitempty"`
	// Unreleasable records never became events (their mapping or decoding
	// failed): they stay pending, to be discarded or corrected at the source.
	// +optional
	Unreleasable int64 `json:"unreleasable,omitempty"`

	// AmountReleased is the sum of the released events' amounts, exact.
	// +optional
	AmountReleased string `json:"amountReleased,omitempty"`
	// AmountDiscarded is the sum of the discarded records' amounts.
	// +optional
	AmountDiscarded string `json:"amountDiscarded,omitempty"`
	// Currency of the amounts when they share one.
	// +optional
	Currency string `json:"currency,omitempty"`

	// Reviewer recorded in the ledger (spec.requestedBy at the time).
	// +optional
	Reviewer string `json:"reviewer,omitempty"`

	// OldestRecordTime is when the oldest record the review decided on was
	// held: how long records waited for review.
	// +optional
	OldestRecordTime *metav1.Time `json:"oldestRecordTime,omitempty"`

	// CompletionTime is when the decision was committed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// LedgerHash of the audit ledger entry that records the decision.
	// +optional
	LedgerHash string `json:"ledgerHash,omitempty"`

	// SourceQuarantine is what the source still held for review after the
	// decision.
	// +optional
	SourceQuarantine *QuarantineStatus `json:"sourceQuarantine,omitempty"`
}

// QuarantineReview releases or discards quarantined records of one
// financial source, with four eyes: the API server refuses a review from
// the source's (or one of its rules') last editor, or from someone outside
// the source's reviewer groups.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 56",message="metadata.name must be at most 56 characters: it names the review's Job (<name>-review)"
// +kubebuilder:resource:shortName=qrev,categories=journey
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.source`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.spec.decision`
// +kubebuilder:printcolumn:name="By",type=string,JSONPath=`.spec.requestedBy`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matched`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type QuarantineReview struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec QuarantineReviewSpec `json:"spec"`

	// +kubebuilder:default={observedGeneration:-1,matched:0,released:0,discarded:0}
	Status QuarantineReviewStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// QuarantineReviewList is a list of QuarantineReviews.
type QuarantineReviewList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []QuarantineReview `json:"items"`
}

func init() {
	SchemeBuilder.Register(&QuarantineReview{}, &QuarantineReviewList{})
}
