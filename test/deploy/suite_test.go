// Package deploy_test proves the ways journey-operator is installed, the Helm
// chart and the kustomize overlay, against a real kube-apiserver: every
// object they render is accepted by server-side apply, the manager's pod meets
// the restricted Pod Security Standard, and its permissions are exactly the
// ones the RBAC markers generate.
package deploy_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/testutil"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

var (
	testEnv *envtest.Environment
	k8s     client.Client
	// applier rejects unknown fields, so a typo in a template fails here
	// instead of being dropped silently by the API server.
	applier client.Client
	// serverVersion is the test API server's version (e.g. v1.37.2); the chart
	// is rendered for it, so its kubeVersion constraint is checked too.
	serverVersion string
	ctx           context.Context
	cancel        context.CancelFunc
	// repoRoot is where config/ and charts/ live, two levels up.
	repoRoot = filepath.Join("..", "..")
)

func TestDeploy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "journey-operator install manifests on a real API server")
}

// requireAssets fails (never skips) when the control-plane binaries are not
// there, naming what is missing and how to get it.
func requireAssets() string {
	dir, err := testutil.EnvtestAssets()
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
		// cert-manager's and the Prometheus Operator's CRDs stand in so the
		// chart's Certificate, Issuer, ServiceMonitors and PrometheusRule can
		// be applied (testdata/*-crds.yaml say what they hold).
		CRDDirectoryPaths: []string{filepath.Join(repoRoot, "config", "crd", "bases"),
			filepath.Join("testdata", "cert-manager-crds.yaml"), filepath.Join("testdata", "prometheus-operator-crds.yaml")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and etcd from KUBEBUILDER_ASSETS")

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	applier = client.WithFieldValidation(k8s, metav1.FieldValidationStrict)

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	v, err := dc.ServerVersion()
	Expect(err).NotTo(HaveOccurred())
	serverVersion = v.GitVersion
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// ensureNamespace creates a namespace (for real: dry-run objects still need
// their namespace to exist) unless it is already there.
func ensureNamespace(name string, labels map[string]string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred(), "creating namespace %s", name)
	}
}
