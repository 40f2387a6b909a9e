//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/test/e2e/cluster"
)

const (
	systemNS = "journey-system"
	appNS    = "streaming"
	release  = "journey"
	// stripeSecret signs the test's Stripe deliveries.
	stripeSecret = "whsec_e2e"
	// warehouseRows is how many catalog views the warehouse holds.
	warehouseRows = 25
)

// TestChart installs the chart, applies the samples and checks, on the real
// node, what the issue lists: every sample Ready, a requested run's pod
// reporting to status, the CronJob firing on schedule, a Stripe delivery
// from a pod through the receiver's Service, the evaluator serving through
// its Service, every pod admitted by PodSecurity at restricted, and an
// uninstall that leaves the CRDs only.
func TestChart(t *testing.T) {
	for _, ns := range []string{systemNS, appNS} {
		kubectl(t, "create", "namespace", ns)
		kubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
		waitServiceAccount(t, ns)
	}
	warehouse := loadWarehouse(t)
	// The retention CronJob reads the store's DSN in the release namespace.
	if _, err := node.Client.CoreV1().Secrets(systemNS).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "journey-store", Namespace: systemNS}, StringData: map[string]string{"dsn": storeDSN}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string]string{
		"journey-store":       {"dsn": storeDSN},
		"analytics-warehouse": {"dsn": warehouse},
		"crm-replica":         {"dsn": warehouse},
		"stripe-api":          {"token": "sk_test_e2e"},
		"zendesk-api":         {"token": "zendesk-e2e"},
		"stripe-whsec":        {"current": stripeSecret, "previous": "whsec_old"},
		"typeform-hook":       {"secret": "typeform-e2e"},
		"journey-hook":        {"token": "hook-e2e"},
		"segment-write-key":   {"key": "segment-e2e"},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNS}, StringData: data}
		if _, err := node.Client.CoreV1().Secrets(appNS).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	helm := helmConfig(t)
	t.Run("install", func(t *testing.T) {
		chrt, err := loader.Load("../../charts/journey-operator")
		if err != nil {
			t.Fatal(err)
		}
		install := action.NewInstall(helm)
		install.ReleaseName, install.Namespace = release, systemNS
		install.Wait, install.Timeout = true, 3*time.Minute
		start := time.Now()
		if _, err := install.Run(chrt, map[string]any{
			"image":     map[string]any{"repository": operatorRepo, "tag": operatorTag, "pullPolicy": "Never"},
			"retention": map[string]any{"olderThan": "60d"},
		}); err != nil {
			t.Fatalf("helm install: %v", err)
		}
		t.Logf("installed and the manager Available in %s", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("samples Ready", func(t *testing.T) {
		// The manager is Ready once its webhook server is; kube-proxy may
		// take a moment more to route the webhook Service to it, and until
		// then the webhooks fail closed. Argo CD retries the same way.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
			out, err := kubectlErr("apply", "-n", appNS, "-k", "../../config/samples")
			if err == nil {
				break
			}
			if !strings.Contains(out, "failed calling webhook") || time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for _, kind := range []string{"touchpointsources", "validationrules", "journeymaps"} {
			if out, err := kubectlErr("-n", appNS, "wait", "--for=condition=Ready", kind, "--all", "--timeout=180s"); err != nil {
				t.Errorf("%v\n%s", err, kubectl(t, "-n", appNS, "get", kind, "-o", "wide"))
			} else {
				t.Log(strings.TrimSpace(out))
			}
		}
		t.Logf("every sample Ready in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("a requested run", func(t *testing.T) {
		requested := time.Now().UTC().Format(time.RFC3339)
		kubectl(t, "-n", appNS, "annotate", "--overwrite", "touchpointsource", "catalog-views", v1alpha1.RequestedAtAnnotation+"="+requested)
		src := waitSource(t, "catalog-views", 3*time.Minute, func(s *v1alpha1.TouchpointSource) bool {
			return s.Status.LastHandledRequestedAt == requested && s.Status.LastRun != nil && s.Status.LastRun.CompletionTime != nil
		})
		run := src.Status.LastRun
		if run.Outcome != v1alpha1.RunSucceeded || run.Read != warehouseRows || run.Accepted != warehouseRows {
			t.Errorf("the requested run's pod reported %+v; want Succeeded with %d read and accepted", run, warehouseRows)
		}
		if n := countEvents(t, appNS+"/catalog-views"); n != warehouseRows {
			t.Errorf("the store holds %d of catalog-views' events, want %d", n, warehouseRows)
		}
		events := kubectl(t, "-n", appNS, "get", "events", "--field-selector", "involvedObject.name=catalog-views", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
		if !strings.Contains(events, "RunRequested") || !strings.Contains(events, "RunSucceeded") {
			t.Errorf("catalog-views' Events:\n%s\nwant RunRequested and RunSucceeded", events)
		}
	})

	t.Run("a Stripe delivery from a pod", func(t *testing.T) {
		svc, err := node.Client.CoreV1().Services(appNS).Get(context.Background(), "billing-stripe-webhook-receiver", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("evt_e2e_%d", time.Now().UnixNano())
		body := fmt.Sprintf(`{"id":%q,"type":"invoice.paid","created":%d,"livemode":true,"data":{"object":{"customer":"cus_e2e00001","amount_paid":1599,"currency":"usd","payment_intent":"pi_e2e_1","lines":{"data":[{"plan":{"id":"price_standard"}}]}}}}`,
			id, time.Now().Unix())
		out := inPod(t, appNS, "stripe-delivery", map[string]string{"STRIPE_SECRET": stripeSecret},
			"stripe", "http://"+svc.Spec.ClusterIP+"/stripe", body)
		if !strings.HasPrefix(out, "200") {
			t.Errorf("the receiver answered %s", out)
		}
		if n := countStored(t, appNS+"/billing-stripe-webhook", id); n != 1 {
			t.Errorf("event %s is stored %d times (events and held for review), want once", id, n)
		}
		// A forged signature is refused, from inside the cluster too.
		if _, err := inPodErr(appNS, "forged-delivery", map[string]string{"STRIPE_SECRET": "whsec_forged"},
			"stripe", "http://"+svc.Spec.ClusterIP+"/stripe", strings.Replace(body, id, id+"_forged", 1)); err == nil {
			t.Error("a delivery signed with another secret was accepted")
		}
	})

	t.Run("the evaluator through its Service", func(t *testing.T) {
		if out, err := kubectlErr("-n", appNS, "wait", "--for=condition=Available", "deployment/streaming-journey-evaluator", "--timeout=120s"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		m := waitMap(t, "streaming-journey", 2*time.Minute, func(m *v1alpha1.JourneyMap) bool { return m.Status.LastEvaluationTime != nil })
		if len(m.Status.Stages) == 0 {
			t.Errorf("the evaluator wrote no stages to the map's status: %+v", m.Status)
		}
		svc, err := node.Client.CoreV1().Services(appNS).Get(context.Background(), "streaming-journey-evaluator", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + svc.Spec.ClusterIP
		metrics := inPod(t, appNS, "get-metrics", nil, "get", base+"/metrics")
		if !strings.Contains(metrics, "journey_stage_users") {
			t.Errorf("/metrics through the Service has no journey_stage_users:\n%.2000s", metrics)
		}
		page := inPod(t, appNS, "get-page", nil, "get", base+"/")
		if !strings.Contains(page, "streaming-journey") || !strings.Contains(page, "Discovery") {
			t.Errorf("the page through the Service:\n%.2000s", page)
		}
	})

	t.Run("a sharded evaluation", func(t *testing.T) {
		// Two shards (the churn model needs one: off), then one evaluator
		// again: each layout starts with a full evaluation of the same
		// events, and shard 0 merges both shards' users into the status.
		patched := time.Now().Add(-time.Second)
		kubectl(t, "-n", appNS, "patch", "journeymap", "streaming-journey", "--type=merge", "-p", `{"spec":{"prediction":null,"evaluation":{"shards":2}}}`)
		if out, err := kubectlErr("-n", appNS, "rollout", "status", "statefulset/streaming-journey-evaluator", "--timeout=180s"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		sharded := waitMap(t, "streaming-journey", 2*time.Minute, func(m *v1alpha1.JourneyMap) bool {
			return m.Status.Workload != nil && m.Status.Workload.Kind == "StatefulSet" && m.Status.LastEvaluationTime != nil &&
				m.Status.LastEvaluationTime.After(patched) && conditionTrue(m.Status.Conditions, "Ready")
		})
		t.Logf("two shards: %d users, stages %+v", sharded.Status.Users, sharded.Status.Stages)
		if sharded.Status.Users == 0 {
			t.Errorf("two shards found no users: %+v", sharded.Status)
		}
		if _, err := kubectlErr("-n", appNS, "get", "deployment", "streaming-journey-evaluator"); err == nil {
			t.Error("the evaluator Deployment is still there beside the StatefulSet")
		}
		shards := kubectl(t, "-n", appNS, "get", "pods", "-l", "journey.cjm.dev/journey=streaming-journey",
			"-o", "jsonpath={range .items[*]}{.metadata.labels.apps\\.kubernetes\\.io/pod-index}:{.spec.containers[0].args}{\"\\n\"}{end}")
		if !strings.Contains(shards, "0:") || !strings.Contains(shards, "1:") || !strings.Contains(shards, "--shards=2") {
			t.Errorf("shard pods:\n%s", shards)
		}
		svc, err := node.Client.CoreV1().Services(appNS).Get(context.Background(), "streaming-journey-evaluator", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		page := inPod(t, appNS, "get-sharded-page", nil, "get", "http://"+svc.Spec.ClusterIP+"/")
		if !strings.Contains(page, "streaming-journey") || !strings.Contains(page, "Discovery") {
			t.Errorf("shard 0's page through the Service:\n%.2000s", page)
		}

		patched = time.Now().Add(-time.Second)
		kubectl(t, "-n", appNS, "patch", "journeymap", "streaming-journey", "--type=merge", "-p", `{"spec":{"evaluation":{"shards":1}}}`)
		if out, err := kubectlErr("-n", appNS, "wait", "--for=condition=Available", "deployment/streaming-journey-evaluator", "--timeout=180s"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		one := waitMap(t, "streaming-journey", 2*time.Minute, func(m *v1alpha1.JourneyMap) bool {
			return m.Status.Workload != nil && m.Status.Workload.Kind == "Deployment" && m.Status.LastEvaluationTime != nil &&
				m.Status.LastEvaluationTime.After(patched) && conditionTrue(m.Status.Conditions, "Ready")
		})
		if one.Status.Users != sharded.Status.Users || !equalStages(one.Status.Stages, sharded.Status.Stages) {
			t.Errorf("two shards found %d users in %+v; one evaluator %d in %+v", sharded.Status.Users, sharded.Status.Stages, one.Status.Users, one.Status.Stages)
		}
	})

	t.Run("the CronJob fires on schedule", func(t *testing.T) {
		before := getSource(t, "catalog-views")
		kubectl(t, "-n", appNS, "patch", "touchpointsource", "catalog-views", "--type=merge", "-p", `{"spec":{"batch":{"schedule":"* * * * *"}}}`)
		src := waitSource(t, "catalog-views", 3*time.Minute, func(s *v1alpha1.TouchpointSource) bool {
			return s.Status.LastRun != nil && before.Status.LastRun != nil && s.Status.LastRun.ID != before.Status.LastRun.ID && s.Status.LastRun.CompletionTime != nil
		})
		if len(src.Status.RecentRuns) < 2 {
			t.Errorf("recentRuns after a scheduled run: %+v", src.Status.RecentRuns)
		}
		if run := src.Status.LastRun; run.Outcome != v1alpha1.RunSucceeded || run.Read != 0 {
			t.Errorf("the scheduled run after the requested one: %+v; want Succeeded, reading nothing new past the cursor", run)
		}
		jobs := kubectl(t, "-n", appNS, "get", "jobs", "-o", "jsonpath={range .items[*]}{.metadata.ownerReferences[0].kind}/{.metadata.name}{\"\\n\"}{end}")
		if !strings.Contains(jobs, "CronJob/") {
			t.Errorf("no Job owned by a CronJob ran:\n%s", jobs)
		}
	})

	t.Run("every pod admitted at restricted", func(t *testing.T) {
		for _, ns := range []string{systemNS, appNS} {
			pods, err := node.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pods.Items) == 0 {
				t.Errorf("no pods in %s", ns)
			}
			events, err := node.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events.Items {
				t.Errorf("%s %s/%s: %s", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
			}
		}
	})

	t.Run("the retention CronJob retires old months, the ledger still verifies", func(t *testing.T) {
		retireOnNode(t)
	})

	t.Run("uninstall leaves the CRDs", func(t *testing.T) {
		kubectl(t, "-n", appNS, "delete", "-k", "../../config/samples", "--wait", "--timeout=120s")
		if _, err := action.NewUninstall(helm).Run(release); err != nil {
			t.Fatalf("helm uninstall: %v", err)
		}
		crds := kubectl(t, "get", "crds", "-o", "name")
		for _, kind := range []string{"touchpointsources", "validationrules", "journeymaps", "quarantinereviews"} {
			if !strings.Contains(crds, kind+".journey.cjm.dev") {
				t.Errorf("uninstall removed the CRD of %s", kind)
			}
		}
		// The samples' workloads go by garbage collection, after their owners.
		var left []string
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
			if left = leftBehind(t); len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, l := range left {
			t.Errorf("left behind: %s", l)
		}
	})
}

// retireOnNode commits a financial batch and a playback event of four
// months ago, runs the chart's retention CronJob once (a Job from it, on
// the node, restricted), and checks what it did: the old events gone, one
// ledger entry naming the CronJob's service account and the policy, and
// the ledger verifying, the retired financial rows from their kept hashes.
func retireOnNode(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, hostDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old := time.Now().UTC().AddDate(0, -4, 0)
	amount := 9.99
	paid := store.Event{Namespace: appNS, EventID: "in_e2e_old", UserID: "cus_old", Touchpoint: "billing", System: "stripe",
		Type: "invoice.paid", OccurredAt: old, Amount: &amount, Currency: "usd", RunID: "e2e-old"}
	if _, err := st.Commit(ctx, store.Batch{Source: appNS + "/e2e-old-billing", Events: []store.Event{paid},
		Ledger: &store.LedgerEntry{RunID: "e2e-old", Read: 1, AmountRead: "9.99"}}); err != nil {
		t.Fatal(err)
	}
	play := store.Event{Namespace: appNS, EventID: "ses_e2e_old", UserID: "cus_old", Touchpoint: "playback", System: "app",
		Type: "playback.session", OccurredAt: old, RunID: "e2e-old"}
	if _, err := st.Commit(ctx, store.Batch{Source: appNS + "/e2e-old-playback", Events: []store.Event{play}}); err != nil {
		t.Fatal(err)
	}

	cronJob := release + "-journey-operator-retention"
	kubectl(t, "-n", systemNS, "create", "job", "--from=cronjob/"+cronJob, "retain-now")
	defer kubectl(t, "-n", systemNS, "delete", "job", "retain-now", "--wait=false")
	defer kubectl(t, "-n", systemNS, "delete", "secret", "journey-store")
	if out, err := kubectlErr("-n", systemNS, "wait", "--for=condition=complete", "job/retain-now", "--timeout=120s"); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, kubectl(t, "-n", systemNS, "logs", "job/retain-now"))
	}
	logs := kubectl(t, "-n", systemNS, "logs", "job/retain-now")
	t.Log(strings.TrimSpace(logs))
	if !strings.Contains(logs, "retired ") || countEvents(t, appNS+"/e2e-old-billing") != 0 || countEvents(t, appNS+"/e2e-old-playback") != 0 {
		t.Errorf("the retention Job did not retire the old months:\n%s", logs)
	}
	entries, err := st.LedgerEntries(ctx, store.LedgerFilter{Kinds: []store.EntryKind{store.EntryRetire}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Actor != "system:serviceaccount:"+systemNS+":"+cronJob {
		t.Fatalf("retire entries: %+v", entries)
	}
	rep, err := st.Verify(ctx, store.VerifyOptions{})
	if err != nil || rep.Retired < 1 {
		t.Errorf("after the retirement the ledger: %+v, %v", rep, err)
	}
}

// leftBehind is what the chart and the operator made that is still there.
func leftBehind(t *testing.T) []string {
	out := kubectl(t, "get", "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations", "-l", "app.kubernetes.io/instance="+release, "-o", "name")
	out += kubectl(t, "-n", systemNS, "get", "deployments,services,secrets,configmaps,serviceaccounts,roles,rolebindings", "-o", "name")
	out += kubectl(t, "-n", appNS, "get", "deployments,cronjobs,jobs,services,configmaps,serviceaccounts,poddisruptionbudgets", "-l", "app.kubernetes.io/managed-by=journey-operator", "-o", "name")
	var left []string
	for _, l := range strings.Fields(out) {
		// What Kubernetes itself puts in every namespace.
		if l != "configmap/kube-root-ca.crt" && l != "serviceaccount/default" {
			left = append(left, l)
		}
	}
	return left
}

func helmConfig(t *testing.T) *action.Configuration {
	settings := cli.New()
	settings.KubeConfig = node.Kubeconfig
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), systemNS, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// loadWarehouse makes the analytics warehouse catalog-views reads: a
// database on the host's PostgreSQL, and its DSN as pods reach it.
func loadWarehouse(t *testing.T) string {
	ctx := context.Background()
	dsn, err := pg.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE catalog_views (event_id text PRIMARY KEY, user_id text, title_id text, "row" text, viewed_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	for i := range warehouseRows {
		if _, err := c.Exec(ctx, `INSERT INTO catalog_views VALUES ($1, $2, $3, 'trending', $4)`,
			fmt.Sprintf("view-%03d", i), fmt.Sprintf("cus_e2e%05d", i%5), fmt.Sprintf("tt%07d", i), time.Now().Add(-time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(dsn)
	return pg.DSNAt(cluster.HostIP, strings.TrimPrefix(u.Path, "/"))
}

func getSource(t *testing.T, name string) *v1alpha1.TouchpointSource {
	t.Helper()
	var s v1alpha1.TouchpointSource
	if err := json.Unmarshal([]byte(kubectl(t, "-n", appNS, "get", "touchpointsource", name, "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func waitSource(t *testing.T, name string, timeout time.Duration, ok func(*v1alpha1.TouchpointSource) bool) *v1alpha1.TouchpointSource {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := getSource(t, name)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("TouchpointSource %s not as expected within %s; status: %+v", name, timeout, s.Status)
		}
		time.Sleep(time.Second)
	}
}

func waitMap(t *testing.T, name string, timeout time.Duration, ok func(*v1alpha1.JourneyMap) bool) *v1alpha1.JourneyMap {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var m v1alpha1.JourneyMap
		if err := json.Unmarshal([]byte(kubectl(t, "-n", appNS, "get", "journeymap", name, "-o", "json")), &m); err != nil {
			t.Fatal(err)
		}
		if ok(&m) {
			return &m
		}
		if time.Now().After(deadline) {
			t.Fatalf("JourneyMap %s not as expected within %s; status: %+v", name, timeout, m.Status)
		}
		time.Sleep(time.Second)
	}
}

// countEvents is how many events the store holds of a source.
func countEvents(t *testing.T, source string) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM events WHERE source = $1`, source)
}

// countStored is how often the store holds an event of a source, stored or
// held for review.
func countStored(t *testing.T, source, id string) int {
	t.Helper()
	return queryInt(t, `SELECT (SELECT count(*) FROM events WHERE source = $1 AND event_id = $2) + (SELECT count(*) FROM quarantine WHERE source = $1 AND event_id = $2)`, source, id)
}

func queryInt(t *testing.T, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, hostDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func conditionTrue(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func equalStages(a, b []v1alpha1.StageStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
