package controllers_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/util/retry"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

var (
	testEnv *envtest.Environment
	k8s     client.Client
	ctx     context.Context
	cancel  context.CancelFunc
)

const (
	repoRoot  = ".."
	testImage = "registry.example.internal/journey:test"
	// timeout for the operator to act; the operator is event-driven, so this
	// only bounds a slow machine.
	timeout = 30 * time.Second
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "controllers on a real API server")
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

	scheme, err := manager.NewScheme()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The manager exactly as `journey manager` builds it, with the flags a
	// test needs: no metrics or probe ports, a quick Secret retry.
	opts := manager.Options{
		MetricsBindAddress: "0", HealthProbeAddress: "0",
		Image: testImage, ImagePullPolicy: "IfNotPresent",
		StoreSecretName: "journey-store", StoreSecretKey: "dsn",
		SecretRetry: time.Second, Workers: 2,
	}
	mgr, err := ctrl.NewManager(cfg, opts.ManagerOptions(scheme))
	Expect(err).NotTo(HaveOccurred())
	Expect(manager.SetupControllers(mgr, opts)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "media-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// secretsOfTheSamples are the Secrets config/samples refers to, and the store.
var secretsOfTheSamples = map[string][]string{
	"journey-store": {"dsn"}, "stripe-api": {"token"}, "stripe-whsec": {"current", "previous"},
	"analytics-warehouse": {"dsn"}, "zendesk-api": {"token"}, "crm-replica": {"dsn"},
	"typeform-hook": {"secret"}, "journey-hook": {"token"}, "segment-write-key": {"key"},
}

func createSecret(ns, name string, keys ...string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{}}
	for _, k := range keys {
		s.StringData[k] = "not-a-real-" + k
	}
	Expect(k8s.Create(ctx, s)).To(Succeed())
}

// applySamples creates the Secrets and then every sample in namespace ns.
func applySamples(ns string, skipSecrets ...string) {
	skip := map[string]bool{}
	for _, s := range skipSecrets {
		skip[s] = true
	}
	for name, keys := range secretsOfTheSamples {
		if !skip[name] {
			createSecret(ns, name, keys...)
		}
	}
	samples, err := testutil.Samples(repoRoot)
	Expect(err).NotTo(HaveOccurred())
	for key, u := range samples {
		u.SetNamespace(ns)
		Expect(k8s.Create(ctx, u)).To(Succeed(), "creating %s", key)
	}
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// kstatusOf computes kstatus for an object as Argo CD, Flux and kubectl do.
func kstatusOf(obj client.Object) status.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// condition returns "Status/Reason: message" of a condition, for readable
// assertions and failure output.
func condition(obj interface{ GetConditions() []metav1.Condition }, typ string) string {
	for _, c := range obj.GetConditions() {
		if c.Type == typ {
			return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return "absent"
}

func getSource(ns, name string) *v1alpha1.TouchpointSource {
	var s v1alpha1.TouchpointSource
	Expect(k8s.Get(ctx, key(ns, name), &s)).To(Succeed())
	return &s
}

// updateSource changes a source's spec as a user would, again on a
// conflict with the controller's status writes.
func updateSource(ns, name string, change func(*v1alpha1.TouchpointSource)) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		src := getSource(ns, name)
		change(src)
		return k8s.Update(ctx, src)
	})).To(Succeed())
}

func getRule(ns, name string) *v1alpha1.ValidationRule {
	var r v1alpha1.ValidationRule
	Expect(k8s.Get(ctx, key(ns, name), &r)).To(Succeed())
	return &r
}

func getMap(ns, name string) *v1alpha1.JourneyMap {
	var m v1alpha1.JourneyMap
	Expect(k8s.Get(ctx, key(ns, name), &m)).To(Succeed())
	return &m
}
