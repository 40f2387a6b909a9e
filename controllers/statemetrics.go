package controllers

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// The outcomes a run's series is published for, so that a change of
// outcome shows as one series going to 0 and another to 1.
var runOutcomes = []v1alpha1.RunOutcome{v1alpha1.RunSucceeded, v1alpha1.RunFailed, v1alpha1.RunQuarantined,
	v1alpha1.RunStale, v1alpha1.RunVolumeAnomaly}

// StateCollector publishes what the journey resources' status says, read
// from the manager's informer cache at each scrape, as kube-state-metrics
// does for built-in kinds: each source's last run, when it last succeeded,
// how often it is scheduled to run, its readiness and audit compliance;
// each map's readiness and evaluation interval. Nothing is counted in
// memory, so a restarted or new leader reports the same. Only the leader
// reports (the others' caches are as fresh, but one set of series is
// simpler to alert on).
type StateCollector struct {
	reader  client.Reader
	elected <-chan struct{}
	log     logr.Logger

	// intervals caches a schedule's longest gap by "schedule\x00zone".
	intervals sync.Map
}

// scrapeTimeout bounds the cache reads of one scrape: before the caches
// have synced, a scrape gets no journey series rather than waiting.
const scrapeTimeout = 5 * time.Second

var (
	sourceLabels = []string{"namespace", "source"}

	descSourceInfo = prometheus.NewDesc("journey_source_info",
		"A TouchpointSource: its touchpoint, system, mode (Batch or Webhook) and whether it is financial (SOX scope). Always 1.",
		append(sourceLabels, "touchpoint", "system", "mode", "financial"), nil)
	descSourceReady = prometheus.NewDesc("journey_source_ready",
		"1 when the source's Ready condition is True, else 0; reason is the condition's.", append(sourceLabels, "reason"), nil)
	descSourceAudit = prometheus.NewDesc("journey_source_audit_compliant",
		"1 when a financial source's AuditCompliant condition is True, else 0; reason is the condition's (LedgerBroken, ReviewOverdue, ...).",
		append(sourceLabels, "reason"), nil)
	descLastOutcome = prometheus.NewDesc("journey_source_last_run_outcome",
		"1 for the outcome of the source's newest finished run (Succeeded, Failed, Quarantined, Stale, VolumeAnomaly), 0 for the others.",
		append(sourceLabels, "outcome"), nil)
	descLastRunTime = prometheus.NewDesc("journey_source_last_run_timestamp_seconds",
		"When the source's newest run finished (Unix time).", sourceLabels, nil)
	descLastRunRecords = prometheus.NewDesc("journey_source_last_run_records",
		"Records of the source's newest run by result: read, accepted, duplicates, quarantined, rejected, warnings.",
		append(sourceLabels, "result"), nil)
	descLastSuccess = prometheus.NewDesc("journey_source_last_success_timestamp_seconds",
		"When the source's newest run that committed (any outcome but Failed) finished (Unix time).", sourceLabels, nil)
	descRuns = prometheus.NewDesc("journey_source_runs_total",
		"Runs the source finished, by result: succeeded (committed, whatever the outcome) or failed (nothing committed), as status.runs counts them.",
		append(sourceLabels, "result"), nil)
	descSchedule = prometheus.NewDesc("journey_source_schedule_interval_seconds",
		"The longest time between two scheduled runs of a batch source that is not suspended, over a year of its schedule (at most 2,000 runs).",
		sourceLabels, nil)
	descSourceCreated = prometheus.NewDesc("journey_source_created_timestamp_seconds",
		"When the source was created (Unix time): how long a source that never succeeded has waited.", sourceLabels, nil)
	descReviewWithin = prometheus.NewDesc("journey_source_review_within_seconds",
		"How long a financial source's records may wait for review (spec.compliance.reviewWithin, default 72h).", sourceLabels, nil)

	mapLabels    = []string{"namespace", "journey"}
	descMapReady = prometheus.NewDesc("journey_map_ready",
		"1 when the JourneyMap's Ready condition is True, else 0; reason is the condition's.", append(mapLabels, "reason"), nil)
	descMapInterval = prometheus.NewDesc("journey_map_evaluation_interval_seconds",
		"How often the evaluator of a JourneyMap that is not suspended evaluates it (spec.evaluationInterval).", mapLabels, nil)
)

// RegisterStateMetrics registers a StateCollector reading through reader
// once elected closes. A collector a previous manager of the same process
// registered is replaced (tests start several).
func RegisterStateMetrics(reg prometheus.Registerer, reader client.Reader, elected <-chan struct{}, log logr.Logger) error {
	c := &StateCollector{reader: reader, elected: elected, log: log}
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		reg.Unregister(already.ExistingCollector)
		err = reg.Register(c)
	}
	return err
}

// Describe sends every series' descriptor.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSourceInfo, descSourceReady, descSourceAudit, descLastOutcome, descLastRunTime,
		descLastRunRecords, descLastSuccess, descRuns, descSchedule, descSourceCreated, descReviewWithin, descMapReady, descMapInterval} {
		ch <- d
	}
}

