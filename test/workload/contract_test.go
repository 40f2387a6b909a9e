// Package workload_test proves the contract between control plane and data
// plane without a kubelet: the pod template the controller renders is run
// as a process, with its ConfigMap and Secrets written where they would be
// mounted and its env resolved, against a real store; what it writes to its
// termination message must be what the controller reads into status.lastRun.
package workload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cli"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// asJourney, set in a child's environment, makes this test binary run as
// `journey` itself: the same code the image's binary runs (main.go only calls
// cli.Main), without a build step.
const asJourney = "JOURNEY_TEST_AS_JOURNEY"

func TestMain(m *testing.M) {
	if os.Getenv(asJourney) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// journeyCommand returns a command that runs `journey args...`.
func journeyCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{asJourney + "=1", "PATH=" + os.Getenv("PATH")}
	return cmd
}

// billingAPI serves two pages of Stripe-shaped events behind a bearer token.
func billingAPI(t *testing.T, token string) *httptest.Server {
	created := time.Now().Add(-time.Hour).Unix()
	pages := map[string]string{
		"": fmt.Sprintf(`{"data":[{"id":"evt_1","customer":"cus_A","created":%d,"type":"invoice.paid","amount":1000},`+
			`{"id":"evt_2","customer":"cus_B","created":%d,"type":"invoice.paid","amount":-50}],"has_more":true}`, created, created),
		"evt_2": fmt.Sprintf(`{"data":[{"id":"evt_3","customer":"cus_C","created":%d,"type":"invoice.paid","amount":2500}],"has_more":false}`, created),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		page, ok := pages[r.URL.Query().Get("starting_after")]
		if !ok {
			http.Error(w, "no such page", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestIngestPodTemplateRunsAndReportsToTheController(t *testing.T) {
	root := t.TempDir()
	api := billingAPI(t, "sk_live_contract")
	dsn := "sqlite://" + filepath.Join(root, "journey.db")

	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing-stripe", UID: "uid-1", Generation: 3},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "billing", System: "stripe", Financial: true,
			Batch: &v1alpha1.BatchSource{Schedule: "*/15 * * * *", HTTP: &v1alpha1.HTTPConnector{
				URL: api.URL + "/v1/events", AuthSecretRef: &v1alpha1.SecretKeyRef{Name: "stripe-api", Key: "token"}, RecordsPath: "data",
				Pagination: &v1alpha1.Pagination{CursorParam: "starting_after", NextCursor: "records[size(records)-1].id", HasMore: "body.has_more"},
			}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.customer", OccurredAt: "timestamp(int(record.created))",
				Type: "record.type", Amount: "double(record.amount) / 100.0"},
		},
	}
	rules := []v1alpha1.ValidationRule{{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing-controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{{Name: "amount-non-negative", Expression: "event.amount >= 0.0", Action: v1alpha1.ActionQuarantine}}}}}
	opts := render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}}
	secrets := map[string]map[string]string{"stripe-api": {"token": "sk_live_contract"}, "journey-store": {"dsn": dsn}}

	// What the controller renders.
	cm, hash, err := render.SourceConfigMap(src, rules)
	if err != nil {
		t.Fatal(err)
	}
	pod := render.IngestCronJob(src, hash, opts).Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	msg, out, err := runPod(t, root, pod, cm, secrets, "--secrets-dir")
	if err != nil {
		t.Fatalf("journey %s: %v\n%s", strings.Join(c.Args, " "), err, out)
	}

	// What the controller reads.
	if len(msg) > 4096 {
		t.Errorf("termination message of %d bytes; the kubelet keeps 4096", len(msg))
	}
	var rep runconfig.RunReport
	dec := json.NewDecoder(strings.NewReader(string(msg)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("termination message %q does not decode as status.lastRun: %v", msg, err)
	}
	run := rep.RunSummary
	if q := rep.Quarantine; q == nil || q.Pending != 1 || len(q.ByCheck) != 1 || q.ByCheck[0].Check != "amount-non-negative" {
		t.Errorf("what the source holds for review: %+v, want 1 record held by amount-non-negative", q)
	}
	if run.Outcome != v1alpha1.RunQuarantined || run.Read != 3 || run.Accepted != 2 || run.Quarantined != 1 {
		t.Errorf("run summary %+v, want Quarantined with 3 read, 2 accepted, 1 quarantined", run)
	}
	if run.ConfigHash != hash {
		t.Errorf("the run used config %s, the controller rendered %s", run.ConfigHash, hash)
	}
	if run.AmountTotal != "34.50" || run.AmountLoaded != "35.00" || !strings.HasPrefix(run.LedgerHash, "sha256:") {
		t.Errorf("financial totals %s read / %s loaded, ledger %q", run.AmountTotal, run.AmountLoaded, run.LedgerHash)
	}
	if strings.Contains(string(out), "sk_live_contract") {
		t.Error("the token appeared in the output")
	}

	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	known, _ := st.ExistingEvents(context.Background(), "media/billing-stripe", []string{"evt_1", "evt_2", "evt_3"})
	if !known["evt_1"] || !known["evt_3"] {
		t.Errorf("events stored: %v", known)
	}
	// In the pod the summary goes to the default termination-message path,
	// which is where `journey ingest` writes unless told otherwise.
	if c.TerminationMessagePath != corev1.TerminationMessagePathDefault || !strings.Contains(helpOf(), corev1.TerminationMessagePathDefault) {
		t.Errorf("the container reports at %q; journey ingest writes elsewhere by default", c.TerminationMessagePath)
	}
}

