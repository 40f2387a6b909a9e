// The API server test creates the generated specs on a real kube-apiserver
// with the CRDs of config/crd/bases and strict field validation, so every
// OpenAPI and CEL admission rule judges them. It needs the envtest binaries:
//
//	KUBEBUILDER_ASSETS="$(hack/setup-envtest.sh)" go test -tags envtest ./internal/sampledata -run TestSpecsOnAPIServer -count=1

package sampledata

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/testutil"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

func TestSpecsOnAPIServer(t *testing.T) {
	assets, err := testutil.EnvtestAssets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "streaming-sample"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	dir, _ := generate(t, DefaultConfig())
	created := 0
	for name := range Specs {
		if name == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(raw, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			u.SetNamespace(ns.Name)
			if err := k8s.Create(ctx, u, client.FieldValidation("Strict")); err != nil {
				t.Errorf("%s: the API server refuses %s/%s: %v", name, u.GetKind(), u.GetName(), err)
				continue
			}
			created++
		}
	}
	if created != 10 {
		t.Errorf("created %d objects, want 10", created)
	}
	// The kustomization lists exactly the specs.
	kust := Specs["kustomization.yaml"]
	for name := range Specs {
		if name != "kustomization.yaml" && !strings.Contains(kust, "- "+name+"\n") {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}
}