// Collect reads the sources and maps from the cache and sends their series.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var sources v1alpha1.TouchpointSourceList
	if err := c.reader.List(ctx, &sources); err != nil {
		c.log.Error(err, "listing TouchpointSources for /metrics")
	}
	for i := range sources.Items {
		c.collectSource(ch, &sources.Items[i])
	}
	var maps v1alpha1.JourneyMapList
	if err := c.reader.List(ctx, &maps); err != nil {
		c.log.Error(err, "listing JourneyMaps for /metrics")
	}
	for i := range maps.Items {
		collectMap(ch, &maps.Items[i])
	}
}

func (c *StateCollector) collectSource(ch chan<- prometheus.Metric, src *v1alpha1.TouchpointSource) {
	ns, name := src.Namespace, src.Name
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{ns, name}, extra...)...)
	}
	mode := string(src.Spec.Mode())
	gauge(descSourceInfo, 1, src.Spec.Touchpoint, src.Spec.System, mode, strconv.FormatBool(src.Spec.Financial))
	gauge(descSourceCreated, unix(src.CreationTimestamp))
	ready, reason := conditionValue(src.Status.Conditions, "Ready")
	gauge(descSourceReady, ready, reason)
	if src.Spec.Financial {
		if cond := apimeta.FindStatusCondition(src.Status.Conditions, "AuditCompliant"); cond != nil {
			v, reason := conditionValue(src.Status.Conditions, "AuditCompliant")
			gauge(descSourceAudit, v, reason)
		}
		within := DefaultReviewWithin
		if c := src.Spec.Compliance; c != nil && c.ReviewWithin != nil {
			within = c.ReviewWithin.Duration
		}
		gauge(descReviewWithin, within.Seconds())
	}
	if last := src.Status.LastRun; last != nil {
		for _, o := range runOutcomes {
			gauge(descLastOutcome, boolValue(last.Outcome == o), string(o))
		}
		if last.CompletionTime != nil {
			gauge(descLastRunTime, unix(*last.CompletionTime))
		}
		for result, n := range map[string]int64{"read": last.Read, "accepted": last.Accepted, "duplicates": last.Duplicates,
			"quarantined": last.Quarantined, "rejected": last.Rejected, "warnings": last.Warnings} {
			gauge(descLastRunRecords, float64(n), result)
		}
	}
	if t := src.Status.LastSuccessfulRunTime; t != nil {
		gauge(descLastSuccess, unix(*t))
	}
	if r := src.Status.Runs; r != nil {
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, float64(r.Succeeded), ns, name, "succeeded")
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, float64(r.Failed), ns, name, "failed")
	}
	if b := src.Spec.Batch; b != nil && !src.Spec.Suspend {
		if every, ok := c.interval(b.Schedule, b.TimeZone); ok {
			gauge(descSchedule, every.Seconds())
		}
	}
}

func collectMap(ch chan<- prometheus.Metric, jm *v1alpha1.JourneyMap) {
	ready, reason := conditionValue(jm.Status.Conditions, "Ready")
	ch <- prometheus.MustNewConstMetric(descMapReady, prometheus.GaugeValue, ready, jm.Namespace, jm.Name, reason)
	if jm.Spec.Suspend {
		return
	}
	every := 5 * time.Minute // the API's default
	if i := jm.Spec.EvaluationInterval; i != nil {
		every = i.Duration
	}
	ch <- prometheus.MustNewConstMetric(descMapInterval, prometheus.GaugeValue, every.Seconds(), jm.Namespace, jm.Name)
}

// interval is the longest gap between two runs of the schedule over a
// year (at most 2,000 runs looked at, enough for any gap longer than a few
// minutes to show): "not succeeded within 3× its schedule" must not fire
// over a weekend for a weekdays-only schedule. A schedule that does not
// parse (the source is Stalled) has none.
func (c *StateCollector) interval(schedule string, zone *string) (time.Duration, bool) {
	key := schedule + "\x00"
	loc := time.UTC
	if zone != nil {
		key += *zone
		l, err := time.LoadLocation(*zone)
		if err != nil {
			return 0, false
		}
		loc = l
	}
	if v, ok := c.intervals.Load(key); ok {
		return v.(time.Duration), true
	}
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0, false
	}
	// A fixed start, so that the value does not move between scrapes.
	t := time.Date(2026, 1, 5, 0, 0, 0, 0, loc) // a Monday
	end := t.AddDate(1, 0, 0)
	prev := sched.Next(t)
	var longest time.Duration
	for i := 0; i < 2000 && prev.Before(end); i++ {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		return 0, false
	}
	c.intervals.Store(key, longest)
	return longest, true
}

// conditionValue is 1 for a True condition, else 0, with its reason
// ("Unknown" when the condition is missing).
func conditionValue(conds []metav1.Condition, typ string) (float64, string) {
	cond := apimeta.FindStatusCondition(conds, typ)
	if cond == nil {
		return 0, "Unknown"
	}
	return boolValue(cond.Status == metav1.ConditionTrue), cond.Reason
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t metav1.Time) float64 { return float64(t.UnixNano()) / 1e9 }