// runPod runs a rendered pod's one container as a process, as the kubelet
// would run it: its ConfigMap and Secrets written where they are mounted,
// env references resolved, a termination-message file given. secretsFlag,
// if set, is the command's flag for where Secrets are mounted. It returns
// the termination message and the output.
func runPod(t *testing.T, root string, pod corev1.PodSpec, cm *corev1.ConfigMap, secrets map[string]map[string]string, secretsFlag string) (msg, out []byte, err error) {
	t.Helper()
	termLog := filepath.Join(root, "termination-log")
	write(t, termLog, "")
	out, err = podCommand(t, root, pod, cm, secrets, secretsFlag, "--termination-log", termLog).CombinedOutput()
	msg, rerr := os.ReadFile(termLog)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return msg, out, err
}

// podCommand is the command of a rendered pod's one container, with its
// ConfigMap and Secrets written under root where they are mounted and its
// env references resolved; extra args follow the pod's.
func podCommand(t *testing.T, root string, pod corev1.PodSpec, cm *corev1.ConfigMap, secrets map[string]map[string]string, secretsFlag string, extra ...string) *exec.Cmd {
	t.Helper()
	c := pod.Containers[0]
	mounts := map[string]string{} // mount path in the pod → folder here
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = filepath.Join(root, "mnt", m.Name)
	}
	for _, v := range pod.Volumes {
		dir := ""
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				dir = mounts[m.MountPath]
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case v.ConfigMap != nil:
			for k, val := range cm.Data {
				write(t, filepath.Join(dir, k), val)
			}
		case v.Secret != nil:
			for _, item := range v.Secret.Items {
				write(t, filepath.Join(dir, item.Path), secrets[v.Secret.SecretName][item.Key])
			}
		}
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = a
		for podPath, here := range mounts {
			if strings.HasPrefix(a, podPath+"/") {
				args[i] = here + strings.TrimPrefix(a, podPath)
			}
		}
	}
	if secretsFlag != "" {
		// Secrets are mounted one folder each under runconfig.SecretsDir;
		// here they are one folder each under a stand-in for it.
		secretsDir := filepath.Join(root, "secrets")
		if err := os.MkdirAll(secretsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(m.MountPath, runconfig.SecretsDir+"/") {
				name := strings.TrimPrefix(m.MountPath, runconfig.SecretsDir+"/")
				if err := os.Symlink(mounts[m.MountPath], filepath.Join(secretsDir, name)); err != nil {
					t.Fatal(err)
				}
			}
		}
		args = append(args, secretsFlag, secretsDir)
	}
	cmd := journeyCommand(append(args, extra...)...)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			cmd.Env = append(cmd.Env, e.Name+"="+secrets[ref.Name][ref.Key])
		}
	}
	return cmd
}

func helpOf() string {
	out, _ := journeyCommand("ingest", "-h").CombinedOutput()
	return string(out)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A run that cannot start (here: the store is unreachable) still leaves a
// summary the controller can read, saying why, so the source's Ready
// condition names the problem instead of "exited with code 1".
func TestIngestThatCannotStartReportsWhy(t *testing.T) {
	root := t.TempDir()
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "crm"},
		Spec: v1alpha1.TouchpointSourceSpec{Touchpoint: "crm",
			Batch:   &v1alpha1.BatchSource{Schedule: "@hourly", File: &v1alpha1.FileConnector{Path: "/data/crm.jsonl", Format: v1alpha1.FileFormatJSONLines}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(record.at)", Type: `"crm"`}},
	}
	data, _, err := runconfig.Encode(render.SourceConfig(src, nil))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath, termLog := filepath.Join(root, "config.json"), filepath.Join(root, "termination-log")
	write(t, cfgPath, string(data))
	write(t, termLog, "")
	cmd := journeyCommand("ingest", "--config", cfgPath, "--termination-log", termLog)
	cmd.Env = append(cmd.Env, runconfig.StoreDSNEnv+"=postgres://journey:hunter2@127.0.0.1:1/journey?connect_timeout=2")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ingest with no reachable store succeeded:\n%s", out)
	}
	msg, _ := os.ReadFile(termLog)
	var run v1alpha1.RunSummary
	if err := json.Unmarshal(msg, &run); err != nil {
		t.Fatalf("termination message %q is not a run summary: %v", msg, err)
	}
	if run.Outcome != v1alpha1.RunFailed || !strings.Contains(run.Message, "PostgreSQL") || strings.Contains(string(msg)+string(out), "hunter2") {
		t.Errorf("summary %+v (the message should name the store and never its password)", run)
	}
}
