package controllers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// Metrics are the manager's compliance series: what sources hold for
// review, and how reviews resolve it. They are read from status (run and
// review reports), so the manager needs no access to the store.
type Metrics struct {
	pending        *prometheus.GaugeVec
	pendingByCheck *prometheus.GaugeVec
	oldestPending  *prometheus.GaugeVec
	reviews        *prometheus.CounterVec
	timeToResolve  *prometheus.HistogramVec
}

// NewMetrics registers the series with reg, reusing those a manager
// registered before in the same process.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_quarantine_pending_records",
			Help: "Records a financial source holds for review (as its newest run or review reported)."}, []string{"namespace", "source"}),
		pendingByCheck: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_quarantine_pending_records_by_check",
			Help: "Records held for review, by the check that held them (a record held by two checks counts for each)."},
			[]string{"namespace", "source", "check"}),
		oldestPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_quarantine_oldest_pending_timestamp_seconds",
			Help: "When the oldest record pending review was held (Unix time); time() minus it is its age."}, []string{"namespace", "source"}),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_quarantine_reviews_total",
			Help: "QuarantineReviews carried out, by decision."}, []string{"namespace", "source", "decision"}),
		timeToResolve: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "journey_quarantine_time_to_resolve_seconds",
			Help:    "How long the oldest record a review decided on had waited for it.",
			Buckets: []float64{3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 7 * 24 * 3600, 30 * 24 * 3600}},
			[]string{"namespace", "source", "decision"}),
	}
	var err error
	if m.pending, err = register(reg, m.pending); err != nil {
		return nil, err
	}
	if m.pendingByCheck, err = register(reg, m.pendingByCheck); err != nil {
		return nil, err
	}
	if m.oldestPending, err = register(reg, m.oldestPending); err != nil {
		return nil, err
	}
	if m.reviews, err = register(reg, m.reviews); err != nil {
		return nil, err
	}
	if m.timeToResolve, err = register(reg, m.timeToResolve); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector registered before it.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, err
}

// sourceQuarantine publishes what a source holds for review.
func (m *Metrics) sourceQuarantine(src *v1alpha1.TouchpointSource) {
	if m == nil {
		return
	}
	m.forget(src.Namespace, src.Name)
	q := src.Status.Quarantine
	if q == nil || !src.Spec.Financial {
		return
	}
	m.pending.WithLabelValues(src.Namespace, src.Name).Set(float64(q.Pending))
	for _, c := range q.ByCheck {
		m.pendingByCheck.WithLabelValues(src.Namespace, src.Name, c.Check).Set(float64(c.Pending))
	}
	if q.OldestPendingTime != nil {
		m.oldestPending.WithLabelValues(src.Namespace, src.Name).Set(float64(q.OldestPendingTime.Unix()))
	}
}

// forget drops a source's series (it was deleted, or holds nothing now).
func (m *Metrics) forget(namespace, name string) {
	if m == nil {
		return
	}
	labels := map[string]string{"namespace": namespace, "source": name}
	m.pending.DeletePartialMatch(labels)
	m.pendingByCheck.DeletePartialMatch(labels)
	m.oldestPending.DeletePartialMatch(labels)
}

// reviewed counts a review carried out and how long its records waited.
func (m *Metrics) reviewed(rev *v1alpha1.QuarantineReview) {
	if m == nil {
		return
	}
	decision := string(rev.Spec.Decision)
	m.reviews.WithLabelValues(rev.Namespace, rev.Spec.Source, decision).Inc()
	if st := rev.Status; st.OldestRecordTime != nil && st.CompletionTime != nil {
		m.timeToResolve.WithLabelValues(rev.Namespace, rev.Spec.Source, decision).Observe(st.CompletionTime.Sub(st.OldestRecordTime.Time).Seconds())
	}
}
