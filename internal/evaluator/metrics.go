package evaluator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// Metrics are the evaluator's Prometheus series, labelled by namespace and
// journey.
type Metrics struct {
	users       prometheus.Gauge
	stageUsers  *prometheus.GaugeVec
	conversion  *prometheus.GaugeVec
	firing      *prometheus.GaugeVec
	pending     *prometheus.GaugeVec
	duration    prometheus.Histogram
	evaluations prometheus.Counter
	// deliveryFailures counts alert and survey deliveries that failed.
	deliveryFailures prometheus.Counter
	// behind is how many events had arrived since the last evaluation.
	behind prometheus.Gauge
	// lateInPlace counts late events of users whose earlier events were
	// retired by policy (see journey.Engine.Update).
	lateInPlace prometheus.Counter
	// historyFrom is from when the users' states hold the events' effect.
	historyFrom prometheus.Gauge
	// The churn model's held-out quality, next to the map's own rule's, and
	// the expected churn by stage.
	churnAUC, churnRuleAUC, churnTrained prometheus.Gauge
	churnExpected                        *prometheus.GaugeVec
	kpiMetrics
}

func newMetrics(reg prometheus.Registerer, namespace, name string) (*Metrics, error) {
	labels := prometheus.Labels{"namespace": namespace, "journey": name}
	m := &Metrics{
		users: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_users", ConstLabels: labels,
			Help: "Users with at least one event in the journey."}),
		stageUsers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_stage_users", ConstLabels: labels,
			Help: "Users currently in each stage."}, []string{"stage"}),
		conversion: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_conversion_ratio", ConstLabels: labels,
			Help: "Share of users who entered a stage and then the next one within the conversion window."}, []string{"from", "to"}),
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_alerts_firing", ConstLabels: labels,
			Help: "Firing instances of each alert: users (User scope) or 0/1 (Journey scope)."}, []string{"alert", "severity"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_alerts_pending", ConstLabels: labels,
			Help: "Instances of each alert waiting out its `for`."}, []string{"alert", "severity"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "journey_evaluation_duration_seconds", ConstLabels: labels,
			Help: "How long an evaluation took.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_evaluations_total", ConstLabels: labels,
			Help: "Evaluations finished."}),
		deliveryFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_delivery_failures_total", ConstLabels: labels,
			Help: "Alert and survey deliveries that failed (retried at the next evaluation)."}),
		behind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_events_behind_watermark", ConstLabels: labels,
			Help: "Events ingested since the previous evaluation's watermark, caught up by the evaluation."}),
		lateInPlace: prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_late_events_in_place_total", ConstLabels: labels,
			Help: "Late events of users some of whose earlier events were retired by policy: evaluated after the user's newer events instead of the user being evaluated again."}),
		historyFrom: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_history_from_timestamp_seconds", ConstLabels: labels,
			Help: "From when the users' states hold what events made of them (Unix time; 0: from the first event). Set when the map was evaluated from every event after months were retired by policy."}),
		churnAUC: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_churn_model_auc", ConstLabels: labels,
			Help: "The churn model's AUC on held-out users of a later period than it was trained on."}),
		churnRuleAUC: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_churn_rule_auc", ConstLabels: labels,
			Help: "The AUC of the map's own rule (being in the stage before the last) on the same held-out users."}),
		churnTrained: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_churn_model_trained_timestamp_seconds", ConstLabels: labels,
			Help: "When the churn model was last trained (Unix time)."}),
		churnExpected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_churn_expected_ratio", ConstLabels: labels,
			Help: "The mean churn risk of the users in each stage: the share expected to churn within the horizon."}, []string{"stage"}),
		kpiMetrics: newKPIMetrics(labels),
	}
	if reg != nil {
		for _, c := range append([]prometheus.Collector{m.users, m.stageUsers, m.conversion, m.firing, m.pending, m.duration, m.evaluations, m.deliveryFailures, m.behind, m.lateInPlace, m.historyFrom,
			m.churnAUC, m.churnRuleAUC, m.churnTrained, m.churnExpected}, m.kpiMetrics.collectors()...) {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) observe(s journey.Snapshot, took time.Duration) {
	m.users.Set(float64(s.Users))
	for _, st := range s.Stages {
		m.stageUsers.WithLabelValues(st.Name).Set(float64(st.Users))
	}
	for _, f := range s.Funnel {
		m.conversion.WithLabelValues(f.From, f.To).Set(f.Rate)
	}
	for _, a := range s.Alerts {
		m.firing.WithLabelValues(a.Name, a.Severity).Set(float64(a.Firing))
		m.pending.WithLabelValues(a.Name, a.Severity).Set(float64(a.Pending))
	}
	if p := s.Prediction; p != nil && p.Model != "" {
		m.churnAUC.Set(p.HeldOut.AUC)
		m.churnRuleAUC.Set(p.HeldOut.BaselineAUC)
		m.churnTrained.Set(float64(p.TrainedAt.Unix()))
		for _, g := range p.ByStage {
			m.churnExpected.WithLabelValues(g.Name).Set(g.ExpectedChurn)
		}
	}
	m.duration.Observe(took.Seconds())
	m.evaluations.Inc()
}
