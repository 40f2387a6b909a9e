// Package admission_test proves, on a real kube-apiserver with real users,
// what the API server records and refuses: editor stamps on journey
// resources, the GitOps author trusted only from a GitOps identity,
// QuarantineReview's requester and four-eyes check, the webhooks failing
// closed, and the roles people are given. The manager serves the webhooks
// started by its own flag parsing (`journey manager ...`), as the operator's
// service account with exactly the generated RBAC, on envtest's webhook
// host, port and certificate directory; the webhook configurations are
// config/webhook's, as `make manifests` generates them.
package admission_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

// The people and identities of the tests, with the groups the API server
// authenticates them in (client certificates: CN the name, O the groups).
const (
	operatorSA = "system:serviceaccount:journey-system:journey-operator"
	argo       = "system:serviceaccount:argocd:argocd-application-controller"
	alice      = "alice@example.com" // edits sources and rules
	bob        = "bob@example.com"   // edits too
	carol      = "carol@example.com" // edits, and is a finance controller
	dave       = "dave@example.com"  // a finance controller who edits nothing
	erin       = "erin@example.com"  // may create reviews (RBAC) but is in no reviewer group
	frank      = "frank@example.com" // an editor who is not a GitOps identity

	reviewerGroup = "finance-controllers"
	editorGroup   = "editors"
)

var userGroups = map[string][]string{
	alice: {editorGroup},
	bob:   {editorGroup},
	carol: {editorGroup, reviewerGroup},
	dave:  {reviewerGroup},
	erin:  {"auditors"},
	frank: {editorGroup},
	argo:  {"system:serviceaccounts", "system:serviceaccounts:argocd"},
}

var (
	testEnv *envtest.Environment
	scheme  *runtime.Scheme
	admin   client.Client
	as      = map[string]client.Client{}
	ctx     context.Context
	cancel  context.CancelFunc
	mgrDone = make(chan error, 1)
	// managerStarted is set once `journey manager` runs.
	managerStarted bool
	repoRoot       = filepath.Join("..", "..")
	// webhookManifests is what `make manifests` generates from the markers.
	webhookManifests = filepath.Join(repoRoot, "config", "webhook", "manifests.yaml")
)

func TestAdmission(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "admission on a real API server with real users")
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
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{webhookManifests}},
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and etcd from KUBEBUILDER_ASSETS=%s", assets)

	scheme, err = manager.NewScheme()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	grantRoles()
	for name, groups := range userGroups {
		as[name] = userClient(name, groups...)
	}
	startManager()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if managerStarted {
		Eventually(mgrDone, 30*time.Second).Should(Receive(), "the manager stops when its context ends")
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// grantRoles installs the roles of config/rbac and binds them as an
// installation would: the manager's generated role to the operator's
// service account, the editor role to editors and Argo CD, the reviewer
// role to the finance controllers and to erin.
func grantRoles() {
	for _, f := range []string{"role.yaml", "editor_role.yaml", "reviewer_role.yaml"} {
		for _, o := range readObjects(filepath.Join(repoRoot, "config", "rbac", f)) {
			Expect(admin.Create(ctx, o)).To(Succeed(), "creating %s from config/rbac/%s", o.GetName(), f)
		}
	}
	bind := func(name, role string, subjects ...rbacv1.Subject) {
		Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   subjects,
		})).To(Succeed())
	}
	bind("operator", "manager-role", rbacv1.Subject{Kind: "ServiceAccount", Name: "journey-operator", Namespace: "journey-system"})
	bind("editors", "editor-role",
		rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: editorGroup},
		rbacv1.Subject{Kind: "ServiceAccount", Name: "argocd-application-controller", Namespace: "argocd"})
	bind("reviewers", "reviewer-role",
		rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: reviewerGroup},
		rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: erin})
}

