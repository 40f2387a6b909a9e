package peers_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	cmdingest "github.com/cjm-dev/journey-operator/internal/cmd/ingest"
	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// documentedMetrics are the series README documents, with the labels each
// carries: the manager's (compliance, and each source's and map's state)
// and the evaluator's. Histograms are checked by their _bucket series.
var documentedMetrics = []struct {
	name, from string
	labels     []string
}{
	{"journey_quarantine_pending_records", "manager", []string{"namespace", "source"}},
	{"journey_quarantine_pending_records_by_check", "manager", []string{"namespace", "source", "check"}},
	{"journey_quarantine_oldest_pending_timestamp_seconds", "manager", []string{"namespace", "source"}},
	{"journey_quarantine_reviews_total", "manager", []string{"namespace", "source", "decision"}},
	{"journey_quarantine_time_to_resolve_seconds_bucket", "manager", []string{"namespace", "source", "decision", "le"}},
	{"journey_source_info", "manager", []string{"namespace", "source", "touchpoint", "system", "mode", "financial"}},
	{"journey_source_ready", "manager", []string{"namespace", "source", "reason"}},
	{"journey_source_audit_compliant", "manager", []string{"namespace", "source", "reason"}},
	{"journey_source_last_run_outcome", "manager", []string{"namespace", "source", "outcome"}},
	{"journey_source_last_run_timestamp_seconds", "manager", []string{"namespace", "source"}},
	{"journey_source_last_run_records", "manager", []string{"namespace", "source", "result"}},
	{"journey_source_last_success_timestamp_seconds", "manager", []string{"namespace", "source"}},
	{"journey_source_runs_total", "manager", []string{"namespace", "source", "result"}},
	{"journey_source_schedule_interval_seconds", "manager", []string{"namespace", "source"}},
	{"journey_source_created_timestamp_seconds", "manager", []string{"namespace", "source"}},
	{"journey_source_review_within_seconds", "manager", []string{"namespace", "source"}},
	{"journey_map_ready", "manager", []string{"namespace", "journey", "reason"}},
	{"journey_map_evaluation_interval_seconds", "manager", []string{"namespace", "journey"}},
	{"journey_users", "evaluator", []string{"namespace", "journey"}},
	{"journey_stage_users", "evaluator", []string{"namespace", "journey", "stage"}},
	{"journey_conversion_ratio", "evaluator", []string{"namespace", "journey", "from", "to"}},
	{"journey_alerts_firing", "evaluator", []string{"namespace", "journey", "alert", "severity"}},
	{"journey_alerts_pending", "evaluator", []string{"namespace", "journey", "alert", "severity"}},
	{"journey_evaluation_duration_seconds_bucket", "evaluator", []string{"namespace", "journey", "le"}},
	{"journey_evaluations_total", "evaluator", []string{"namespace", "journey"}},
	{"journey_delivery_failures_total", "evaluator", []string{"namespace", "journey"}},
	{"journey_events_behind_watermark", "evaluator", []string{"namespace", "journey"}},
}

