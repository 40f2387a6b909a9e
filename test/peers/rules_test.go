package peers_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The chart's alerting rules, as the PrometheusRule renders them with the
// default thresholds, pass `promtool check rules` and the unit tests of
// testdata/rules-test.yaml (`promtool test rules`: input series, and the
// alerts each rule must and must not fire, with their labels and
// annotations), which test every alert the chart ships.
func TestPrometheusRules(t *testing.T) {
	promtool := promtoolProgram.require(t)
	rule := ofKind(renderChart(t, monitoringValues), "PrometheusRule")
	if len(rule) != 1 {
		t.Fatalf("the chart renders %d PrometheusRules, want 1", len(rule))
	}
	groups, _, err := unstructured.NestedSlice(rule[0].Object, "spec", "groups")
	if err != nil || len(groups) == 0 {
		t.Fatalf("the PrometheusRule has no groups (%v)", err)
	}
	dir := t.TempDir()
	writeYAML(t, filepath.Join(dir, "rules.yaml"), map[string]any{"groups": groups})
	tests, err := os.ReadFile(filepath.Join("testdata", "rules-test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules-test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}

	out := runProgram(t, promtool, "check", "rules", filepath.Join(dir, "rules.yaml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	t.Logf("promtool check rules: %s", strings.TrimSpace(out))
	runProgram(t, promtool, "test", "rules", filepath.Join(dir, "rules-test.yaml"))

	// Every alert is tested.
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &suite); err != nil {
		t.Fatal(err)
	}
	var tested []string
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			tested = append(tested, a.Alertname)
		}
	}
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			if name, _ := r.(map[string]any)["alert"].(string); name != "" && !slices.Contains(tested, name) {
				t.Errorf("alert %s has no test in testdata/rules-test.yaml", name)
			}
		}
	}
}
