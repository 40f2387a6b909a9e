// Package webhookcert_test proves the manager keeps its own webhook
// certificates as config/default installs it: `journey manager` runs with
// the Deployment's own arguments, as its service account with exactly the
// RBAC config/default grants (one Secret, two webhook configurations, by
// name), fills the empty Secret, injects the CA into the two webhook
// configurations and serves a certificate the API server would trust for
// the webhook Service. It is its own package (its own process) because a
// process runs one manager: controller names are global.
package webhookcert_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

// The names config/default gives the objects.
const (
	namespace        = "journey-system"
	serviceAccount   = "journey-operator-controller-manager"
	certSecret       = "journey-operator-webhook-server-cert"
	webhookService   = "journey-operator-webhook-service"
	mutatingConfig   = "journey-operator-mutating-webhook-configuration"
	validatingConfig = "journey-operator-validating-webhook-configuration"
)

var (
	testEnv  *envtest.Environment
	scheme   *runtime.Scheme
	admin    client.Client
	operator client.Client
	ctx      context.Context
	cancel   context.CancelFunc
	mgrDone  = make(chan error, 1)
	started  bool
	// webhookAddr and probeAddr are where the manager serves.
	webhookAddr, probeAddr string
	repoRoot               = filepath.Join("..", "..")
)

func TestWebhookCerts(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "self-managed webhook certificates on a real API server")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	assets, err := testutil.EnvtestAssets()
	if err != nil {
		Fail(err.Error())
	}
	testEnv = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and etcd from KUBEBUILDER_ASSETS=%s", assets)
	scheme, err = manager.NewScheme()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	deployment := install()
	startManager(deployment)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if started {
		Eventually(mgrDone, 30*time.Second).Should(Receive())
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// install creates what config/default installs, but the CRDs (envtest has
// them) and the Deployment (the test runs the manager), and returns the
// Deployment.
func install() *appsv1.Deployment {
	dir, err := filepath.Abs(filepath.Join(repoRoot, "config", "default"))
	Expect(err).NotTo(HaveOccurred())
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)
	var deployment *appsv1.Deployment
	var objs []*unstructured.Unstructured
	for _, r := range resMap.Resources() {
		m, err := r.Map()
		Expect(err).NotTo(HaveOccurred())
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	// The namespace first.
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolInt(b.GetKind() == "Namespace") - boolInt(a.GetKind() == "Namespace")
	})
	for _, u := range objs {
		switch u.GetKind() {
		case "CustomResourceDefinition":
			continue
		case "Deployment":
			deployment = &appsv1.Deployment{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, deployment)).To(Succeed())
			continue
		}
		Expect(admin.Create(ctx, u)).To(Succeed(), "creating %s %s", u.GetKind(), u.GetName())
	}
	Expect(deployment).NotTo(BeNil(), "config/default holds the manager's Deployment")
	return deployment
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// startManager runs `journey manager` with the Deployment's arguments, as
// its service account, changing only what a pod has and a test has not: the
// kubeconfig, the namespace, and local addresses.
func startManager(d *appsv1.Deployment) {
	u, err := testEnv.AddUser(envtest.User{
		Name:   fmt.Sprintf("system:serviceaccount:%s:%s", namespace, serviceAccount),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace},
	}, nil)
	Expect(err).NotTo(HaveOccurred())
	operator, err = client.New(u.Config(), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := u.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	dir, err := os.MkdirTemp("", "journey-webhookcert-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	path := filepath.Join(dir, "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())

	var args []string
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			args = c.Args
		}
	}
	Expect(args).NotTo(BeEmpty())
	Expect(args[0]).To(Equal("manager"))
	Expect(args).To(ContainElement("--webhook-cert-secret=" + certSecret))
	webhookAddr, probeAddr = freeAddr(), freeAddr()
	_, webhookPort, _ := net.SplitHostPort(webhookAddr)
	args = append(slices.Clone(args[1:]),
		"--kubeconfig="+path,
		"--leader-election-namespace="+namespace,
		"--webhook-namespace="+namespace,
		"--webhook-host=127.0.0.1", "--webhook-port="+webhookPort,
		"--metrics-bind-address=0", "--health-probe-bind-address="+probeAddr,
		"--zap-log-level=error",
	)
	GinkgoWriter.Printf("journey manager %s\n", strings.Join(args, " "))
	started = true
	go func() {
		defer GinkgoRecover()
		mgrDone <- manager.Run(ctx, args)
	}()
}

// freeAddr is a local address nothing listens on yet.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}