// The manager (on a real API server, its /metrics behind authentication
// and authorisation) and an evaluator (on the sample data) scraped by a
// real Prometheus, as the chart's ServiceMonitors configure it, with the
// chart's alerting rules loaded: every documented series is there with
// its labels, the rules evaluate without error and fire on what happened,
// and every dashboard panel's query returns series.
func TestPrometheusScrapesTheOperator(t *testing.T) {
	prometheusProgram.require(t)
	ctx := context.Background()
	c := startCluster(t)
	smp := newSample(t)

	readerToken := c.serviceAccountToken(t, "monitoring", "prometheus")
	c.bindClusterRole(t, "prometheus-metrics-reader", "metrics-reader",
		rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: "monitoring"})
	intruderToken := c.serviceAccountToken(t, "monitoring", "intruder")

	t.Run("the manager serves /metrics over HTTPS, only to callers allowed GET /metrics", func(t *testing.T) {
		https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		scrape := func(token string) (*http.Response, string, error) {
			req, _ := http.NewRequest(http.MethodGet, c.metricsURL, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := https.Do(req)
			if err != nil {
				return nil, "", err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body), nil
		}
		eventually(t, time.Minute, "the metrics-reader's token is answered 200", func() error {
			resp, body, err := scrape(readerToken)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", resp.Status, body)
			}
			if !strings.Contains(body, "controller_runtime_reconcile_total") {
				return fmt.Errorf("no controller-runtime series in:\n%.500s", body)
			}
			if resp.TLS == nil || resp.TLS.NegotiatedProtocol == "h2" {
				return fmt.Errorf("TLS %+v: want HTTPS over HTTP/1.1", resp.TLS)
			}
			return nil
		})
		for _, tc := range []struct {
			who, token string
			want       []int
		}{
			{"a token of an account without the metrics-reader role", intruderToken, []int{http.StatusForbidden}},
			{"no token", "", []int{http.StatusUnauthorized}},
			// controller-runtime's filter (v0.25) answers 500 when the
			// TokenReview finds the token invalid, where the API server
			// itself would answer 401: refused all the same.
			{"a token the API server did not issue", "not-a-token", []int{http.StatusUnauthorized, http.StatusInternalServerError}},
		} {
			resp, body, err := scrape(tc.token)
			if err != nil || !slices.Contains(tc.want, resp.StatusCode) {
				t.Errorf("%s: %v %v; want %v", tc.who, resp.Status, err, tc.want)
			}
			if strings.Contains(body, "journey_") || strings.Contains(body, "controller_runtime") {
				t.Errorf("%s: the answer holds series:\n%.300s", tc.who, body)
			}
		}
		resp, err := http.Get(strings.Replace(c.metricsURL, "https://", "http://", 1))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "journey_") {
				t.Errorf("plain HTTP: %s, want no metrics", resp.Status)
			}
		}
	})

	// The sample's specs in the cluster, and their runs as the ingest
	// pods report them; one more run of catalog-views fails.
	applySample(t, c, smp)
	for name, sum := range smp.runs {
		c.finishIngestPod(t, "default", name, name+"-ingest-1", 0, cmdingest.TerminationMessage(sum), sum.CompletionTime.Time)
	}
	failed := ingest.Summary{RunSummary: v1alpha1.RunSummary{ID: "catalog-views-run-2", Outcome: v1alpha1.RunFailed,
		Message: "GET https://analytics.example.internal/views: 503 Service Unavailable after 5 attempts"}}
	c.finishIngestPod(t, "default", "catalog-views", "catalog-views-ingest-2", 1, cmdingest.TerminationMessage(failed), time.Now())
	reviewBilling(t, c, smp)

	// The evaluator, as `journey evaluate` runs it.
	jm := smp.journey
	jm.Spec.Notify, jm.Spec.Feedback = nil, nil // Alertmanager is the other test's
	env, err := expr.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ev, err := evaluator.New(env, render.JourneyConfig(&jm, smp.sources), smp.store, nil, reg, time.Now, logr.Discard(), evaluator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	evSrv := httptest.NewServer(ev.Handler(reg))
	defer evSrv.Close()
	if _, err := ev.Once(ctx); err != nil {
		t.Fatal(err)
	}

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(readerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	rule := ofKind(renderChart(t, monitoringValues), "PrometheusRule")
	if len(rule) != 1 {
		t.Fatalf("the chart renders %d PrometheusRules, want 1", len(rule))
	}
	groups, _, _ := unstructured.NestedSlice(rule[0].Object, "spec", "groups")
	prom := startPrometheus(t, []scrapeJob{
		// The targets' labels as the ServiceMonitors give them: the pod's
		// namespace, which honor_labels must not let win over a series' own.
		{Name: "journey-operator-manager", Target: strings.TrimSuffix(strings.TrimPrefix(c.metricsURL, "https://"), "/metrics"),
			Scheme: "https", TokenFile: tokenFile, Labels: map[string]string{"namespace": "journey-system", "service": "journey-operator-metrics"}},
		{Name: "journey-operator-evaluators", Target: strings.TrimPrefix(evSrv.URL, "http://"), Scheme: "http",
			Labels: map[string]string{"namespace": "default", "service": "streaming-journey-evaluator"}},
	}, map[string]any{"groups": groups})

	t.Run("Prometheus scrapes the manager with its token, and the evaluator", func(t *testing.T) {
		eventually(t, 30*time.Second, "both targets are up", func() error {
			health, err := prom.targets()
			if err != nil {
				return err
			}
			for _, job := range []string{"journey-operator-manager", "journey-operator-evaluators"} {
				if !strings.HasPrefix(health[job], "up") {
					return fmt.Errorf("target %s: %q", job, health[job])
				}
			}
			return nil
		})
	})
	// An evaluation Prometheus sees happen.
	time.Sleep(2 * time.Second)
	if _, err := ev.Once(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("every documented metric is there with its labels", func(t *testing.T) {
		for _, m := range documentedMetrics {
			eventually(t, time.Minute, m.name, func() error {
				series, err := prom.query(m.name)
				if err != nil {
					return err
				}
				if len(series) == 0 {
					return fmt.Errorf("no series of %s (from the %s)", m.name, m.from)
				}
				for _, s := range series {
					for _, l := range m.labels {
						if s.Metric[l] == "" {
							return fmt.Errorf("%v has no %s label", s.Metric, l)
						}
					}
					if s.Metric["namespace"] != "default" {
						return fmt.Errorf("%v: namespace %q, want the resource's (default), not the target's", s.Metric, s.Metric["namespace"])
					}
				}
				return nil
			})
		}
		// What the sample's runs were, as the manager reports them.
		for _, q := range []string{
			`journey_source_last_run_outcome{source="support-tickets", outcome="Stale"} == 1`,
			`journey_source_last_run_outcome{source="billing-stripe", outcome="Quarantined"} == 1`,
			`journey_source_last_run_outcome{source="catalog-views", outcome="Failed"} == 1`,
			`journey_source_runs_total{source="catalog-views", result="failed"} == 1`,
			`journey_source_schedule_interval_seconds{source="billing-stripe"} == 900`,
			`journey_quarantine_reviews_total{source="billing-stripe", decision="Release"} == 1`,
			`journey_map_evaluation_interval_seconds{journey="streaming-journey"} == 300`,
		} {
			eventually(t, 30*time.Second, q, func() error {
				series, err := prom.query(q)
				if err != nil || len(series) != 1 {
					return fmt.Errorf("%d series (%v)", len(series), err)
				}
				return nil
			})
		}
	})

	t.Run("the chart's alerting rules evaluate without error and fire on what happened", func(t *testing.T) {
		var rules struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		eventually(t, 30*time.Second, "every rule evaluated healthy", func() error {
			if err := prom.api("/api/v1/rules", &rules); err != nil {
				return err
			}
			n := 0
			for _, g := range rules.Groups {
				for _, r := range g.Rules {
					if r.Health != "ok" {
						return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
					}
					n++
				}
			}
			if n < 10 {
				return fmt.Errorf("%d rules loaded", n)
			}
			return nil
		})
		eventually(t, 30*time.Second, "the alerts of what happened are active, and only those", func() error {
			var alerts struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			}
			if err := prom.api("/api/v1/alerts", &alerts); err != nil {
				return err
			}
			var active []string
			for _, a := range alerts.Alerts {
				id := a.Labels["alertname"] + " " + a.Labels["namespace"] + "/" + a.Labels["source"] + a.Labels["journey"]
				active = append(active, id)
			}
			for _, want := range []string{"JourneySourceStale default/support-tickets", "JourneySourceRunFailed default/catalog-views"} {
				if !slices.Contains(active, want) {
					return fmt.Errorf("%s is not active; active: %v", want, active)
				}
			}
			for _, a := range active {
				for _, never := range []string{"JourneyEvaluatorStalled", "JourneySourceNotSucceeding", "JourneyAuditLedgerBroken",
					"JourneyReviewOverdue", "JourneyAlertDeliveryFailing"} {
					if strings.HasPrefix(a, never+" ") {
						return fmt.Errorf("%s is active, though nothing of the kind happened", a)
					}
				}
			}
			return nil
		})
	})

	t.Run("every dashboard panel's query returns series", func(t *testing.T) {
		for _, cm := range ofKind(renderChart(t, monitoringValues), "ConfigMap") {
			if cm.GetLabels()["grafana_dashboard"] != "1" {
				continue
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			for file, body := range data {
				for _, p := range dashboardQueries(t, file, body) {
					eventually(t, 30*time.Second, fmt.Sprintf("%s panel %q", file, p.title), func() error {
						series, err := prom.query(p.expr)
						if err != nil {
							return err
						}
						if len(series) == 0 {
							return fmt.Errorf("no series for %s", p.expr)
						}
						return nil
					})
				}
			}
		}
	})
}

// applySample creates the sample's Secrets, ValidationRules,
// TouchpointSources and JourneyMap in the cluster, with the store Secret
// the manager defaults to.
func applySample(t *testing.T, c *cluster, smp *sample) {
	t.Helper()
	c.create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "journey-store"},
		StringData: map[string]string{"dsn": "postgres://journey@postgres.db:5432/journey"}})
	for key, data := range smp.folder.Secrets {
		ns, name, _ := strings.Cut(key, "/")
		c.create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data})
	}
	var objs []client.Object
	for i := range smp.folder.Rules {
		objs = append(objs, &smp.folder.Rules[i])
	}
	for i := range smp.folder.Sources {
		objs = append(objs, &smp.folder.Sources[i].TouchpointSource)
	}
	objs = append(objs, &smp.folder.Maps[0])
	for _, o := range objs {
		o := o.DeepCopyObject().(client.Object)
		o.SetResourceVersion("")
		c.create(t, o)
	}
}

