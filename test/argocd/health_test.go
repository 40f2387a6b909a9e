package argocd_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

const (
	repoRoot = "../.."
	// configDir holds one <group>/<kind>/ directory per health check, laid
	// out as Argo CD's resource_customizations.
	configDir = repoRoot + "/config/argocd"
	// minCasesPerKind is the least number of health_test.yaml cases a kind
	// must have: every branch of the script.
	minCasesPerKind = 7
)

// healthTestFile is a health_test.yaml, in Argo CD's format.
type healthTestFile struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// healthCheck is one <group>/<kind> directory.
type healthCheck struct {
	gvk    schema.GroupVersionKind // Version is empty: checks apply to every version
	dir    string
	script string
	cases  []healthCase
}

type healthCase struct {
	inputPath string // relative to the check's directory
	want      healthStatus
}

func (c healthCheck) key() string { return c.gvk.Group + "/" + c.gvk.Kind }

// rel names a path in messages the way a reader finds it in the repository.
func rel(path string) string {
	r, err := filepath.Rel(repoRoot, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

// loadHealthChecks finds every config/argocd/<group>/<kind>/health.lua with
// its health_test.yaml.
func loadHealthChecks(t *testing.T) []healthCheck {
	t.Helper()
	var checks []healthCheck
	err := filepath.WalkDir(configDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (d.Name() != "health.lua" && d.Name() != "health_test.yaml") {
			return nil
		}
		dir := filepath.Dir(path)
		parts := strings.Split(filepath.ToSlash(mustRel(t, configDir, dir)), "/")
		if len(parts) != 2 {
			return fmt.Errorf("%s: health checks live in config/argocd/<group>/<kind>/, as in Argo CD's resource_customizations", rel(path))
		}
		if d.Name() == "health_test.yaml" {
			if _, err := os.Stat(filepath.Join(dir, "health.lua")); err != nil {
				return fmt.Errorf("%s has no health.lua beside it", rel(path))
			}
			return nil
		}
		check := healthCheck{gvk: schema.GroupVersionKind{Group: parts[0], Kind: parts[1]}, dir: dir}
		script, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check.script = string(script)
		testPath := filepath.Join(dir, "health_test.yaml")
		data, err := os.ReadFile(testPath)
		if err != nil {
			return fmt.Errorf("%s has no health_test.yaml beside it: %w", rel(path), err)
		}
		var tests healthTestFile
		if err := yaml.UnmarshalStrict(data, &tests); err != nil {
			return fmt.Errorf("%s: %w", rel(testPath), err)
		}
		for i, tc := range tests.Tests {
			if tc.InputPath == "" || tc.HealthStatus.Status == "" {
				return fmt.Errorf("%s: tests[%d] needs inputPath and healthStatus.status", rel(testPath), i)
			}
			check.cases = append(check.cases, healthCase{inputPath: tc.InputPath, want: tc.HealthStatus})
		}
		checks = append(checks, check)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) == 0 {
		t.Fatalf("no health.lua under %s", rel(configDir))
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].key() < checks[j].key() })
	return checks
}

func mustRel(t *testing.T, base, path string) string {
	t.Helper()
	r, err := filepath.Rel(base, path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// journeyKinds returns the kinds of api/v1alpha1 (not their lists), by name.
func journeyKinds(t *testing.T) map[string]reflect.Type {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]reflect.Type{}
	for kind, typ := range scheme.KnownTypes(v1alpha1.GroupVersion) {
		if strings.HasSuffix(kind, "List") || typ.PkgPath() != reflect.TypeFor[v1alpha1.TouchpointSource]().PkgPath() {
			continue // lists, and the meta kinds every group version gets
		}
		kinds[kind] = typ
	}
	if len(kinds) == 0 {
		t.Fatal("no kinds registered by api/v1alpha1")
	}
	return kinds
}

// hasSpecSuspend reports whether a kind has spec.suspend.
func hasSpecSuspend(typ reflect.Type) bool {
	spec, ok := typ.FieldByName("Spec")
	if !ok {
		return false
	}
	for i := range spec.Type.NumField() {
		if name, _, _ := strings.Cut(spec.Type.Field(i).Tag.Get("json"), ","); name == "suspend" {
			return true
		}
	}
	return false
}

// loadInput reads a case's object and checks that it is a valid object of
// the check's kind, so that no case tests a shape the API cannot have.
func loadInput(t *testing.T, check healthCheck, tc healthCase, kinds map[string]reflect.Type) *unstructured.Unstructured {
	t.Helper()
	path := filepath.Join(check.dir, tc.inputPath)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", rel(filepath.Join(check.dir, "health_test.yaml")), err)
	}
	obj, err := decodeObject(data)
	if err != nil {
		t.Fatalf("%s: %v", rel(path), err)
	}
	if gvk := obj.GroupVersionKind(); gvk.Group != check.gvk.Group || gvk.Kind != check.gvk.Kind {
		t.Fatalf("%s is a %s, but lies under %s", rel(path), gvk, rel(check.dir))
	}
	if typ, ok := kinds[check.gvk.Kind]; ok && check.gvk.Group == v1alpha1.GroupVersion.Group {
		typed := reflect.New(typ).Interface()
		if err := yaml.UnmarshalStrict(data, typed); err != nil {
			t.Fatalf("%s is not a valid %s: %v", rel(path), check.gvk.Kind, err)
		}
	}
	return obj
}

