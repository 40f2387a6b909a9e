package dashboard

import (
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// streamingSnapshot is a realistic evaluation of the streaming journey of
// the API design (JourneyMap): 48,211 users over six stages whose current
// counts add up to the users, transitions that balance each stage (moved in
// = moved on + there now), both alerts firing, an exit survey and six
// sources.
func streamingSnapshot() journey.Snapshot {
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	return journey.Snapshot{
		Namespace:   "media",
		Name:        "streaming",
		EvaluatedAt: at,
		Users:       48211,
		Stages: []journey.StageCount{
			{Name: "Discovery", Description: "browsed the catalog", Users: 28750, ChurnRate: 0.118},
			{Name: "Trial", Description: "started a free trial", Users: 8650, ChurnRate: 0.356},
			{Name: "Subscribed", Description: "paid an invoice", Users: 1701, ChurnRate: 0.268},
			{Name: "Engaged", Description: "streamed 2 hours or more in the last 7 days", Users: 1890, ChurnRate: 0.132},
			{Name: "AtRisk", Description: "a payment failed in the last 30 days", Users: 440, ChurnRate: 0.254},
			{Name: "Churned", Description: "cancelled the subscription", Users: 6780, ChurnRate: 1},
		},
		Transitions: []journey.Transition{
			{From: "", To: "Discovery", Users: 45900},
			{From: "", To: "Trial", Users: 1800},
			{From: "", To: "Subscribed", Users: 511},
			{From: "Discovery", To: "Trial", Users: 14200},
			{From: "Discovery", To: "Subscribed", Users: 2950},
			{From: "Trial", To: "Subscribed", Users: 2050},
			{From: "Trial", To: "Churned", Users: 5300},
			{From: "Subscribed", To: "Engaged", Users: 4300},
			{From: "Subscribed", To: "AtRisk", Users: 610},
			{From: "Subscribed", To: "Churned", Users: 820},
			{From: "Engaged", To: "AtRisk", Users: 1180},
			{From: "Engaged", To: "Subscribed", Users: 1300},
			{From: "Engaged", To: "Churned", Users: 240},
			{From: "AtRisk", To: "Subscribed", Users: 620},
			{From: "AtRisk", To: "Engaged", Users: 310},
			{From: "AtRisk", To: "Churned", Users: 420},
		},
		Funnel: []journey.FunnelStep{
			{From: "Discovery", To: "Trial", Entered: 45900, Converted: 14200, Rate: 14200.0 / 45900, DropOff: 31700, MedianTimeToConvert: 2*day + 5*time.Hour},
			{From: "Trial", To: "Subscribed", Entered: 16000, Converted: 2050, Rate: 2050.0 / 16000, DropOff: 13950, MedianTimeToConvert: 6*day + 20*time.Hour},
			{From: "Subscribed", To: "Engaged", Entered: 5511, Converted: 3900, Rate: 3900.0 / 5511, DropOff: 1611, MedianTimeToConvert: 9*day + 3*time.Hour},
			{From: "Engaged", To: "AtRisk", Entered: 4300, Converted: 1180, Rate: 1180.0 / 4300, DropOff: 3120, MedianTimeToConvert: 18*day + 7*time.Hour},
			{From: "AtRisk", To: "Churned", Entered: 1650, Converted: 420, Rate: 420.0 / 1650, DropOff: 1230, MedianTimeToConvert: 11*day + 2*time.Hour},
		},
		Alerts: []journey.AlertState{
			{
				Name: "StreamingDropAfterBillingFailure", Scope: "User", Severity: "warning",
				Annotations: map[string]string{"summary": "streaming fell by half after a failed payment"},
				Firing:      8, Pending: 3,
				Instances: []journey.AlertInstance{{User: "cus_Q3kd81", ActiveAt: at.Add(-3 * time.Hour), FiredAt: at.Add(-2 * time.Hour)}},
			},
			{
				Name: "TrialConversionLow", Scope: "Journey", Severity: "critical",
				Annotations: map[string]string{"summary": "fewer than 15% of trials convert to a subscription"},
				Firing:      1,
				Instances:   []journey.AlertInstance{{ActiveAt: at.Add(-26 * time.Hour), FiredAt: at.Add(-26 * time.Hour)}},
			},
		},
		Prediction: &journey.Prediction{Model: "logistic", TrainedAt: at.Add(-3 * time.Hour), Horizon: 720 * time.Hour,
			HeldOut: journey.HeldOut{Users: 1840, Positives: 212, AUC: 0.83, BaselineAUC: 0.66, LiftTopDecile: 3.9, CalibrationError: 0.03},
			ByStage: []journey.RiskGroup{{Name: "Engaged", Users: 458, ExpectedChurn: 0.06}, {Name: "AtRisk", Users: 120, ExpectedChurn: 0.41}}},
		Feedback: []journey.FeedbackCount{
			{Name: "exit-survey", OnEnter: "Churned", Sent: 6120, Responses: 1102, ResponseRate: 1102.0 / 6120},
		},
		Sources: []journey.SourceState{
			{Name: "catalog-web", Touchpoint: "catalog", System: "segment", LastRun: &journey.RunState{
				ID: "r-8841", Outcome: "Succeeded", FinishedAt: at.Add(-4 * time.Minute),
				Read: 182400, Accepted: 181950, Duplicates: 450,
				Exceptions: map[string]int64{"required": 12},
			}},
			{Name: "playback-mux", Touchpoint: "playback", System: "mux", LastRun: &journey.RunState{
				ID: "r-8842", Outcome: "Succeeded", FinishedAt: at.Add(-3 * time.Minute),
				Read: 1204332, Accepted: 1203900, Duplicates: 402, Rejected: 30,
				Exceptions: map[string]int64{"minutes-non-negative": 30, "fresh": 1},
			}},
			{Name: "billing-stripe", Touchpoint: "billing", System: "stripe", Financial: true, LastRun: &journey.RunState{
				ID: "r-8843", Outcome: "Quarantined", Message: "6 records held for review", FinishedAt: at.Add(-9 * time.Minute),
				Read: 1200, Accepted: 1190, Duplicates: 4, Quarantined: 6,
				Exceptions: map[string]int64{"customer-known": 4, "amount-non-negative": 2},
			}, Pending: 17, OldestPending: at.Add(-5 * 24 * time.Hour)},
			{Name: "billing-zuora", Touchpoint: "billing", System: "zuora", Financial: true, LastRun: &journey.RunState{
				ID: "r-8844", Outcome: "Failed", Message: "the Zuora API answered 503 three times; the next run retries", FinishedAt: at.Add(-14 * time.Minute),
				Read:       0,
				Exceptions: map[string]int64{"volume": 1},
			}},
			{Name: "support-zendesk", Touchpoint: "support", System: "zendesk", LastRun: &journey.RunState{
				ID: "r-8845", Outcome: "Succeeded", FinishedAt: at.Add(-11 * time.Minute),
				Read: 8412, Accepted: 8398, Duplicates: 14,
				Exceptions: map[string]int64{"required": 3},
			}},
			{Name: "crm-salesforce", Touchpoint: "crm", System: "salesforce", LastRun: &journey.RunState{
				ID: "r-8846", Outcome: "Succeeded", FinishedAt: at.Add(-52 * time.Minute),
				Read: 52870, Accepted: 52853, Rejected: 17,
				Exceptions: map[string]int64{"country-code": 17},
			}},
		},
	}
}
