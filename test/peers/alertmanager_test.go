package peers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
)

// receiverName is the route the test's Alertmanager sends journey alerts to.
const receiverName = "journeys"

// alertmanager is Debian's Alertmanager on 127.0.0.1, configured by the
// test: journey alerts routed to a webhook receiver (an httptest server),
// grouped by journey map and alert, with short waits so the test is quick.
// Each group is notified again every 2s while it fires (repeat_interval),
// so a silence's effect, and its end, show within seconds.
type alertmanager struct {
	t       *testing.T
	bin     string
	config  string
	storage string
	port    int
	URL     string
	proc    *process
	hook    *webhookReceiver
}

func startAlertmanager(t *testing.T) *alertmanager {
	t.Helper()
	am := &alertmanager{t: t, bin: alertmanagerProgram.require(t), port: freePort(t), hook: newWebhookReceiver(t)}
	amtoolProgram.require(t)
	dir := t.TempDir()
	am.storage = filepath.Join(dir, "data")
	am.config = filepath.Join(dir, "alertmanager.yml")
	am.URL = "http://" + hostPort(am.port)
	config := fmt.Sprintf(`global:
  resolve_timeout: 5s
route:
  receiver: other
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
  routes:
  # Journey alerts, one group per journey map and alert.
  - receiver: %s
    matchers: ['journey=~".+"']
    group_by: [namespace, journey, alertname]
receivers:
- name: other
- name: %s
  webhook_configs:
  - url: %s/hook
    send_resolved: true
`, receiverName, receiverName, am.hook.URL)
	if err := os.WriteFile(am.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	am.start()
	return am
}

// start runs Alertmanager (again, after stop: same port, same storage).
func (am *alertmanager) start() {
	am.t.Helper()
	am.proc = startProcess(am.t, "alertmanager", am.bin,
		"--config.file="+am.config, "--storage.path="+am.storage,
		"--web.listen-address="+hostPort(am.port),
		"--cluster.listen-address=", // no gossip: one Alertmanager
		"--log.level=debug")
	waitReady(am.t, am.proc, am.URL+"/-/ready")
}

func (am *alertmanager) stop() { am.proc.stop(am.t) }

// alerts is what the v2 API holds (active, silenced and inhibited alike;
// resolved alerts are not listed).
func (am *alertmanager) alerts() (models.GettableAlerts, error) {
	var out models.GettableAlerts
	return out, am.get("/api/v2/alerts", &out)
}

// groups is how Alertmanager grouped what it holds.
func (am *alertmanager) groups() (models.AlertGroups, error) {
	var out models.AlertGroups
	return out, am.get("/api/v2/alerts/groups", &out)
}

func (am *alertmanager) get(path string, into any) error {
	resp, err := http.Get(am.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, into)
}

// amtool runs amtool against this Alertmanager.
func (am *alertmanager) amtool(args ...string) string {
	am.t.Helper()
	return runProgram(am.t, amtoolProgram.path, append([]string{"--alertmanager.url=" + am.URL}, args...)...)
}

// notification is what Alertmanager's webhook receiver posts.
type notification struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	Alerts            []notifiedAlert   `json:"alerts"`
	received          time.Time
}

type notifiedAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// webhookReceiver keeps every notification Alertmanager posts.
type webhookReceiver struct {
	URL string
	mu  sync.Mutex
	all []notification
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var n notification
		if err := json.NewDecoder(req.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.received = time.Now()
		r.mu.Lock()
		r.all = append(r.all, n)
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// of returns the notifications of the group of alert, received after since.
func (r *webhookReceiver) of(alert string, since time.Time) []notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notification
	for _, n := range r.all {
		if n.GroupLabels["alertname"] == alert && n.received.After(since) {
			out = append(out, n)
		}
	}
	return out
}
