package admission_test

import (
	"fmt"
	"net"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// downLabel marks the namespaces where the webhooks are unreachable.
const downLabel = "journey.cjm.dev/test-webhooks-down"

// generatedConfigurations reads config/webhook/manifests.yaml.
func generatedConfigurations() ([]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration) {
	var muts []*admissionregistrationv1.MutatingWebhookConfiguration
	var vals []*admissionregistrationv1.ValidatingWebhookConfiguration
	for _, u := range readObjects(webhookManifests) {
		switch u.GetKind() {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, m)).To(Succeed())
			muts = append(muts, m)
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, v)).To(Succeed())
			vals = append(vals, v)
		}
	}
	Expect(muts).To(HaveLen(1))
	Expect(vals).To(HaveLen(1))
	return muts, vals
}

// deadPort is a local port nothing listens on.
func deadPort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	port := l.Addr().(*net.TCPAddr).Port
	Expect(l.Close()).To(Succeed())
	return port
}

var _ = Describe("the webhook configurations", func() {
	It("fail closed, have no side effects, time out, and stamp only the main resources", func() {
		muts, vals := generatedConfigurations()
		check := func(name string, fp *admissionregistrationv1.FailurePolicyType, se *admissionregistrationv1.SideEffectClass,
			timeout *int32, rules []admissionregistrationv1.RuleWithOperations) {
			Expect(fp).To(HaveValue(Equal(admissionregistrationv1.Fail)), name)
			Expect(se).To(HaveValue(Equal(admissionregistrationv1.SideEffectClassNone)), name)
			Expect(timeout).To(HaveValue(BeNumerically("<=", 10)), name)
			for _, r := range rules {
				for _, res := range r.Resources {
					Expect(res).NotTo(ContainSubstring("/"), "%s matches main resources only, never a subresource such as status", name)
				}
			}
		}
		for _, w := range muts[0].Webhooks {
			check(w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.Rules)
		}
		for _, w := range vals[0].Webhooks {
			check(w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.Rules)
		}
	})

	It("refuse every write they cover while no webhook server answers", func() {
		// The generated configurations again, pointed at a port nothing
		// listens on, for one namespace only.
		url := func(path string) *string {
			u := fmt.Sprintf("https://127.0.0.1:%d%s", deadPort(), path)
			return &u
		}
		selector := &metav1.LabelSelector{MatchLabels: map[string]string{downLabel: "true"}}
		ca := testEnv.WebhookInstallOptions.LocalServingCAData
		muts, vals := generatedConfigurations()
		var created []client.Object
		for _, m := range muts {
			m.Name = "down-" + m.Name
			for i := range m.Webhooks {
				w := &m.Webhooks[i]
				w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: url(*w.ClientConfig.Service.Path), CABundle: ca}
				w.NamespaceSelector = selector
			}
			created = append(created, m)
		}
		for _, v := range vals {
			v.Name = "down-" + v.Name
			for i := range v.Webhooks {
				w := &v.Webhooks[i]
				w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: url(*w.ClientConfig.Service.Path), CABundle: ca}
				w.NamespaceSelector = selector
			}
			created = append(created, v)
		}
		for _, o := range created {
			Expect(admin.Create(ctx, o)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(admin.Delete(ctx, o))).To(Succeed()) })
		}

		ns := newNamespace(downLabel, "true")
		err := as[alice].Create(ctx, manifest(financialSourceYAML("billing-stripe", reviewerGroup), ns))
		Expect(err).To(HaveOccurred(), "a source cannot be created without its editor stamped")
		Expect(err.Error()).To(ContainSubstring(`failed calling webhook "editors.journey.cjm.dev"`))

		// The reviewer's request is refused at the first webhook it meets.
		err = as[dave].Create(ctx, manifest(reviewYAML("unchecked", "billing-stripe"), ns))
		Expect(err).To(HaveOccurred(), "a review cannot be created unchecked")
		Expect(err.Error()).To(Or(ContainSubstring(`failed calling webhook "requestedby.journey.cjm.dev"`),
			ContainSubstring(`failed calling webhook "four-eyes.journey.cjm.dev"`)))

		// Only the validating webhook down: a review the real one admits is
		// still refused.
		for _, o := range created {
			if strings.HasPrefix(o.GetName(), "down-mutating") {
				Expect(admin.Delete(ctx, o)).To(Succeed())
			}
		}
		Eventually(func() error {
			return as[alice].Create(ctx, manifest(financialSourceYAML("billing-stripe", reviewerGroup), ns))
		}).Should(Succeed(), "with the mutating webhooks back, the source is created")
		Eventually(func() string {
			err := as[dave].Create(ctx, manifest(reviewYAML("unchecked", "billing-stripe"), ns))
			if err == nil {
				return "admitted"
			}
			return err.Error()
		}).Should(ContainSubstring(`failed calling webhook "four-eyes.journey.cjm.dev"`))
	})
})
