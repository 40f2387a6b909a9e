package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// A schedule's interval is its longest gap, so "3× its schedule" does not
// fire over a weekend for a weekdays-only schedule, nor between two runs of
// an irregular one.
func TestScheduleInterval(t *testing.T) {
	c := &StateCollector{}
	for _, tc := range []struct {
		schedule string
		zone     *string
		want     time.Duration
	}{
		{"*/15 * * * *", nil, 15 * time.Minute},
		{"5 * * * *", ptr.To("Etc/UTC"), time.Hour},
		{"0 9 * * 1-5", ptr.To("Europe/Berlin"), 73 * time.Hour}, // Friday to Monday, over the autumn clock change
		{"0 6,18 * * *", nil, 12 * time.Hour},
		{"0 0 1 * *", nil, 31 * 24 * time.Hour},
		{"@daily", nil, 24 * time.Hour},
	} {
		got, ok := c.interval(tc.schedule, tc.zone)
		if !ok || got != tc.want {
			t.Errorf("%q: %s (%v), want %s", tc.schedule, got, ok, tc.want)
		}
	}
	if _, ok := c.interval("every minute", nil); ok {
		t.Error("a schedule that does not parse has an interval")
	}
	if _, ok := c.interval("* * * * *", ptr.To("Mars/Olympus")); ok {
		t.Error("a schedule in an unknown zone has an interval")
	}
}

// The series come from status as the cache holds it, and only once the
// manager leads.
func TestStateCollector(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	done := metav1.NewTime(time.Unix(1_800_000_000, 0))
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "support", CreationTimestamp: metav1.NewTime(time.Unix(1_700_000_000, 0))},
		Spec: v1alpha1.TouchpointSourceSpec{Touchpoint: "support", System: "zendesk",
			Batch: &v1alpha1.BatchSource{Schedule: "*/30 * * * *"}},
		Status: v1alpha1.TouchpointSourceStatus{
			Conditions:            []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Applied"}},
			LastRun:               &v1alpha1.RunSummary{ID: "r1", Outcome: v1alpha1.RunStale, CompletionTime: &done, Read: 266, Accepted: 266},
			LastSuccessfulRunTime: &done,
			Runs:                  &v1alpha1.RunCounts{Succeeded: 4, Failed: 1},
		},
	}
	billing := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing"},
		Spec: v1alpha1.TouchpointSourceSpec{Touchpoint: "billing", System: "stripe", Financial: true, Suspend: true,
			Batch: &v1alpha1.BatchSource{Schedule: "*/15 * * * *"}},
		Status: v1alpha1.TouchpointSourceStatus{Conditions: []metav1.Condition{
			{Type: "Ready", Status: metav1.ConditionFalse, Reason: "SecretMissing"},
			{Type: "AuditCompliant", Status: metav1.ConditionFalse, Reason: "ReviewOverdue"}}},
	}
	jm := &v1alpha1.JourneyMap{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "streaming"},
		Spec: v1alpha1.JourneyMapSpec{EvaluationInterval: &metav1.Duration{Duration: time.Minute}}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(src, billing, jm).Build()
	elected := make(chan struct{})
	c := &StateCollector{reader: reader, elected: elected, log: logr.Discard()}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d series before the manager leads, want none", n)
	}
	close(elected)
	want := `
# HELP journey_source_last_run_outcome 1 for the outcome of the source's newest finished run (Succeeded, Failed, Quarantined, Stale, VolumeAnomaly), 0 for the others.
# TYPE journey_source_last_run_outcome gauge
journey_source_last_run_outcome{namespace="media",outcome="Failed",source="support"} 0
journey_source_last_run_outcome{namespace="media",outcome="Quarantined",source="support"} 0
journey_source_last_run_outcome{namespace="media",outcome="Stale",source="support"} 1
journey_source_last_run_outcome{namespace="media",outcome="Succeeded",source="support"} 0
journey_source_last_run_outcome{namespace="media",outcome="VolumeAnomaly",source="support"} 0
# HELP journey_source_ready 1 when the source's Ready condition is True, else 0; reason is the condition's.
# TYPE journey_source_ready gauge
journey_source_ready{namespace="media",reason="Applied",source="support"} 1
journey_source_ready{namespace="media",reason="SecretMissing",source="billing"} 0
# HELP journey_source_audit_compliant 1 when a financial source's AuditCompliant condition is True, else 0; reason is the condition's (LedgerBroken, ReviewOverdue, ...).
# TYPE journey_source_audit_compliant gauge
journey_source_audit_compliant{namespace="media",reason="ReviewOverdue",source="billing"} 0
# HELP journey_source_schedule_interval_seconds The longest time between two scheduled runs of a batch source that is not suspended, over a year of its schedule (at most 2,000 runs).
# TYPE journey_source_schedule_interval_seconds gauge
journey_source_schedule_interval_seconds{namespace="media",source="support"} 1800
# HELP journey_source_runs_total Runs the source finished, by result: succeeded (committed, whatever the outcome) or failed (nothing committed), as status.runs counts them.
# TYPE journey_source_runs_total counter
journey_source_runs_total{namespace="media",result="failed",source="support"} 1
journey_source_runs_total{namespace="media",result="succeeded",source="support"} 4
# HELP journey_source_review_within_seconds How long a financial source's records may wait for review (spec.compliance.reviewWithin, default 72h).
# TYPE journey_source_review_within_seconds gauge
journey_source_review_within_seconds{namespace="media",source="billing"} 259200
# HELP journey_source_last_success_timestamp_seconds When the source's newest run that committed (any outcome but Failed) finished (Unix time).
# TYPE journey_source_last_success_timestamp_seconds gauge
journey_source_last_success_timestamp_seconds{namespace="media",source="support"} 1.8e+09
# HELP journey_map_evaluation_interval_seconds How often the evaluator of a JourneyMap that is not suspended evaluates it (spec.evaluationInterval).
# TYPE journey_map_evaluation_interval_seconds gauge
journey_map_evaluation_interval_seconds{journey="streaming",namespace="media"} 60
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"journey_source_last_run_outcome", "journey_source_ready", "journey_source_audit_compliant", "journey_source_schedule_interval_seconds",
		"journey_source_runs_total", "journey_source_review_within_seconds", "journey_source_last_success_timestamp_seconds",
		"journey_map_evaluation_interval_seconds"); err != nil {
		t.Error(err)
	}
	if err := prometheus.NewPedanticRegistry().Register(c); err != nil {
		t.Errorf("the collector does not register with a pedantic registry: %v", err)
	}
}
