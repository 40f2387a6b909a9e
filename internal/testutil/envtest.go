package testutil

import (
	"fmt"
	"os"
	"path/filepath"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EnvtestAssets returns $KUBEBUILDER_ASSETS, or an error naming what is
// missing and how to get it: a test without a control plane fails, it never
// skips. bins are the binaries the test needs (kube-apiserver and etcd when
// none are named).
func EnvtestAssets(bins ...string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver, etcd and kubectl with hack/setup-envtest.sh, or set KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh)")
	}
	if len(bins) == 0 {
		bins = []string{"kube-apiserver", "etcd"}
	}
	for _, bin := range bins {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s not found in KUBEBUILDER_ASSETS=%s: run hack/setup-envtest.sh to build it", bin, dir)
		}
	}
	return dir, nil
}

// MetaItems returns the items of a typed list as object metadata.
func MetaItems(l client.ObjectList) ([]metav1.Object, error) {
	objs, err := apimeta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, 0, len(objs))
	for _, o := range objs {
		m, err := apimeta.Accessor(o)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
