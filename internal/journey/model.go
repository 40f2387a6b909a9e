// Package journey evaluates a JourneyMap: stages per user from the events of
// its sources, transitions, the funnel, alerts and feedback triggers. This
// file is the model one evaluation produces: the evaluator patches the
// JourneyMap's status from it, exports it as metrics, sends its alerts, and
// the dashboard draws it.
package journey

import "time"

// Snapshot is what one evaluation of a journey map found.
type Snapshot struct {
	Namespace   string
	Name        string
	EvaluatedAt time.Time
	// Users is the number of users with at least one event in the journey.
	Users int64
	// Stages in spec order, with the users currently in each.
	Stages []StageCount
	// Transitions counts users who moved between stages (From "" is entry
	// into the first stage a user reached), over all time.
	Transitions []Transition
	// Funnel between consecutive stages, in spec order.
	Funnel []FunnelStep
	// Alerts in spec order.
	Alerts []AlertState
	// Feedback triggers in spec order.
	Feedback []FeedbackCount
	// Sources the map reads, with their last run.
	Sources []SourceState
	// Prediction is the churn model's last training, when the map asks for
	// one (spec.prediction).
	Prediction *Prediction
	// KPIs are the evaluator's measures of the journey (nil: not measured).
	KPIs *KPIs
}

// KPIs are discrepancies and how fast they are resolved, and conversion and
// renewal of the latest complete week.
type KPIs struct {
	DiscrepanciesFound, DiscrepanciesPending int64
	ReviewsResolved                          int64
	MedianTimeToReview                       time.Duration
	AlertsResolved                           int64
	MedianTimeToResolve                      time.Duration
	WeeklyConversion                         []WeeklyConversion
	// RenewalRate is of RenewalWeek; NaN when no week has ended.
	RenewalRate float64
	RenewalWeek time.Time
}

// WeeklyConversion is a funnel step for one weekly cohort.
type WeeklyConversion struct {
	Week     time.Time
	From, To string
	Entered  int64
	Rate     float64
}

// Prediction is what the churn model's last training found.
type Prediction struct {
	Model     string
	TrainedAt time.Time
	// Horizon: risk is the probability of entering the last stage within it.
	Horizon time.Duration
	// HeldOut is how the model did on a later period's users, next to the
	// map's own rule (being in the stage before the last); NaN when not
	// measurable.
	HeldOut HeldOut
	// ByStage and BySegment are the users' expected churn now.
	ByStage, BySegment []RiskGroup
	// Message says why there is no model, when there is none.
	Message string
}

// HeldOut is a model's quality on held-out users.
type HeldOut struct {
	Users, Positives                                  int
	AUC, BaselineAUC, LiftTopDecile, CalibrationError float64
}

// RiskGroup is a group of users (a stage, a segment's value) and its mean
// risk.
type RiskGroup struct {
	Name          string
	Users         int
	ExpectedChurn float64
}

// StageCount is one stage and the users in it now.
type StageCount struct {
	Name        string
	Description string
	Users       int64
	// ChurnRate is the share of users who ever entered this stage and later
	// churned (entered the last stage), 0..1.
	ChurnRate float64
}

// Transition is a move between two stages.
type Transition struct {
	From, To string
	Users    int64
}

// FunnelStep is the conversion from one stage to the next within the map's
// conversion window.
type FunnelStep struct {
	From, To string
	// Entered is how many users reached From; Converted how many of them
	// reached To within the window.
	Entered, Converted int64
	// Rate is Converted / Entered (0 when nobody entered).
	Rate float64
	// DropOff is Entered - Converted.
	DropOff int64
	// MedianTimeToConvert among the converted.
	MedianTimeToConvert time.Duration
}

// Alert states, as Prometheus names them.
const (
	AlertInactive = "inactive"
	AlertPending  = "pending"
	AlertFiring   = "firing"
)

// AlertState is one alert of the map.
type AlertState struct {
	Name     string
	Scope    string // User or Journey
	Severity string
	// Labels and Annotations from the spec.
	Labels      map[string]string
	Annotations map[string]string
	// Firing counts users (User scope) or is 0 or 1 (Journey scope);
	// Pending likewise for those waiting out `for`.
	Firing, Pending int64
	// Instances are the firing ones, for notification: one per user for
	// User scope (User set), one for Journey scope (User empty).
	Instances []AlertInstance
	// Waiting are the User-scoped ones still waiting out `for`, for the
	// drill-down; never notified.
	Waiting []AlertInstance
}

// AlertInstance is one firing alert.
type AlertInstance struct {
	User     string
	ActiveAt time.Time // when the expression started to hold
	FiredAt  time.Time // when it started firing (ActiveAt + for)
}

// FeedbackCount is one survey trigger's activity.
type FeedbackCount struct {
	Name, OnEnter   string
	Sent, Responses int64
	ResponseRate    float64
}

// SourceState is one source of the map and its last run, for the page.
type SourceState struct {
	Name, Touchpoint, System string
	Financial                bool
	LastRun                  *RunState
	// Pending records wait for review, the oldest held at OldestPending.
	Pending       int64
	OldestPending time.Time
}

// RunState is a source's last run as the store recorded it.
type RunState struct {
	ID                                                string
	Outcome, Message                                  string
	FinishedAt                                        time.Time
	Read, Accepted, Duplicates, Quarantined, Rejected int64
	// Exceptions are validation failures by check name.
	Exceptions map[string]int64
}
