package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JourneyMapSpec declares the stages customers go through, computed from the
// events of the selected sources, and the alerts and surveys that act on them.
// +kubebuilder:validation:XValidation:rule="!has(self.feedback) || self.feedback.all(f, self.stages.exists(s, s.name == f.onEnter))",message="every spec.feedback[].onEnter must name a stage in spec.stages"
// +kubebuilder:validation:XValidation:rule="!has(self.alerts) || !self.alerts.exists(a, a.scope == 'Journey' && has(a.labels) && 'user' in a.labels)",message="a Journey-scoped alert cannot set the label 'user': only User-scoped alerts are per user"
// +kubebuilder:validation:XValidation:rule="!has(self.prediction) || !has(self.evaluation) || !has(self.evaluation.shards) || self.evaluation.shards <= 1",fieldPath=".prediction",message="spec.prediction needs spec.evaluation.shards of 1: a churn model learns from every user, and no shard holds them all"
type JourneyMapSpec struct {
	// SourceSelector selects the TouchpointSources in this namespace whose
	// events make up the journey. An empty selector ({}) selects all of them.
	// +required
	SourceSelector metav1.LabelSelector `json:"sourceSelector"`

	// ConversionWindow is how long after entering a stage a move to the next
	// one counts as a conversion. Defaults to 336h (14 days).
	// +optional
	// +kubebuilder:default="336h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="conversionWindow must be a positive duration such as 336h"
	ConversionWindow *metav1.Duration `json:"conversionWindow,omitempty"`

	// EvaluationInterval is how often the evaluator reads new events and
	// re-evaluates stages and alerts. At least 10s; defaults to 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s')",message="evaluationInterval must be a duration of at least 10s, such as 5m"
	EvaluationInterval *metav1.Duration `json:"evaluationInterval,omitempty"`

	// Stages in journey order. A user is in the last stage whose enterWhen
	// held for one of the user's events.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Stages []Stage `json:"stages"`

	// Alerts evaluated on every evaluation, per user or for the whole journey.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Alerts []Alert `json:"alerts,omitempty"`

	// Notify says where firing alerts are sent.
	// +optional
	Notify *Notify `json:"notify,omitempty"`

	// Feedback triggers surveys when users enter a stage.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Feedback []FeedbackTrigger `json:"feedback,omitempty"`

	// Dashboard serves the journey map page from the evaluator.
	// +optional
	Dashboard *Dashboard `json:"dashboard,omitempty"`

	// Prediction trains a churn model on the map's own history: each user
	// who has not reached the last stage gets the probability of reaching
	// it within the horizon.
	// +optional
	Prediction *Prediction `json:"prediction,omitempty"`

	// Segments are the event attributes the journey is broken down by
	// (plan, country, device...): on the page, in the prediction's expected
	// churn, in the API.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Segments []string `json:"segments,omitempty"`

	// Suspend scales the evaluator to zero: nothing is evaluated or fires.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Evaluation is how the map's evaluation is run.
	// +optional
	Evaluation *Evaluation `json:"evaluation,omitempty"`
}

// Evaluation is how a map's evaluation is run.
type Evaluation struct {
	// Shards is how many evaluators share the map's users, each evaluating
	// those a stable hash of their ID gives it and delivering their alerts
	// and surveys; shard 0 merges every shard's figures, judges the
	// Journey-scoped alerts, writes the status and serves the page (the
	// journey; no drill-down into users above one shard). Above 1 the
	// evaluators are a StatefulSet, one pod per shard. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Shards *int32 `json:"shards,omitempty"`
}

// ShardCount is the map's number of shards (1 when not set).
func (s *JourneyMapSpec) ShardCount() int {
	if s.Evaluation == nil || s.Evaluation.Shards == nil || *s.Evaluation.Shards < 1 {
		return 1
	}
	return int(*s.Evaluation.Shards)
}

// Prediction configures the churn model.
type Prediction struct {
	// Horizon: a user's risk is the probability of entering the last stage
	// within it. The model needs twice the horizon of history before it
	// can be trained and judged. Defaults to 720h.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('24h')",message="prediction.horizon must be a duration of at least 24h, such as 720h"
	Horizon *metav1.Duration `json:"horizon,omitempty"`

	// RetrainEvery is how often the evaluator trains the model again.
	// Defaults to 24h.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1h')",message="prediction.retrainEvery must be a duration of at least 1h, such as 24h"
	RetrainEvery *metav1.Duration `json:"retrainEvery,omitempty"`
}

