package runconfig_test

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// The rendered ConfigMap shows CEL as written (`>=`, `<`, `&&`), not
// HTML-escaped (`\u003e=`): platform teams read it with kubectl.
func TestConfigMapShowsCELAsWritten(t *testing.T) {
	src := &v1alpha1.TouchpointSource{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing"},
		Spec: v1alpha1.TouchpointSourceSpec{Batch: &v1alpha1.BatchSource{Schedule: "@hourly"},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.customer", OccurredAt: "timestamp(record.created)", Type: "record.type"}}}
	rule := v1alpha1.ValidationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "billing-controls"},
		Spec: v1alpha1.ValidationRuleSpec{Checks: []v1alpha1.Check{{Name: "amount-range",
			Expression: `event.amount >= 1.0 && event.amount < 10000.0 && record.note != "<none>"`}}}}
	cm, hash, err := render.SourceConfigMap(src, []v1alpha1.ValidationRule{rule})
	if err != nil {
		t.Fatal(err)
	}
	data := cm.Data[runconfig.FileName]
	if want := `event.amount >= 1.0 && event.amount < 10000.0 && record.note != \"<none>\"`; !strings.Contains(data, want) {
		t.Errorf("the ConfigMap does not show the check as written, %s; got:\n%s", want, data)
	}
	if strings.Contains(data, `\u00`) {
		t.Errorf("the ConfigMap escapes characters:\n%s", data)
	}
	// The pod decodes it to the same configuration, and computes the same
	// hash from what it decoded (it reports that hash with each run).
	var back runconfig.Source
	if err := json.Unmarshal([]byte(data), &back); err != nil {
		t.Fatal(err)
	}
	if _, again, err := runconfig.Encode(back); err != nil || again != hash {
		t.Errorf("hash of the decoded configuration %s (%v), want %s", again, err, hash)
	}
}

// A configuration without <, > or & encodes to the bytes (and the hash) it
// had before CEL was written as written: upgrading rolls no workload whose
// configuration reads the same.
func TestEncodeKeepsUnescapedConfigurations(t *testing.T) {
	cfg := map[string]any{"version": 1, "spec": map[string]any{"expression": `event.type == "invoice.paid"`}}
	data, hash, err := runconfig.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(before) {
		t.Errorf("encoded\n%s\nwant, as before,\n%s", data, before)
	}
	if !strings.HasPrefix(hash, "sha256:") {
		t.Errorf("hash %q", hash)
	}
}