// userClient authenticates as name in groups with a client certificate.
func userClient(name string, groups ...string) client.Client {
	u, err := testEnv.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	Expect(err).NotTo(HaveOccurred(), "adding user %s", name)
	c, err := client.New(u.Config(), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// startManager runs `journey manager` with the flags a deployment passes,
// pointed at envtest's webhook host, port and certificates, as the
// operator's service account.
func startManager() {
	u, err := testEnv.AddUser(envtest.User{Name: operatorSA, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:journey-system"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := u.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	dir, err := os.MkdirTemp("", "journey-admission-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	path := filepath.Join(dir, "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())

	w := testEnv.WebhookInstallOptions
	args := []string{
		"--kubeconfig=" + path,
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--image=registry.example.internal/journey:test", "--secret-retry=1s", "--workers=2",
		"--webhook-host=" + w.LocalServingHost,
		"--webhook-port=" + strconv.Itoa(w.LocalServingPort),
		"--webhook-cert-path=" + w.LocalServingCertDir,
		"--gitops-identities=" + argo + ", some-other-pipeline",
		"--zap-log-level=error",
	}
	managerStarted = true
	go func() {
		defer GinkgoRecover()
		mgrDone <- manager.Run(ctx, args)
	}()
	// The webhooks answer once a write passes through them.
	probe := manifest(sourceYAML("probe", "billing"), "default")
	Eventually(func() error { return admin.Create(ctx, probe.DeepCopy(), client.DryRunAll) }, 60*time.Second, 200*time.Millisecond).
		Should(Succeed(), "the manager serves the webhooks at %s", net.JoinHostPort(w.LocalServingHost, strconv.Itoa(w.LocalServingPort)))
}

// newNamespace creates a namespace for one spec.
func newNamespace(labels ...string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "media-", Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// readObjects decodes every object of a YAML file.
func readObjects(path string) []*unstructured.Unstructured {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var out []*unstructured.Unstructured
	for _, doc := range splitYAML(data) {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal(doc, &u.Object)).To(Succeed(), "decoding %s", path)
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// manifest decodes one object and puts it in namespace ns.
func manifest(doc, ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed(), "decoding\n%s", doc)
	u.SetNamespace(ns)
	return u
}

// sourceYAML is a batch TouchpointSource labelled with a domain.
func sourceYAML(name, domain string) string {
	return fmt.Sprintf(`
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: %s
  labels: {journey.cjm.dev/domain: %s}
spec:
  touchpoint: %s
  system: stripe
  batch:
    schedule: "*/15 * * * *"
    http: {url: "https://billing.example.internal/v1/events", recordsPath: data}
  mapping:
    eventID: record.id
    userID: record.customer
    occurredAt: timestamp(int(record.created))
    type: record.type
    amount: double(record.amount) / 100.0
`, name, domain, domain)
}

// financialSourceYAML is a financial source reviewed by the groups given
// (none: no compliance section).
func financialSourceYAML(name string, reviewerGroups ...string) string {
	doc := sourceYAML(name, "billing") + "  financial: true\n"
	if len(reviewerGroups) > 0 {
		groups, _ := json.Marshal(reviewerGroups)
		doc += "  compliance:\n    reviewers:\n      groups: " + string(groups) + "\n"
	}
	return doc
}

// ruleYAML is a ValidationRule selecting a domain.
func ruleYAML(name, domain string) string {
	return fmt.Sprintf(`
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata: {name: %s}
spec:
  sourceSelector: {matchLabels: {journey.cjm.dev/domain: %s}}
  checks:
  - {name: amount-non-negative, expression: "event.amount == null || event.amount >= 0.0", message: negative amount}
`, name, domain)
}

// mapYAML is a small JourneyMap.
func mapYAML(name string) string {
	return fmt.Sprintf(`
apiVersion: journey.cjm.dev/v1alpha1
kind: JourneyMap
metadata: {name: %s}
spec:
  sourceSelector: {matchLabels: {journey.cjm.dev/domain: billing}}
  stages:
  - {name: Subscribed, enterWhen: 'event.type == "invoice.paid"'}
  - {name: Churned, enterWhen: 'event.type == "customer.subscription.deleted"'}
`, name)
}

// reviewYAML is a QuarantineReview of a source's held records.
func reviewYAML(name, source string) string {
	return fmt.Sprintf(`
apiVersion: journey.cjm.dev/v1alpha1
kind: QuarantineReview
metadata: {name: %s}
spec:
  source: %s
  selection: {checks: [amount-non-negative]}
  decision: Release
  reason: "credit notes booked as negative invoices; confirmed with AR (ticket FIN-231)"
`, name, source)
}

// get reads an object back as admin.
func get(kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("journey.cjm.dev/v1alpha1")
	u.SetKind(kind)
	Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
	return u
}

// splitYAML splits a multi-document YAML stream.
func splitYAML(data []byte) [][]byte {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		Expect(err).NotTo(HaveOccurred())
		docs = append(docs, doc)
	}
}