// Stage is one step of the journey.
type Stage struct {
	// Name of the stage, e.g. Trial or AtRisk: letters, digits and '-', at most
	// 63 characters, starting and ending with a letter or digit. It appears in
	// metrics, alerts and the journey map.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$')",message="stage name must be a DNS label (letters may be upper case): letters, digits and '-', starting and ending with a letter or digit, e.g. AtRisk"
	Name string `json:"name"`

	// EnterWhen is evaluated for each of a user's events in time order; when
	// true, the user enters this stage unless already in a later one. It sees
	// `event` (with event.touchpoint) and `user` (user.count, user.sum,
	// user.sumBetween, user.stage, user.enteredAt, and user.churnRisk when the
	// map has spec.prediction: the risk from the model's last training).
	// +required
	EnterWhen Expression `json:"enterWhen"`

	// Description of the stage, shown on the journey map.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`
}

// AlertScope is what an alert is evaluated for.
// +kubebuilder:validation:Enum=User;Journey
type AlertScope string

const (
	// AlertScopeUser evaluates the expression for every user (`user` is bound);
	// each user for whom it holds is a separate alert.
	AlertScopeUser AlertScope = "User"
	// AlertScopeJourney evaluates the expression once (`journey` is bound).
	AlertScopeJourney AlertScope = "Journey"
)

// Alert fires while its expression holds, after it has held for `for`.
type Alert struct {
	// Name of the alert, sent as the alertname label: letters, digits and '_',
	// starting with a letter, e.g. StreamingDropAfterBillingFailure.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_]*$')",message="alert name must start with a letter and contain only letters, digits and '_', e.g. StreamingDropAfterBillingFailure"
	Name string `json:"name"`

	// Scope: User (default; evaluated per user, with `user`) or Journey
	// (evaluated once, with `journey`: journey.users(stage),
	// journey.conversion(from, to)).
	// +optional
	// +kubebuilder:default=User
	Scope AlertScope `json:"scope,omitempty"`

	// Expression that holds while the alert condition is met. A User-scoped
	// alert sees `user` (as a stage's enterWhen does, user.churnRisk
	// included, from the churn model's last scoring); a Journey-scoped one
	// `journey`.
	// +required
	Expression Expression `json:"expression"`

	// For is how long the expression must hold before the alert fires
	// (pending until then). Empty: fires at once.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="for must be a duration such as 1h or 30m"
	For *metav1.Duration `json:"for,omitempty"`

	// Severity label sent with the alert, e.g. critical, warning or info.
	// +optional
	// +kubebuilder:default=warning
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z][a-z0-9_-]*$')",message="severity must be a lowercase word such as critical, warning or info"
	Severity string `json:"severity,omitempty"`

	// Labels added to the alert, beside alertname, journey, namespace,
	// severity and (User scope) user.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]{0,62}$'))",message="label names must be Prometheus label names: a letter or '_' followed by letters, digits or '_'"
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations sent with the alert, e.g. summary and description.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Notify lists the receivers of firing alerts.
type Notify struct {
	// Alertmanager receives alerts on its API v2 (POST /api/v2/alerts).
	// +optional
	Alertmanager *AlertmanagerTarget `json:"alertmanager,omitempty"`

	// Webhooks receive alerts as JSON.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Webhooks []WebhookTarget `json:"webhooks,omitempty"`
}

// AlertmanagerTarget is an Alertmanager to send alerts to.
type AlertmanagerTarget struct {
	// URL of Alertmanager, e.g. http://alertmanager.monitoring:9093.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http or https URL, e.g. http://alertmanager.monitoring:9093"
	URL string `json:"url"`
}

// WebhookTarget is an HTTP endpoint that receives JSON.
type WebhookTarget struct {
	// URL the JSON is POSTed to.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http or https URL"
	URL string `json:"url"`

	// SecretRef selects a Secret key sent as a Bearer token.
	// +optional
	SecretRef *SecretKeyRef `json:"secretRef,omitempty"`
}

