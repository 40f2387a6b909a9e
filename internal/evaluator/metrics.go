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
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.users, m.stageUsers, m.conversion, m.firing, m.pending, m.duration, m.evaluations, m.deliveryFailures, m.behind} {
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
	m.duration.Observe(took.Seconds())
	m.evaluations.Inc()
}
