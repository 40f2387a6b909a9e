package webhookcert_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cjm-dev/journey-operator/internal/webhookcert"
)

// secret reads the certificate Secret as admin.
func secret() *corev1.Secret {
	s := &corev1.Secret{}
	Expect(admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: certSecret}, s)).To(Succeed())
	return s
}

// bundles returns the caBundle of every webhook of the two configurations.
func bundles() [][]byte {
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	Expect(admin.Get(ctx, client.ObjectKey{Name: mutatingConfig}, m)).To(Succeed())
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(admin.Get(ctx, client.ObjectKey{Name: validatingConfig}, v)).To(Succeed())
	var out [][]byte
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

// expectInjected waits until every webhook carries the Secret's CA bundle.
func expectInjected() {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		ca := secret().Data[webhookcert.CAKey]
		g.Expect(ca).NotTo(BeEmpty())
		for _, b := range bundles() {
			g.Expect(b).To(Equal(ca))
		}
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
}

// handshake connects to the webhook server as the API server would call
// the Service, trusting only the injected bundle, and returns the served
// certificate.
func handshake(bundle []byte) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(bundle)).To(BeTrue())
	conn, err := tls.Dial("tcp", webhookAddr, &tls.Config{
		RootCAs: pool, ServerName: webhookService + "." + namespace + ".svc", MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func leaf(certPEM []byte) *x509.Certificate {
	block, _ := pem.Decode(certPEM)
	Expect(block).NotTo(BeNil())
	c, err := x509.ParseCertificate(block.Bytes)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// replica is a second rotator with the manager's identity and
// configuration, as another replica of the Deployment runs, renewing by
// policy p (zero: the defaults). It keeps the real clock, so that the
// manager's own rotator agrees with what it writes.
func replica(p webhookcert.Policy) *webhookcert.Rotator {
	r, err := webhookcert.New(webhookcert.Config{
		Namespace: namespace, SecretName: certSecret, ServiceName: webhookService,
		MutatingWebhookConfigurations:   []string{mutatingConfig},
		ValidatingWebhookConfigurations: []string{validatingConfig},
		Policy:                          p,
	})
	Expect(err).NotTo(HaveOccurred())
	r.Use(operator, operator)
	return r
}

var _ = Describe("self-managed webhook certificates (config/default)", Ordered, func() {
	It("fills the empty Secret, injects the CA into both configurations and serves a certificate they trust", func() {
		expectInjected()
		s := secret()
		for _, k := range []string{webhookcert.CAKey, webhookcert.CAKeyKey, webhookcert.CertKey, webhookcert.PrivateKey} {
			Expect(s.Data).To(HaveKeyWithValue(k, Not(BeEmpty())), "Secret key %s", k)
		}
		Eventually(func() error {
			_, err := handshake(s.Data[webhookcert.CAKey])
			return err
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		served, err := handshake(s.Data[webhookcert.CAKey])
		Expect(err).NotTo(HaveOccurred())
		Expect(served.Raw).To(Equal(leaf(s.Data[webhookcert.CertKey]).Raw), "the manager serves the Secret's certificate")
		Expect(served.DNSNames).To(ContainElements(webhookService+"."+namespace+".svc", webhookService+"."+namespace+".svc.cluster.local"))
	})

	It("is ready once the webhook server answers", func() {
		Eventually(func() (int, error) {
			resp, err := http.Get("http://" + probeAddr + "/readyz")
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			return resp.StatusCode, nil
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(http.StatusOK))
	})

	It("needs no Secret but its own, and no other webhook configuration", func() {
		err := operator.List(ctx, &corev1.SecretList{}, client.InNamespace(namespace))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets in %s: %v", namespace, err)
		other := &corev1.Secret{}
		other.Namespace, other.Name = namespace, "other"
		Expect(admin.Create(ctx, other)).To(Succeed())
		err = operator.Update(ctx, other)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "updating another Secret: %v", err)
		err = operator.List(ctx, &admissionregistrationv1.MutatingWebhookConfigurationList{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing webhook configurations: %v", err)
	})

	It("lets another replica adopt the certificates without writing", func() {
		before := secret().ResourceVersion
		Expect(replica(webhookcert.Policy{}).Refresh(ctx)).To(Succeed())
		Expect(secret().ResourceVersion).To(Equal(before), "nothing to renew, nothing written")
	})

	It("puts the CA back into a configuration re-applied without it", func() {
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			Expect(admin.Get(ctx, client.ObjectKey{Name: validatingConfig}, v)).To(Succeed())
			v.Webhooks[0].ClientConfig.CABundle = nil
			return admin.Update(ctx, v)
		})).To(Succeed())
		Expect(replica(webhookcert.Policy{}).Refresh(ctx)).To(Succeed())
		expectInjected()
	})

	It("renews the serving certificate before it expires, and the CA before it does, keeping the old CA trusted", func() {
		old := secret()
		oldCA := old.Data[webhookcert.CAKey]

		By("a serving certificate in the last third of its life (for a replica wanting 300-day ones): a new one from the same CA")
		Expect(replica(webhookcert.Policy{ServingValidity: 300 * 24 * time.Hour}).Refresh(ctx)).To(Succeed())
		renewed := secret()
		Expect(renewed.Data[webhookcert.CertKey]).NotTo(Equal(old.Data[webhookcert.CertKey]))
		Expect(renewed.Data[webhookcert.CAKey]).To(Equal(oldCA))
		Expect(leaf(renewed.Data[webhookcert.CertKey]).NotAfter).To(BeTemporally(">", time.Now().Add(299*24*time.Hour)))

		By("a CA in the last third of its life (for a replica wanting ten-year ones): a new CA first, the old one beside it")
		Expect(replica(webhookcert.Policy{CAValidity: 10 * 365 * 24 * time.Hour}).Refresh(ctx)).To(Succeed())
		rotated := secret()
		Expect(bytes.HasSuffix(rotated.Data[webhookcert.CAKey], oldCA)).To(BeTrue(), "the old CA stays in the bundle")
		Expect(len(rotated.Data[webhookcert.CAKey])).To(BeNumerically(">", len(oldCA)))
		Expect(rotated.Data[webhookcert.CertKey]).To(Equal(renewed.Data[webhookcert.CertKey]),
			"the serving certificate moves to the new CA only once it has settled in the configurations")
		expectInjected()
	})
})
