// Package api_test proves the journey API against a real kube-apiserver and
// etcd: the CRD schemas, their CEL rules, defaults, printer columns and
// kubectl explain are exercised exactly as a cluster runs them.
package api_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/testutil"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	journeyv1alpha1 "github.com/cjm-dev/journey-operator/api/v1alpha1"
)

var (
	testEnv *envtest.Environment
	k8s     client.Client
	ctx     context.Context
	cancel  context.CancelFunc
	// repoRoot is where config/ lives, two levels up from this package.
	repoRoot = filepath.Join("..", "..")
)

func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "journey API on a real API server")
}

// requireAssets fails (never skips) when the control-plane binaries are not
// there, naming what is missing and how to get it.
func requireAssets() string {
	dir, err := testutil.EnvtestAssets("kube-apiserver", "etcd", "kubectl")
	if err != nil {
		Fail(err.Error())
	}
	return dir
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	testEnv = &envtest.Environment{
		BinaryAssetsDirectory: requireAssets(),
		// The CRDs exactly as `make manifests` generates them; installing them
		// also proves every CEL rule compiles within the API server's budget.
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and etcd from KUBEBUILDER_ASSETS")

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	Expect(journeyv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace for one spec and deletes it afterwards.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "media-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, ns))).To(Succeed()) })
	return ns.Name
}
