package peers_test

import (
	"path/filepath"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/testutil"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// repoRoot is where charts/ and config/ live.
var repoRoot = filepath.Join("..", "..")

// monitoringValues turns on everything the chart ships for Prometheus and
// Grafana.
var monitoringValues = map[string]any{"metrics": map[string]any{
	"serviceMonitor":    map[string]any{"enabled": true},
	"prometheusRule":    map[string]any{"enabled": true},
	"grafanaDashboards": map[string]any{"enabled": true},
}}

// renderChart renders the chart as `helm template` does for release
// journey-operator in journey-system, with values over values.yaml.
func renderChart(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(repoRoot, "charts", "journey-operator"))
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.DryRunOption, install.ClientOnly = true, "client", true
	install.ReleaseName, install.Namespace = "journey-operator", "journey-system"
	kv, err := chartutil.ParseKubeVersion("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	rel, err := install.Run(chrt, values)
	if err != nil {
		t.Fatalf("rendering the chart with %v: %v", values, err)
	}
	objs, err := testutil.DecodeObjects([]byte(rel.Manifest))
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v", err)
	}
	return objs
}

// ofKind returns the rendered objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}
