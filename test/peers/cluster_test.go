package peers_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

// operatorUser is the manager's identity, as its ServiceAccount is named in
// the kustomize install.
const operatorUser = "system:serviceaccount:journey-system:journey-operator"

// cluster is a real kube-apiserver (envtest) running `journey manager`,
// started by its own flag parsing, as the operator's identity with exactly
// the RBAC config/rbac ships: the generated manager role and the metrics
// reviews role. Its /metrics is served as in production: HTTPS, each scrape
// authenticated and authorised by the API server.
type cluster struct {
	admin      client.Client
	clientset  *kubernetes.Clientset
	metricsURL string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	assets, err := testutil.EnvtestAssets()
	if err != nil {
		t.Fatal(err)
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	scheme, err := manager.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{}
	if c.admin, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	if c.clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The roles config/rbac ships, bound to the operator's identity.
	for _, f := range []string{"role.yaml", "metrics_auth_role.yaml", "metrics_reader_role.yaml"} {
		objs := readManifests(t, filepath.Join(repoRoot, "config", "rbac", f))
		for _, o := range objs {
			if o.GetKind() == "ClusterRole" {
				c.create(t, o)
			}
		}
	}
	c.bindClusterRole(t, "operator-manager", "manager-role", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser})
	c.bindClusterRole(t, "operator-metrics-auth", "metrics-auth-role", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser})

	user, err := env.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:journey-system"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	c.metricsURL = "https://" + hostPort(port) + "/metrics"
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(mctx, []string{
			"--kubeconfig=" + path,
			"--metrics-bind-address=" + hostPort(port), // --metrics-secure is the default
			"--health-probe-bind-address=0", "--enable-webhooks=false",
			"--image=registry.example.internal/journey:test", "--secret-retry=1s",
			"--zap-log-level=error",
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("journey manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("journey manager did not stop within 30s")
		}
	})
	return c
}

func (c *cluster) create(t *testing.T, o client.Object) {
	t.Helper()
	if err := c.admin.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
	}
}

func (c *cluster) bindClusterRole(t *testing.T, name, role string, subjects ...rbacv1.Subject) {
	t.Helper()
	c.create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects})
}

// serviceAccountToken creates a ServiceAccount and returns a token the API
// server issued for it (TokenRequest), as a pod's projected token.
func (c *cluster) serviceAccountToken(t *testing.T, namespace, name string) string {
	t.Helper()
	c.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	c.create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}})
	tr, err := c.clientset.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// finishIngestPod creates an ingest pod of source as the Job controller
// would and marks it finished as the kubelet would, with message (what
// `journey ingest` writes to its termination log) and exit code.
func (c *cluster) finishIngestPod(t *testing.T, ns, source, name string, exit int32, message []byte, finished time.Time) {
	t.Helper()
	c.finishPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
		render.LabelManagedBy: render.ManagedBy, render.LabelSource: source, render.LabelComponent: render.ComponentIngest}}},
		render.ComponentIngest, exit, message, finished)
}

// finishReviewPod does the same for a QuarantineReview's Job, with the
// report `journey review` writes.
func (c *cluster) finishReviewPod(t *testing.T, ns, review string, report any) {
	t.Helper()
	msg, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	c.finishPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: review + "-review-" + strconv.FormatInt(time.Now().UnixNano()%100000, 10),
		Labels: map[string]string{render.LabelManagedBy: render.ManagedBy, render.LabelReview: review, render.LabelComponent: render.ComponentReview}}},
		"review", 0, msg, time.Now())
}

func (c *cluster) finishPod(t *testing.T, pod *corev1.Pod, container string, exit int32, message []byte, finished time.Time) {
	t.Helper()
	const image = "registry.example.internal/journey:test"
	pod.Spec = corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: container, Image: image}}}
	c.create(t, pod)
	phase, reason := corev1.PodSucceeded, "Completed"
	if exit != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	pod.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: container, Image: image, ImageID: image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: string(message), Reason: reason,
			StartedAt: metav1.NewTime(finished.Add(-time.Minute)), FinishedAt: metav1.NewTime(finished)}},
	}}}
	if err := c.admin.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("finishing pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// readManifests decodes every object of a YAML file.
func readManifests(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testutil.DecodeObjects(data)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return objs
}

func nn(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
