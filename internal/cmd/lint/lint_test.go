package lint_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/cmd/lint"
)

const clean = `
apiVersion: v1
kind: Secret
metadata: {name: stripe-api}
stringData: {token: sk_test_x}
---
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: crm, labels: {domain: crm}}
spec:
  touchpoint: crm
  batch: {schedule: "@daily", file: {path: crm.jsonl, format: JSONLines}}
  mapping: {eventID: record.id, userID: record.user, occurredAt: timestamp(record.at), type: '"crm"'}
---
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: billing, labels: {domain: billing}}
spec:
  touchpoint: billing
  batch:
    schedule: "*/15 * * * *"
    http: {url: "https://billing.example.internal/events", authSecretRef: {name: stripe-api, key: token}}
  mapping: {eventID: record.id, userID: record.customer, occurredAt: timestamp(int(record.created)), type: record.type}
---
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata: {name: controls}
spec:
  sourceSelector: {matchLabels: {domain: billing}}
  checks:
  - {name: known, relationship: {key: event.userID, touchpoint: crm}}
---
apiVersion: journey.cjm.dev/v1alpha1
kind: JourneyMap
metadata: {name: journey}
spec:
  sourceSelector: {}
  stages: [{name: Subscribed, enterWhen: 'event.type == "invoice.paid"'}]
`

func write(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCleanFolder(t *testing.T) {
	got, err := lint.Folder(write(t, map[string]string{"specs.yaml": clean, "crm.jsonl": "{}\n"}))
	if err != nil || len(got) != 0 {
		t.Fatalf("findings %v, err %v", got, err)
	}
}

func TestReportsEachProblemWithFileAndField(t *testing.T) {
	broken := strings.NewReplacer(
		"record.customer", "recrd.customer", // CEL that does not compile
		`"*/15 * * * *"`, `"61 * * * *"`, // a schedule robfig/cron refuses
		"authSecretRef: {name: stripe-api, key: token}", "authSecretRef: {name: stripe-api, key: secret}", // dangling key
		"touchpoint: crm}}", "touchpoint: identity}}", // relationship to nothing
		`sourceSelector: {}`, `sourceSelector: {matchLabels: {domain: nothing}}`, // a map over no source
	).Replace(clean)
	got, err := lint.Folder(write(t, map[string]string{"specs.yaml": broken}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"TouchpointSource default/billing: spec.mapping.userID: undeclared reference to 'recrd'",
		`TouchpointSource default/billing: spec.batch.schedule: "61 * * * *" is not a valid cron schedule`,
		`TouchpointSource default/billing: Secret "stripe-api" has no key "secret"`,
		"TouchpointSource default/crm: spec.batch.file.path: crm.jsonl does not exist",
		`ValidationRule default/controls: check known relationship.touchpoint: no TouchpointSource has touchpoint "identity"`,
		"JourneyMap default/journey: spec.sourceSelector matches no TouchpointSource",
	}
	text := ""
	for _, f := range got {
		if !strings.HasSuffix(f.File, "specs.yaml") {
			t.Errorf("finding without its file: %s", f)
		}
		text += f.String() + "\n"
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing finding %q in:\n%s", w, text)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d findings, want %d:\n%s", len(got), len(want), text)
	}
}

func TestUnknownFieldIsAFinding(t *testing.T) {
	got, _ := lint.Folder(write(t, map[string]string{"specs.yaml": strings.Replace(clean, "touchpoint: crm\n", "touchpoint: crm\n  tuochpoint: typo\n", 1)}))
	if len(got) != 1 || !strings.Contains(got[0].Message, `specs.yaml (document 2, TouchpointSource): error unmarshaling JSON: while decoding JSON: json: unknown field "tuochpoint"`) {
		t.Errorf("findings: %v", got)
	}
}

// A Segment source needs no mapping, but its write key's Secret; a JSON
// webhook's mapping needs every required field.
func TestSegmentAndWebhookSources(t *testing.T) {
	specs := `
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: app-events}
spec:
  touchpoint: app
  webhook: {path: /segment, protocol: Segment, writeKeySecretRef: {name: segment-write-key, key: key}}
---
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: hook}
spec:
  touchpoint: crm
  webhook: {path: /hook}
  mapping: {eventID: record.id, userID: record.user}
`
	got, err := lint.Folder(write(t, map[string]string{"specs.yaml": specs}))
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, f := range got {
		text += f.String() + "\n"
	}
	want := []string{
		`TouchpointSource default/app-events: Secret "segment-write-key" is not among the manifests`,
		"TouchpointSource default/hook: spec.mapping.occurredAt: required: only a Segment source (spec.webhook.protocol: Segment) has a default",
		"TouchpointSource default/hook: spec.mapping.type: required",
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing finding %q in:\n%s", w, text)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d findings, want %d:\n%s", len(got), len(want), text)
	}
}
