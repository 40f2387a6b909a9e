package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/testutil"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// generatedWebhooks reads config/webhook/manifests.yaml, what controller-gen
// generates from the markers in internal/admission.
func generatedWebhooks() (admissionregistrationv1.MutatingWebhookConfiguration, admissionregistrationv1.ValidatingWebhookConfiguration) {
	path := filepath.Join(repoRoot, "config", "webhook", "manifests.yaml")
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	objs, err := testutil.DecodeObjects(data)
	Expect(err).NotTo(HaveOccurred())
	muts, vals := ofKind(objs, "MutatingWebhookConfiguration"), ofKind(objs, "ValidatingWebhookConfiguration")
	Expect(muts).To(HaveLen(1), path)
	Expect(vals).To(HaveLen(1), path)
	return *as[admissionregistrationv1.MutatingWebhookConfiguration](muts[0]), *as[admissionregistrationv1.ValidatingWebhookConfiguration](vals[0])
}

// argValue is the value of --name=value among args, "" when absent.
func argValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// installedWebhooks checks an install's two webhook configurations against
// the generated ones: the same webhooks (names, rules, failure policy, side
// effects, timeouts, reinvocation), each calling the install's webhook
// Service on 443, with no caBundle set (cert-manager or the manager injects
// it, so upgrades leave it alone). It returns them.
func installedWebhooks(objs []*unstructured.Unstructured, service, namespace string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	genMut, genVal := generatedWebhooks()
	muts, vals := ofKind(objs, "MutatingWebhookConfiguration"), ofKind(objs, "ValidatingWebhookConfiguration")
	Expect(muts).To(HaveLen(1))
	Expect(vals).To(HaveLen(1))
	mut := as[admissionregistrationv1.MutatingWebhookConfiguration](muts[0])
	val := as[admissionregistrationv1.ValidatingWebhookConfiguration](vals[0])

	// clientConfig and namespaceSelector are the install's; the rest is as
	// generated.
	checkClient := func(name string, got, want admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
		Expect(got.CABundle).To(BeEmpty(), "%s: caBundle is injected, not rendered", name)
		Expect(got.URL).To(BeNil())
		Expect(got.Service).NotTo(BeNil(), name)
		Expect(got.Service.Name).To(Equal(service), name)
		Expect(got.Service.Namespace).To(Equal(namespace), name)
		Expect(got.Service.Path).To(Equal(want.Service.Path), name)
		Expect(ptr.Deref(got.Service.Port, 443)).To(Equal(int32(443)), name)
		return want
	}
	gotMut := mut.DeepCopy().Webhooks
	for i := range gotMut {
		Expect(gotMut[i].Name).To(Equal(genMut.Webhooks[i].Name))
		gotMut[i].ClientConfig = checkClient(gotMut[i].Name, gotMut[i].ClientConfig, genMut.Webhooks[i].ClientConfig)
		gotMut[i].NamespaceSelector = nil
	}
	Expect(gotMut).To(Equal(genMut.Webhooks), "the mutating webhooks as generated (run `make manifests`)")
	gotVal := val.DeepCopy().Webhooks
	for i := range gotVal {
		Expect(gotVal[i].Name).To(Equal(genVal.Webhooks[i].Name))
		gotVal[i].ClientConfig = checkClient(gotVal[i].Name, gotVal[i].ClientConfig, genVal.Webhooks[i].ClientConfig)
		gotVal[i].NamespaceSelector = nil
	}
	Expect(gotVal).To(Equal(genVal.Webhooks), "the validating webhooks as generated (run `make manifests`)")
	return mut, val
}

// expectWebhookServing checks the webhook Service reaches the manager's
// webhook port.
func expectWebhookServing(objs []*unstructured.Unstructured, service string) {
	svc := as[corev1.Service](byName(objs, "Service", service))
	d := managerDeployment(objs)
	Expect(labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))).To(BeTrue(),
		"Service %s selects the manager's pods", service)
	Expect(svc.Spec.Ports).To(HaveLen(1))
	Expect(svc.Spec.Ports[0].Port).To(Equal(int32(443)))
	target := svc.Spec.Ports[0].TargetPort.String()
	var c corev1.Container
	for _, c = range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			break
		}
	}
	var port int32
	for _, p := range c.Ports {
		if p.Name == target {
			port = p.ContainerPort
		}
	}
	Expect(port).NotTo(BeZero(), "the manager container has a port named %s", target)
	Expect(argValue(c.Args, "webhook-port")).To(Equal(strconv.Itoa(int(port))), "--webhook-port is the container port")
}

