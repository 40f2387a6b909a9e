package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/testutil"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	releaseName      = "journey-operator"
	releaseNamespace = "journey-system"
	// fieldOwner is the one field manager every dry-run apply uses.
	fieldOwner = "journey-deploy-test"
)

var chartDir = filepath.Join(repoRoot, "charts", "journey-operator")

// loadChart reads the chart from disk, as `helm install ./charts/...` does.
func loadChart() *chart.Chart {
	chrt, err := loader.Load(chartDir)
	Expect(err).NotTo(HaveOccurred(), "loading the chart from %s", chartDir)
	return chrt
}

// renderChart runs what `helm install --dry-run=client --include-crds` runs:
// values merged and checked against values.schema.json, templates rendered
// for the test API server's version. It returns the manifest's objects.
func renderChart(chrt *chart.Chart, values map[string]any) ([]*unstructured.Unstructured, error) {
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.IncludeCRDs = true
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	kv, err := chartutil.ParseKubeVersion(serverVersion)
	if err != nil {
		return nil, fmt.Errorf("parsing the API server version %q: %w", serverVersion, err)
	}
	install.KubeVersion = kv
	rel, err := install.Run(chrt, values)
	if err != nil {
		return nil, err
	}
	return testutil.DecodeObjects([]byte(rel.Manifest))
}

// buildKustomize runs what `kubectl apply -k config/default` builds.
func buildKustomize() []*unstructured.Unstructured {
	dir, err := filepath.Abs(filepath.Join(repoRoot, "config", "default"))
	Expect(err).NotTo(HaveOccurred())
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)
	out, err := resMap.AsYaml()
	Expect(err).NotTo(HaveOccurred())
	objs, err := testutil.DecodeObjects(out)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

func describe(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
}

// applyDryRun server-side applies every object with dry-run and strict field
// validation, one field owner for all, and returns every refusal (not just
// the first) so one run shows all that is wrong.
func applyDryRun(objs []*unstructured.Unstructured) []string {
	var refused []string
	for _, o := range objs {
		err := applier.Apply(ctx, client.ApplyConfigurationFromUnstructured(o),
			client.FieldOwner(fieldOwner), client.DryRunAll)
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", describe(o), err))
		}
	}
	return refused
}

// namespacesOf lists the namespaces the namespaced objects live in.
func namespacesOf(objs []*unstructured.Unstructured) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	return out
}

// ofKind returns the objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// as converts an unstructured object into a typed one.
func as[T any](o *unstructured.Unstructured) *T {
	var t T
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &t, true)).
		To(Succeed(), "converting %s", describe(o))
	return &t
}

// managerDeployment is the one Deployment an install renders.
func managerDeployment(objs []*unstructured.Unstructured) *appsv1.Deployment {
	deps := ofKind(objs, "Deployment")
	Expect(deps).To(HaveLen(1), "one Deployment: the manager")
	return as[appsv1.Deployment](deps[0])
}

// managerContainer is the Deployment's container named manager.
func managerContainer(d *appsv1.Deployment) (args []string, image string) {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c.Args, c.Image
		}
	}
	Fail(fmt.Sprintf("Deployment %s has no container named manager", d.Name))
	return nil, ""
}

// generatedManagerRules reads config/rbac/role.yaml, the ClusterRole
// controller-gen generates from the RBAC markers.
func generatedManagerRules() []rbacv1.PolicyRule {
	path := filepath.Join(repoRoot, "config", "rbac", "role.yaml")
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	objs, err := testutil.DecodeObjects(data)
	Expect(err).NotTo(HaveOccurred(), "decoding %s", path)
	roles := ofKind(objs, "ClusterRole")
	Expect(roles).To(HaveLen(1), "%s holds one ClusterRole", path)
	rules := as[rbacv1.ClusterRole](roles[0]).Rules
	Expect(rules).NotTo(BeEmpty(), "%s has rules", path)
	return rules
}

// byName finds an object by kind and name; it fails the spec when absent.
func byName(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	var have []string
	for _, o := range objs {
		have = append(have, describe(o))
	}
	Fail(fmt.Sprintf("no %s named %s among:\n  %s", kind, name, strings.Join(have, "\n  ")))
	return nil
}