// reviewBilling has a reviewer release billing-stripe's negative invoices:
// the QuarantineReview, and its Job's report.
func reviewBilling(t *testing.T, c *cluster, smp *sample) {
	t.Helper()
	const name = "credit-notes"
	rev := &v1alpha1.QuarantineReview{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1alpha1.QuarantineReviewSpec{
		Source: "billing-stripe", Decision: v1alpha1.DecisionRelease, Reason: "credit notes booked as negative invoices (FIN-231)",
		Selection: v1alpha1.QuarantineSelection{Checks: []string{"amount-non-negative"}}, RequestedBy: "carol@example.com"}}
	c.create(t, rev)
	eventually(t, 30*time.Second, "the review's Job", func() error {
		return c.admin.Get(context.Background(), nn("default", render.NamesForReview(name).Job), &batchv1.Job{})
	})
	held := smp.runs["billing-stripe"].Quarantine
	if held == nil || held.Pending == 0 {
		t.Fatalf("billing-stripe holds nothing for review after its run: %+v", held)
	}
	left := held.DeepCopy()
	var released int64
	left.ByCheck = slices.DeleteFunc(left.ByCheck, func(p v1alpha1.CheckPending) bool {
		if p.Check == "amount-non-negative" {
			released = p.Pending
			return true
		}
		return false
	})
	left.Pending -= released
	now := metav1.Now()
	c.finishReviewPod(t, "default", name, runconfig.ReviewReport{Outcome: "Succeeded", QuarantineReviewStatus: v1alpha1.QuarantineReviewStatus{
		Matched: released, Released: released, Reviewer: "carol@example.com", LedgerHash: "sha256:review",
		CompletionTime: &now, OldestRecordTime: held.OldestPendingTime, SourceQuarantine: left}})
}

// dashboardQuery is one panel target of a Grafana dashboard.
type dashboardQuery struct{ title, expr string }

// grafanaVariables are what Grafana would put in for the dashboards'
// variables: every namespace, source and journey; a rate interval of a few
// of the test's 1s scrapes; a range of the last minutes.
var grafanaVariables = strings.NewReplacer(
	"$namespace", ".*", "$source", ".*", "$journey", ".*",
	"$__rate_interval", "30s", "$__range", "5m",
)

// dashboardQueries reads every panel's queries, Grafana's variables filled
// in; a query that still holds a $ names a variable the test does not know.
func dashboardQueries(t *testing.T, file, body string) []dashboardQuery {
	t.Helper()
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []dashboardQuery
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", file, p.Title)
		}
		for _, tg := range p.Targets {
			q := grafanaVariables.Replace(tg.Expr)
			if v := regexp.MustCompile(`\$\{?\w+`).FindString(q); v != "" {
				t.Errorf("%s: panel %q uses variable %s the test does not fill in", file, p.Title, v)
				continue
			}
			out = append(out, dashboardQuery{p.Title, q})
		}
	}
	if len(out) < 10 {
		t.Errorf("%s: %d queries, want the dashboard's panels", file, len(out))
	}
	return out
}