// expectSelfManagedCerts checks the manager keeps its own certificates:
// the flags name an empty Secret, the Service and the two configurations of
// the install, and the manager may get and update exactly those, by name,
// and list or watch no Secret at all.
func expectSelfManagedCerts(objs []*unstructured.Unstructured, sa rbacv1.Subject) {
	args, _ := managerContainer(managerDeployment(objs))
	secretName := argValue(args, "webhook-cert-secret")
	Expect(secretName).NotTo(BeEmpty())
	Expect(argValue(args, "webhook-cert-path")).To(BeEmpty())
	sec := as[corev1.Secret](byName(objs, "Secret", secretName))
	Expect(sec.Namespace).To(Equal(sa.Namespace))
	Expect(sec.Data).To(BeEmpty(), "the Secret is rendered empty; the manager fills it")
	byName(objs, "Service", argValue(args, "webhook-service"))
	mutName, valName := argValue(args, "mutating-webhook-configuration"), argValue(args, "validating-webhook-configuration")
	byName(objs, "MutatingWebhookConfiguration", mutName)
	byName(objs, "ValidatingWebhookConfiguration", valName)
	if ns := argValue(args, "webhook-namespace"); ns != "" {
		Expect(ns).To(Equal(sa.Namespace))
	}

	// Every rule granted to the manager's service account.
	var rules []rbacv1.PolicyRule
	var namespaced []rbacv1.PolicyRule
	for _, o := range ofKind(objs, "RoleBinding") {
		rb := as[rbacv1.RoleBinding](o)
		if !containsSubject(rb.Subjects, sa) {
			continue
		}
		var r []rbacv1.PolicyRule
		if rb.RoleRef.Kind == "Role" {
			r = as[rbacv1.Role](byNameIn(objs, "Role", rb.Namespace, rb.RoleRef.Name)).Rules
		} else {
			r = as[rbacv1.ClusterRole](byName(objs, "ClusterRole", rb.RoleRef.Name)).Rules
		}
		rules = append(rules, r...)
		if rb.Namespace == sa.Namespace {
			namespaced = append(namespaced, r...)
		}
	}
	for _, o := range ofKind(objs, "ClusterRoleBinding") {
		crb := as[rbacv1.ClusterRoleBinding](o)
		if containsSubject(crb.Subjects, sa) {
			rules = append(rules, as[rbacv1.ClusterRole](byName(objs, "ClusterRole", crb.RoleRef.Name)).Rules...)
		}
	}
	var secretUpdates, configUpdates []rbacv1.PolicyRule
	for _, r := range rules {
		for _, res := range r.Resources {
			switch res {
			case "secrets":
				Expect(r.Verbs).NotTo(ContainElements(Or(Equal("list"), Equal("watch"), Equal("*"))), "no Secret is listed or watched")
				if slices.Contains(r.Verbs, "update") {
					secretUpdates = append(secretUpdates, r)
				}
			case "mutatingwebhookconfigurations", "validatingwebhookconfigurations":
				configUpdates = append(configUpdates, r)
			}
		}
	}
	Expect(secretUpdates).To(ConsistOf(rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
		ResourceNames: []string{secretName}, Verbs: []string{"get", "update"}}))
	Expect(namespaced).To(ContainElement(secretUpdates[0]), "granted in the Secret's namespace only")
	Expect(configUpdates).To(ConsistOf(
		rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"},
			ResourceNames: []string{mutName}, Verbs: []string{"get", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"},
			ResourceNames: []string{valName}, Verbs: []string{"get", "update"}}))
}

func containsSubject(subjects []rbacv1.Subject, sa rbacv1.Subject) bool {
	for _, s := range subjects {
		if s.Kind == sa.Kind && s.Name == sa.Name && s.Namespace == sa.Namespace {
			return true
		}
	}
	return false
}

// byNameIn finds a namespaced object.
func byNameIn(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	Fail("no " + kind + " " + namespace + "/" + name)
	return nil
}

var chartSA = rbacv1.Subject{Kind: "ServiceAccount", Name: chartServiceAccount, Namespace: releaseNamespace}

