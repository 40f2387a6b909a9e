package peers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// promServer is Debian's Prometheus on 127.0.0.1, scraping every second
// and evaluating the rules given every second.
type promServer struct {
	URL  string
	proc *process
}

// scrapeJob is one scrape configuration, as a ServiceMonitor of the chart
// makes it: honor_labels, so a series' own namespace label wins over the
// target's; the target's labels as the Prometheus Operator sets them.
type scrapeJob struct {
	Name, Target, Scheme string
	// TokenFile, when set, is sent as a bearer token (the ServiceMonitor's
	// bearerTokenFile); with HTTPS the certificate is not verified (the
	// manager's is self-signed, as with the chart's default tlsConfig).
	TokenFile string
	Labels    map[string]string
}

func startPrometheus(t *testing.T, jobs []scrapeJob, rules map[string]any) *promServer {
	t.Helper()
	bin := prometheusProgram.require(t)
	dir := t.TempDir()
	var scrapes []map[string]any
	for _, j := range jobs {
		sc := map[string]any{
			"job_name": j.Name, "scheme": j.Scheme, "honor_labels": true, "metrics_path": "/metrics",
			"static_configs": []any{map[string]any{"targets": []string{j.Target}, "labels": j.Labels}},
		}
		if j.TokenFile != "" {
			sc["authorization"] = map[string]any{"type": "Bearer", "credentials_file": j.TokenFile}
		}
		if j.Scheme == "https" {
			sc["tls_config"] = map[string]any{"insecure_skip_verify": true}
		}
		scrapes = append(scrapes, sc)
	}
	config := map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"scrape_configs": scrapes,
	}
	if rules != nil {
		path := filepath.Join(dir, "rules.yaml")
		writeYAML(t, path, rules)
		config["rule_files"] = []string{path}
	}
	configPath := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, configPath, config)
	port := freePort(t)
	p := &promServer{URL: "http://" + hostPort(port)}
	p.proc = startProcess(t, "prometheus", bin,
		"--config.file="+configPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+hostPort(port), "--log.level=warn")
	waitReady(t, p.proc, p.URL+"/-/ready")
	return p
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sample is one series of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant PromQL query; an error names the query.
func (p *promServer) query(q string) ([]promSample, error) {
	var out struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape(q), &out); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if out.ResultType == "scalar" {
		return []promSample{{}}, nil
	}
	return out.Result, nil
}

// api GETs a Prometheus API path and decodes its data.
func (p *promServer) api(path string, data any) error {
	resp, err := http.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status    string          `json:"status"`
		Error     string          `json:"error"`
		ErrorType string          `json:"errorType"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// targets are the scrape targets' health by job.
func (p *promServer) targets() (map[string]string, error) {
	var out struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := p.api("/api/v1/targets", &out); err != nil {
		return nil, err
	}
	health := map[string]string{}
	for _, tg := range out.ActiveTargets {
		health[tg.Labels["job"]] = tg.Health + " " + tg.LastError
	}
	return health, nil
}