// FeedbackTrigger sends a survey request when a user enters a stage.
type FeedbackTrigger struct {
	// Name of the trigger, a DNS label, e.g. exit-survey.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="feedback name must be a DNS label: lowercase letters, digits and '-', e.g. exit-survey"
	Name string `json:"name"`

	// OnEnter is the stage whose entry triggers the survey.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	OnEnter string `json:"onEnter"`

	// Webhook receives {user, stage, journey, time} as JSON.
	// +required
	Webhook WebhookTarget `json:"webhook"`

	// Cooldown is the least time between two surveys of the same trigger to
	// the same user. Empty: once per user.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="cooldown must be a positive duration such as 720h"
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`
}

// Dashboard configures the journey map page.
type Dashboard struct {
	// Enabled serves the journey map page at / on the evaluator's Service.
	// +optional
	// +kubebuilder:default=true
	Enabled bool `json:"enabled"`
}

// StageStatus counts the users in a stage.
type StageStatus struct {
	Name  string `json:"name"`
	Users int64  `json:"users"`
}

// ConversionStatus is the share of users who moved from one stage to the next
// within the conversion window.
type ConversionStatus struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Rate between 0 and 1, as a decimal string, e.g. "0.31".
	Rate string `json:"rate"`
}

// AlertStatus counts what an alert fires for.
type AlertStatus struct {
	Name string `json:"name"`
	// Firing is the number of users (User scope), or 0 or 1 (Journey scope).
	Firing int64 `json:"firing"`
}

// FeedbackStatus counts the surveys a trigger sent and the responses to them.
type FeedbackStatus struct {
	Name      string `json:"name"`
	Sent      int64  `json:"sent"`
	Responses int64  `json:"responses"`
	// ResponseRate between 0 and 1, as a decimal string.
	// +optional
	ResponseRate string `json:"responseRate,omitempty"`
}

// JourneyMapStatus is written by the controller (conditions, workload) and by
// the map's evaluator (everything it counted).
type JourneyMapStatus struct {
	// ObservedGeneration is the generation the status describes; -1 until the
	// controller has looked at the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled. Stalled names the stage, alert
	// or feedback trigger that does not compile, and why.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// StageCount is the number of stages in the map.
	// +optional
	StageCount int32 `json:"stageCount,omitempty"`

	// Workload the controller runs for this map.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`

	// LastEvaluationTime is when the evaluator last finished an evaluation.
	// +optional
	LastEvaluationTime *metav1.Time `json:"lastEvaluationTime,omitempty"`

	// Users is the number of users with at least one event in the journey.
	// +optional
	Users int64 `json:"users,omitempty"`

	// Stages counts the users currently in each stage.
	// +optional
	// +listType=map
	// +listMapKey=name
	Stages []StageStatus `json:"stages,omitempty"`

	// Conversions between consecutive stages.
	// +optional
	Conversions []ConversionStatus `json:"conversions,omitempty"`

	// FiringAlerts is the number of alerts firing (each user counts once per
	// User-scoped alert).
	// +optional
	FiringAlerts int64 `json:"firingAlerts,omitempty"`

	// Alerts counts what each alert fires for.
	// +optional
	// +listType=map
	// +listMapKey=name
	Alerts []AlertStatus `json:"alerts,omitempty"`

	// Feedback counts each trigger's surveys and responses.
	// +optional
	// +listType=map
	// +listMapKey=name
	Feedback []FeedbackStatus `json:"feedback,omitempty"`

	// Prediction is the churn model's last training: how it did on a later,
	// held-out period, and the expected churn by stage.
	// +optional
	Prediction *PredictionStatus `json:"prediction,omitempty"`

	// KPIs: discrepancies the map's sources held and how fast they are
	// resolved, and conversion and renewal of the latest complete week.
	// +optional
	KPIs *KPIStatus `json:"kpis,omitempty"`

	// LastHandledRequestedAt echoes the journey.cjm.dev/requested-at annotation
	// value handled last.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`
}

