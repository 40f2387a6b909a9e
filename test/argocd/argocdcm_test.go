package argocd_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	argocdCMPath      = configDir + "/argocd-cm.yaml"
	healthKeyPrefix   = "resource.customizations.health."
	regenerateMessage = "run `make argocd-cm` (hack/gen-argocd-cm.sh) and commit config/argocd/argocd-cm.yaml"
)

// TestArgoCDConfigMapIsCurrent: users install the checks from
// config/argocd/argocd-cm.yaml, so it must hold exactly the tested scripts.
func TestArgoCDConfigMapIsCurrent(t *testing.T) {
	data, err := os.ReadFile(argocdCMPath)
	if err != nil {
		t.Fatalf("%v; %s", err, regenerateMessage)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatalf("%s: %v; %s", rel(argocdCMPath), err, regenerateMessage)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" || cm.Namespace != "argocd" {
		t.Errorf("%s patches %s %s %s/%s, want v1 ConfigMap argocd/argocd-cm", rel(argocdCMPath), cm.APIVersion, cm.Kind, cm.Namespace, cm.Name)
	}
	// Argo CD reads only ConfigMaps carrying this label.
	if cm.Labels["app.kubernetes.io/part-of"] != "argocd" {
		t.Errorf("%s: want label app.kubernetes.io/part-of: argocd", rel(argocdCMPath))
	}

	want := map[string]string{}
	for _, check := range loadHealthChecks(t) {
		// Argo CD's key for a group and kind: resource.customizations.health.<group>_<kind>.
		key := healthKeyPrefix + check.gvk.Group + "_" + check.gvk.Kind
		want[key] = check.script
		got, ok := cm.Data[key]
		switch {
		case !ok:
			t.Errorf("%s has no %s for %s; %s", rel(argocdCMPath), key, rel(filepath.Join(check.dir, "health.lua")), regenerateMessage)
		case got != check.script:
			t.Errorf("%s: %s differs from %s; %s", rel(argocdCMPath), key, rel(filepath.Join(check.dir, "health.lua")), regenerateMessage)
		}
	}
	var extra []string
	for key := range cm.Data {
		if _, ok := want[key]; !ok {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s has keys no health.lua produces: %s; %s", rel(argocdCMPath), strings.Join(extra, ", "), regenerateMessage)
	}
}