var _ = Describe("the admission webhooks in the Helm chart", func() {
	It("renders the generated webhooks behind the chart's Service, certificates kept by the manager by default", func() {
		objs := mustRender(loadChart(), defaults)
		installedWebhooks(objs, "journey-operator-webhook", releaseNamespace)
		expectWebhookServing(objs, "journey-operator-webhook")
		expectSelfManagedCerts(objs, chartSA)
		Expect(ofKind(objs, "Certificate")).To(BeEmpty())
	})

	It("limits the webhooks to the watched namespaces of a namespace-scoped install", func() {
		mut, val := installedWebhooks(mustRender(loadChart(), namespaceScoped), "journey-operator-webhook", releaseNamespace)
		want := HaveField("NamespaceSelector.MatchExpressions", ConsistOf(HaveField("Values", ConsistOf(watched))))
		for _, w := range mut.Webhooks {
			Expect(w).To(want, w.Name)
		}
		for _, w := range val.Webhooks {
			Expect(w).To(want, w.Name)
		}
	})

	It("with webhook.certManager lets cert-manager issue the certificate the manager mounts and inject its CA", func() {
		for _, values := range []map[string]any{
			{"webhook": map[string]any{"certManager": map[string]any{"enabled": true}}},
			everythingElse,
		} {
			objs := mustRender(loadChart(), values)
			mut, val := installedWebhooks(objs, "journey-operator-webhook", releaseNamespace)
			expectWebhookServing(objs, "journey-operator-webhook")
			certs := ofKind(objs, "Certificate")
			Expect(certs).To(HaveLen(1))
			cert := certs[0]
			secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			Expect(dnsNames).To(ContainElement("journey-operator-webhook." + releaseNamespace + ".svc"))
			inject := releaseNamespace + "/" + cert.GetName()
			Expect(mut.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", inject))
			Expect(val.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", inject))

			d := managerDeployment(objs)
			args, _ := managerContainer(d)
			Expect(argValue(args, "webhook-cert-secret")).To(BeEmpty(), "cert-manager keeps the certificate, not the manager")
			path := argValue(args, "webhook-cert-path")
			Expect(path).NotTo(BeEmpty())
			var mounted string
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName == secretName {
					mounted = v.Name
				}
			}
			Expect(mounted).NotTo(BeEmpty(), "the Certificate's Secret %s is a volume", secretName)
			Expect(d.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: mounted, MountPath: path, ReadOnly: true}))
			Expect(ofKind(objs, "Secret")).To(BeEmpty(), "cert-manager creates the Secret")
			for _, o := range ofKind(objs, "ClusterRole") {
				Expect(o.GetName()).NotTo(HaveSuffix("webhook-configuration"), "the manager injects nothing")
			}

			issuerKind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
			issuerName, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			if issuerKind == "Issuer" {
				issuer := byName(objs, "Issuer", issuerName)
				Expect(issuer.Object).To(HaveKeyWithValue("spec", HaveKey("selfSigned")))
			} else {
				Expect(issuerKind + "/" + issuerName).To(Equal("ClusterIssuer/internal-ca"))
				Expect(ofKind(objs, "Issuer")).To(BeEmpty())
			}
		}
	})

	It("passes gitopsIdentities as --gitops-identities, and nothing without them", func() {
		args, _ := managerContainer(managerDeployment(mustRender(loadChart(), map[string]any{
			"gitopsIdentities": []any{"system:serviceaccount:argocd:argocd-application-controller"}})))
		Expect(args).To(ContainElement("--gitops-identities=system:serviceaccount:argocd:argocd-application-controller"))
		args, _ = managerContainer(managerDeployment(mustRender(loadChart(), defaults)))
		Expect(argValue(args, "gitops-identities")).To(BeEmpty())
	})

	It("refuses to render without files/webhook-manifests.yaml, saying to run make manifests", func() {
		chrt := loadChart()
		kept := chrt.Files[:0]
		for _, f := range chrt.Files {
			if f.Name != "files/webhook-manifests.yaml" {
				kept = append(kept, f)
			}
		}
		chrt.Files = kept
		_, err := renderChart(chrt, defaults)
		Expect(err).To(MatchError(ContainSubstring("make manifests")))
	})
})

var _ = Describe("the admission webhooks in config/default", func() {
	It("installs the generated webhooks behind the webhook Service, with certificates the manager keeps", func() {
		objs := buildKustomize()
		installedWebhooks(objs, "journey-operator-webhook-service", "journey-system")
		expectWebhookServing(objs, "journey-operator-webhook-service")
		expectSelfManagedCerts(objs, rbacv1.Subject{Kind: "ServiceAccount", Name: "journey-operator-controller-manager", Namespace: "journey-system"})
	})
})