// KPIStatus is what the evaluator measures for the people who run the
// journey: the page and /api/v1/kpis have them week by week.
type KPIStatus struct {
	// DiscrepanciesFound is every record the map's sources' checks held for
	// review; DiscrepanciesPending those still waiting.
	DiscrepanciesFound   int64 `json:"discrepanciesFound"`
	DiscrepanciesPending int64 `json:"discrepanciesPending"`
	// ReviewsResolved records were released or discarded, after waiting
	// MedianTimeToReview (over the newest reviews).
	// +optional
	ReviewsResolved int64 `json:"reviewsResolved,omitempty"`
	// +optional
	MedianTimeToReview *metav1.Duration `json:"medianTimeToReview,omitempty"`
	// AlertsResolved stopped firing since the evaluator started, after
	// firing for MedianTimeToResolve.
	// +optional
	AlertsResolved int64 `json:"alertsResolved,omitempty"`
	// +optional
	MedianTimeToResolve *metav1.Duration `json:"medianTimeToResolve,omitempty"`
	// WeeklyConversion is each funnel step for the latest weekly cohort
	// whose conversion window has ended.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	WeeklyConversion []WeeklyConversionStatus `json:"weeklyConversion,omitempty"`
	// RenewalRate is the share of paying customers at the start of the
	// last full week who were still customers at its end, as a decimal
	// string.
	// +optional
	RenewalRate string `json:"renewalRate,omitempty"`
}

// WeeklyConversionStatus is a funnel step for one weekly cohort.
type WeeklyConversionStatus struct {
	// Week is the cohort's Monday (UTC).
	Week    metav1.Time `json:"week"`
	From    string      `json:"from"`
	To      string      `json:"to"`
	Entered int64       `json:"entered"`
	// Rate between 0 and 1, as a decimal string.
	Rate string `json:"rate"`
}

// PredictionStatus is what the last training of the churn model found.
type PredictionStatus struct {
	// TrainedAt is when the model was trained.
	// +optional
	TrainedAt *metav1.Time `json:"trainedAt,omitempty"`

	// Model names the kind of model (logistic).
	// +optional
	Model string `json:"model,omitempty"`

	// HeldOut is how the model did on users of a later period than it was
	// trained on, next to the map's own rule (being in the stage before
	// the last).
	// +optional
	HeldOut *HeldOutStatus `json:"heldOut,omitempty"`

	// ByStage is the expected churn of the users in each stage now.
	// +optional
	// +listType=map
	// +listMapKey=stage
	// +kubebuilder:validation:MaxItems=32
	ByStage []StageRisk `json:"byStage,omitempty"`

	// Message says why no model could be trained, when none could.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// HeldOutStatus is the model's quality on held-out users. Figures are
// decimal strings so that status stays exact and readable.
type HeldOutStatus struct {
	Users     int64 `json:"users"`
	Positives int64 `json:"positives"`
	// AUC of the model; BaselineAUC of the map's own rule on the same users.
	AUC         string `json:"auc"`
	BaselineAUC string `json:"baselineAUC"`
	// LiftTopDecile: the churn rate among the tenth scored highest over the
	// rate among all.
	LiftTopDecile string `json:"liftTopDecile"`
	// CalibrationError: the mean gap between predicted and observed rates
	// over ten bins of risk.
	CalibrationError string `json:"calibrationError"`
}

// StageRisk is a stage's users and their mean risk.
type StageRisk struct {
	Stage         string `json:"stage"`
	Users         int64  `json:"users"`
	ExpectedChurn string `json:"expectedChurn"`
}

// JourneyMap is the journey customers go through, computed from the events of
// its sources: ordered stages, alerts on them, surveys triggered after journey
// steps, and a journey map page.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 50 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 50 characters: it names the map's Service (<name>-evaluator)"
// +kubebuilder:resource:shortName=jmap,categories=journey
// +kubebuilder:printcolumn:name="Stages",type=integer,JSONPath=`.status.stageCount`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.users`
// +kubebuilder:printcolumn:name="Firing",type=integer,JSONPath=`.status.firingAlerts`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Last Evaluated",type=date,JSONPath=`.status.lastEvaluationTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type JourneyMap struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec JourneyMapSpec `json:"spec"`

	// +kubebuilder:default={observedGeneration:-1}
	Status JourneyMapStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// JourneyMapList is a list of JourneyMaps.
type JourneyMapList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []JourneyMap `json:"items"`
}

func init() {
	SchemeBuilder.Register(&JourneyMap{}, &JourneyMapList{})
}