func TestHealthChecks(t *testing.T) {
	kinds := journeyKinds(t)
	for _, check := range loadHealthChecks(t) {
		for _, tc := range check.cases {
			t.Run(check.key()+"/"+tc.inputPath, func(t *testing.T) {
				obj := loadInput(t, check, tc, kinds)
				got, err := runHealthLua(check.script, obj)
				if err != nil {
					t.Fatalf("%s on %s: %v", rel(filepath.Join(check.dir, "health.lua")), tc.inputPath, err)
				}
				if got != tc.want {
					t.Errorf("%s on %s:\n got %s: %q\nwant %s: %q (%s)",
						rel(filepath.Join(check.dir, "health.lua")), tc.inputPath,
						got.Status, got.Message, tc.want.Status, tc.want.Message, rel(filepath.Join(check.dir, "health_test.yaml")))
				}
			})
		}
	}
}

// TestEveryKindHasAHealthCheck: without a script Argo CD shows no health for
// a kind, so Applications never wait for it.
func TestEveryKindHasAHealthCheck(t *testing.T) {
	kinds := journeyKinds(t)
	checks := map[string]healthCheck{}
	for _, check := range loadHealthChecks(t) {
		checks[check.key()] = check
	}
	for kind := range kinds {
		key := v1alpha1.GroupVersion.Group + "/" + kind
		if _, ok := checks[key]; !ok {
			t.Errorf("%s has no Argo CD health check: add config/argocd/%s/health.lua with health_test.yaml and testdata/, then run `make argocd-cm`", kind, key)
		}
	}
	for key, check := range checks {
		if check.gvk.Group == v1alpha1.GroupVersion.Group {
			if _, ok := kinds[check.gvk.Kind]; !ok {
				t.Errorf("%s: api/v1alpha1 has no kind %s", rel(check.dir), check.gvk.Kind)
			}
		} else {
			t.Errorf("%s: not a %s kind", key, v1alpha1.GroupVersion.Group)
		}
	}
}

// TestEveryBranchIsCovered asks each kind for enough cases, and for at least
// one of each health its script can report.
func TestEveryBranchIsCovered(t *testing.T) {
	kinds := journeyKinds(t)
	for _, check := range loadHealthChecks(t) {
		if len(check.cases) < minCasesPerKind {
			t.Errorf("%s: %d cases, want at least %d (one per branch of health.lua)", rel(check.dir), len(check.cases), minCasesPerKind)
		}
		want := []string{"Healthy", "Progressing", "Degraded"}
		if typ, ok := kinds[check.gvk.Kind]; ok && hasSpecSuspend(typ) {
			want = append(want, "Suspended")
		}
		for _, status := range want {
			if !slices.ContainsFunc(check.cases, func(tc healthCase) bool { return tc.want.Status == status }) {
				t.Errorf("%s: no case expects %s", rel(filepath.Join(check.dir, "health_test.yaml")), status)
			}
		}
	}
}

// suspendBlock is the part of a script only kinds with spec.suspend have.
var suspendBlock = regexp.MustCompile(`(?ms)^-- BEGIN suspend.*?^-- END suspend\n\n`)

// TestScriptsShareOneBody keeps the scripts one script: Argo CD has no
// includes, so each kind carries a copy, identical but for the suspend block,
// which a kind has exactly when its spec has suspend.
func TestScriptsShareOneBody(t *testing.T) {
	kinds := journeyKinds(t)
	var first healthCheck
	var body string
	for _, check := range loadHealthChecks(t) {
		typ, ok := kinds[check.gvk.Kind]
		if !ok {
			continue // reported by TestEveryKindHasAHealthCheck
		}
		blocks := suspendBlock.FindAllString(check.script, -1)
		switch {
		case hasSpecSuspend(typ) && len(blocks) != 1:
			t.Errorf("%s: %s has spec.suspend, so health.lua needs one `-- BEGIN suspend` ... `-- END suspend` block followed by a blank line; found %d", rel(check.dir), check.gvk.Kind, len(blocks))
		case !hasSpecSuspend(typ) && len(blocks) != 0:
			t.Errorf("%s: %s has no spec.suspend, so health.lua must not have the suspend block", rel(check.dir), check.gvk.Kind)
		}
		stripped := suspendBlock.ReplaceAllString(check.script, "")
		if first.dir == "" {
			first, body = check, stripped
			continue
		}
		if stripped != body {
			t.Errorf("%s/health.lua and %s/health.lua differ outside the suspend block; keep them identical (diff them, fix, then run `make argocd-cm`)", rel(first.dir), rel(check.dir))
		}
	}
}

// TestAgreesWithKstatus ties the scripts to kstatus, which kubectl wait,
// Flux and the controller's own tests read from the same conditions. The
// scripts are stricter (no observedGeneration or no Ready is not healthy) and
// say Degraded where kstatus says InProgress for Ready=False, but they never
// call healthy what kstatus calls unfinished, and never miss a stalled object.
func TestAgreesWithKstatus(t *testing.T) {
	kinds := journeyKinds(t)
	for _, check := range loadHealthChecks(t) {
		for _, tc := range check.cases {
			obj := loadInput(t, check, tc, kinds)
			res, err := kstatus.Compute(obj)
			if err != nil {
				t.Errorf("%s/%s: kstatus: %v", rel(check.dir), tc.inputPath, err)
				continue
			}
			allowed := map[kstatus.Status][]string{
				kstatus.CurrentStatus:     {"Healthy", "Progressing", "Suspended"},
				kstatus.InProgressStatus:  {"Progressing", "Degraded", "Suspended"},
				kstatus.FailedStatus:      {"Degraded", "Suspended"},
				kstatus.TerminatingStatus: {"Progressing"},
			}[res.Status]
			if !slices.Contains(allowed, tc.want.Status) {
				t.Errorf("%s/%s: expects %s, but kstatus says %s (%s); want one of %v",
					rel(check.dir), tc.inputPath, tc.want.Status, res.Status, res.Message, allowed)
			}
		}
	}
}
