package evaluator

import (
	"context"
	"math"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/journey"
)

// maxResolutions bounds the resolved alerts whose firing time the median
// is taken over.
const maxResolutions = 1000

// alertResolutions is how long the alerts that stopped firing had fired,
// since the evaluator started.
type alertResolutions struct {
	resolved int64
	recent   []float64 // seconds, a ring of the newest maxResolutions
	next     int
}

func (r *alertResolutions) add(seconds float64) {
	r.resolved++
	if len(r.recent) < maxResolutions {
		r.recent = append(r.recent, seconds)
		return
	}
	r.recent[r.next] = seconds
	r.next = (r.next + 1) % maxResolutions
}

// noteResolved counts the instances that fired in the previous snapshot
// and do not now: resolved now, after firing since they started to.
func (e *Evaluator) noteResolved(prev, now journey.Snapshot) {
	firing := map[[2]string]bool{}
	for _, a := range now.Alerts {
		for _, in := range a.Instances {
			firing[[2]string{a.Name, in.User}] = true
		}
	}
	for _, a := range prev.Alerts {
		for _, in := range a.Instances {
			if firing[[2]string{a.Name, in.User}] {
				continue
			}
			d := now.EvaluatedAt.Sub(in.FiredAt).Seconds()
			e.resolutions.add(d)
			e.metrics.alertResolution.WithLabelValues(a.Name).Observe(d)
		}
	}
}

// measureKPIs sets the snapshot's KPIs and their metrics from the
// drill-down, which the evaluation has just been published to (none when
// the map's page, and with it the drill-down, is disabled).
func (e *Evaluator) measureKPIs(ctx context.Context, snap *journey.Snapshot) {
	if e.drill == nil {
		return
	}
	e.drill.SetAlertResolution(drill.AlertResolution{Resolved: e.resolutions.resolved, MedianSeconds: medianOf(e.resolutions.recent)})
	v, err := e.drill.KPIs(ctx, nil)
	if err != nil {
		e.log.Error(err, "measuring the KPIs")
		return
	}
	k := v.Summary(snap.EvaluatedAt)
	snap.KPIs = &k
	m := e.metrics
	m.discrepancies.Reset()
	for _, d := range v.Discrepancies {
		m.discrepancies.WithLabelValues(d.Source, d.Check, "Pending").Set(float64(d.Pending))
		m.discrepancies.WithLabelValues(d.Source, d.Check, "Released").Set(float64(d.Released))
		m.discrepancies.WithLabelValues(d.Source, d.Check, "Discarded").Set(float64(d.Discarded))
	}
	for _, c := range k.WeeklyConversion {
		m.weeklyConversion.WithLabelValues(c.From, c.To).Set(c.Rate)
	}
	if !math.IsNaN(k.RenewalRate) {
		m.renewal.Set(k.RenewalRate)
	}
	for _, s := range v.Surveys {
		m.surveyResponse.WithLabelValues(s.Trigger, s.Stage).Set(s.Rate)
	}
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// kpiMetrics are the KPIs' series.
type kpiMetrics struct {
	alertResolution  *prometheus.HistogramVec
	discrepancies    *prometheus.GaugeVec
	weeklyConversion *prometheus.GaugeVec
	renewal          prometheus.Gauge
	surveyResponse   *prometheus.GaugeVec
}

func newKPIMetrics(labels prometheus.Labels) kpiMetrics {
	return kpiMetrics{
		alertResolution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "journey_alert_resolution_seconds", ConstLabels: labels,
			Help:    "How long each alert instance that stopped firing had fired, from firing to resolved.",
			Buckets: prometheus.ExponentialBuckets(60, 4, 9)}, []string{"alert"}),
		discrepancies: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_discrepancies", ConstLabels: labels,
			Help: "Records the map's sources' checks held for review, by source, check and what became of them (Pending, Released, Discarded)."},
			[]string{"source", "check", "status"}),
		weeklyConversion: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_weekly_conversion_ratio", ConstLabels: labels,
			Help: "Each funnel step for the latest weekly cohort whose conversion window has ended."}, []string{"from", "to"}),
		renewal: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_renewal_ratio", ConstLabels: labels,
			Help: "Share of paying customers at the start of the last full week still customers at its end."}),
		surveyResponse: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_survey_response_ratio", ConstLabels: labels,
			Help: "Share of the users each survey trigger sent a survey to who answered."}, []string{"trigger", "stage"}),
	}
}

func (k kpiMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{k.alertResolution, k.discrepancies, k.weeklyConversion, k.renewal, k.surveyResponse}
}

// kpiStatus is the KPIs as the map's status has them.
func kpiStatus(k *journey.KPIs) *v1alpha1.KPIStatus {
	if k == nil {
		return nil
	}
	st := &v1alpha1.KPIStatus{DiscrepanciesFound: k.DiscrepanciesFound, DiscrepanciesPending: k.DiscrepanciesPending,
		ReviewsResolved: k.ReviewsResolved, AlertsResolved: k.AlertsResolved}
	if k.ReviewsResolved > 0 {
		st.MedianTimeToReview = &metav1.Duration{Duration: k.MedianTimeToReview}
	}
	if k.AlertsResolved > 0 {
		st.MedianTimeToResolve = &metav1.Duration{Duration: k.MedianTimeToResolve}
	}
	for _, c := range k.WeeklyConversion {
		st.WeeklyConversion = append(st.WeeklyConversion, v1alpha1.WeeklyConversionStatus{Week: metav1.NewTime(c.Week), From: c.From, To: c.To,
			Entered: c.Entered, Rate: strconv.FormatFloat(c.Rate, 'f', 2, 64)})
	}
	if !math.IsNaN(k.RenewalRate) {
		st.RenewalRate = strconv.FormatFloat(k.RenewalRate, 'f', 3, 64)
	}
	return st
}
