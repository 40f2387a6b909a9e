package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ValidationRuleSpec lists the checks applied while ingesting the sources the
// selector matches.
type ValidationRuleSpec struct {
	// SourceSelector selects TouchpointSources in this namespace by label. An
	// empty selector ({}) selects every source in the namespace.
	// +required
	SourceSelector metav1.LabelSelector `json:"sourceSelector"`

	// Checks run in order for every record (or once per run for freshness and
	// volume). Each has a unique name, an action and exactly one kind of check.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Checks []Check `json:"checks"`
}

// CheckAction is what happens to a record that fails a check. When several
// checks fail, the strongest action wins: Reject > Quarantine > Warn.
// +kubebuilder:validation:Enum=Reject;Quarantine;Warn
type CheckAction string

const (
	// ActionReject counts the record and drops it.
	ActionReject CheckAction = "Reject"
	// ActionQuarantine keeps the raw record with the check and the reason, for
	// review; it can be released or discarded later.
	ActionQuarantine CheckAction = "Quarantine"
	// ActionWarn counts the failure and accepts the record.
	ActionWarn CheckAction = "Warn"
)

// Check is one control. Exactly one of expression, unique, relationship,
// notNull, acceptedValues, freshness and volume is set. Expressions see
// `event` (the mapped event) and `record` (the raw record).
// +kubebuilder:validation:XValidation:rule="(has(self.expression) ? 1 : 0) + (has(self.unique) ? 1 : 0) + (has(self.relationship) ? 1 : 0) + (has(self.notNull) ? 1 : 0) + (has(self.acceptedValues) ? 1 : 0) + (has(self.freshness) ? 1 : 0) + (has(self.volume) ? 1 : 0) == 1",message="each check sets exactly one of expression, unique, relationship, notNull, acceptedValues, freshness or volume"
type Check struct {
	// Name of the check, a DNS label unique within the rule. It is recorded on
	// every quarantined record and counted in run summaries.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="check name must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name"`

	// Action for a record that fails: Reject (count and drop), Quarantine
	// (default: keep the raw record with the check and the reason, for review)
	// or Warn (count and accept). When several checks fail, the strongest
	// action wins: Reject > Quarantine > Warn. For freshness and volume, Reject
	// fails the run before anything is committed, Quarantine commits the run
	// marked Quarantined, Warn only counts.
	// +optional
	// +kubebuilder:default=Quarantine
	Action CheckAction `json:"action,omitempty"`

	// Message explains a failure to the reviewer; defaults to the check's name
	// and kind.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Message string `json:"message,omitempty"`

	// Expression must evaluate to true for the record to pass, e.g.
	// event.amount >= 0.0.
	// +optional
	Expression Expression `json:"expression,omitempty"`

	// Unique requires a business key to occur once within a window.
	// +optional
	Unique *UniqueCheck `json:"unique,omitempty"`

	// Relationship requires a key to exist among the events of another
	// touchpoint, e.g. the customer must be known to CRM.
	// +optional
	Relationship *RelationshipCheck `json:"relationship,omitempty"`

	// NotNull lists expressions that must evaluate to a value that is not null
	// (and, for strings, not empty), e.g. event.userID.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	NotNull []Expression `json:"notNull,omitempty"`

	// AcceptedValues restricts a key to a fixed set of values.
	// +optional
	AcceptedValues *AcceptedValuesCheck `json:"acceptedValues,omitempty"`

	// Freshness fails the run when the newest event is older than maxAge: a
	// stale feed.
	// +optional
	Freshness *FreshnessCheck `json:"freshness,omitempty"`

	// Volume fails the run when it reads too few records or far fewer or more
	// than the recent runs did: a shrinking or exploding feed.
	// +optional
	Volume *VolumeCheck `json:"volume,omitempty"`
}

// UniqueCheck: a business key occurs at most once per source within window,
// counting both the store and the current batch.
type UniqueCheck struct {
	// Key computes the business key, e.g. record.data.object.payment_intent.
	// +required
	Key Expression `json:"key"`

	// Window within which the key must be unique, e.g. 720h. Without it, the
	// key must be unique forever.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="window must be a positive duration such as 24h or 720h"
	Window *metav1.Duration `json:"window,omitempty"`
}

// RelationshipCheck: the key must exist as a user ID among the events of a
// touchpoint, e.g. billing customers must be known to crm.
type RelationshipCheck struct {
	// Key computes the value to look up, e.g. event.userID.
	// +required
	Key Expression `json:"key"`

	// Touchpoint whose events must contain the key as a user ID.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="touchpoint must be a DNS label, the spec.touchpoint of a TouchpointSource (e.g. crm)"
	Touchpoint string `json:"touchpoint"`
}

// AcceptedValuesCheck: the key must be one of values.
type AcceptedValuesCheck struct {
	// Key computes the value to check, e.g. event.currency.
	// +required
	Key Expression `json:"key"`

	// Values accepted, compared as strings.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=256
	Values []string `json:"values"`
}

// FreshnessCheck is a run-level check against stale feeds.
type FreshnessCheck struct {
	// MaxAge is how old the newest event of a run may be, e.g. 26h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="maxAge must be a positive duration such as 26h"
	MaxAge metav1.Duration `json:"maxAge"`
}

// VolumeCheck is a run-level check against shrinking or exploding feeds.
// +kubebuilder:validation:XValidation:rule="has(self.minRecords) || has(self.maxChangePercent)",message="volume needs minRecords, maxChangePercent or both"
type VolumeCheck struct {
	// MinRecords a run must read.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinRecords *int64 `json:"minRecords,omitempty"`

	// MaxChangePercent is how far a run's record count may differ from the
	// mean of the last baselineRuns runs, in percent.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxChangePercent *int32 `json:"maxChangePercent,omitempty"`

	// BaselineRuns is how many recent successful runs form the baseline.
	// Defaults to 7.
	// +optional
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	BaselineRuns int32 `json:"baselineRuns,omitempty"`
}

// ValidationRuleStatus is what the controller observed.
type ValidationRuleStatus struct {
	// ObservedGeneration is the generation the status describes; -1 until the
	// controller has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled. Stalled names each check that
	// does not compile, and why.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// MatchedSources are the names of the TouchpointSources the selector
	// matches, sorted.
	// +optional
	MatchedSources []string `json:"matchedSources,omitempty"`

	// LastHandledRequestedAt echoes the journey.cjm.dev/requested-at annotation
	// value handled last.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`
}

// ValidationRule is a set of controls applied while ingesting the sources its
// selector matches: duplicate payments, missing or negative amounts, unknown
// customers, stale or shrinking feeds. Failing records are quarantined for
// review, rejected, or counted as warnings.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vrule,categories=journey
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ValidationRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ValidationRuleSpec `json:"spec"`

	// +kubebuilder:default={observedGeneration:-1}
	Status ValidationRuleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ValidationRuleList is a list of ValidationRules.
type ValidationRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ValidationRule `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ValidationRule{}, &ValidationRuleList{})
}
