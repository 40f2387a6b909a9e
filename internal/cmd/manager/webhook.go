package manager

import (
	"crypto/tls"
	"flag"
	"os"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cjm-dev/journey-operator/internal/webhookcert"
)

// WebhookOptions are the webhook server's flags: kubebuilder's names, plus
// the ones that let the manager keep its own certificates.
type WebhookOptions struct {
	Host string
	// Port defaults to 9443.
	Port int
	// CertPath is the directory holding CertName and KeyName (cert-manager's
	// Secret mounted, or envtest's); unused with CertSecret.
	CertPath, CertName, CertKey string
	// CertSecret, when set, makes the manager issue and rotate the
	// certificates itself in this Secret (in Namespace) and inject the CA
	// into the two webhook configurations named.
	CertSecret string
	// Service in front of the webhook server, in Namespace.
	Service string
	// Namespace of the Secret and the Service; empty: the pod's namespace.
	Namespace string
	// MutatingConfiguration and ValidatingConfiguration receive the CA.
	MutatingConfiguration, ValidatingConfiguration string
}

func (w *WebhookOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&w.Host, "webhook-host", "", "address the webhook server listens on; empty: all")
	fs.IntVar(&w.Port, "webhook-port", 9443, "port the webhook server listens on")
	fs.StringVar(&w.CertPath, "webhook-cert-path", "", "directory holding the webhook server's certificate and key (e.g. cert-manager's Secret mounted); "+
		"empty: <temp dir>/k8s-webhook-server/serving-certs; unused with --webhook-cert-secret")
	fs.StringVar(&w.CertName, "webhook-cert-name", "tls.crt", "file name of the webhook server's certificate in --webhook-cert-path")
	fs.StringVar(&w.CertKey, "webhook-cert-key", "tls.key", "file name of the webhook server's key in --webhook-cert-path")
	fs.StringVar(&w.CertSecret, "webhook-cert-secret", "", "Secret in which the manager keeps its own webhook CA and serving certificate, renewing them "+
		"and injecting the CA into the webhook configurations; empty: the certificate comes from --webhook-cert-path")
	fs.StringVar(&w.Service, "webhook-service", "", "Service in front of the webhook server (its DNS names go into the certificate); needed with --webhook-cert-secret")
	fs.StringVar(&w.Namespace, "webhook-namespace", "", "namespace of --webhook-cert-secret and --webhook-service; empty: the pod's namespace")
	fs.StringVar(&w.MutatingConfiguration, "mutating-webhook-configuration", "", "MutatingWebhookConfiguration that gets the CA; needed with --webhook-cert-secret")
	fs.StringVar(&w.ValidatingConfiguration, "validating-webhook-configuration", "", "ValidatingWebhookConfiguration that gets the CA; needed with --webhook-cert-secret")
}

// server is the webhook server: with a rotator it serves the rotator's
// certificate from memory, otherwise the files in CertPath, reloaded when
// they change (cert-manager renews them in place).
func (w WebhookOptions) server(r *webhookcert.Rotator) webhook.Server {
	opts := webhook.Options{Host: w.Host, Port: w.Port, CertDir: w.CertPath, CertName: w.CertName, KeyName: w.CertKey}
	if opts.Port == 0 {
		opts.Port = 9443
	}
	opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 })
	if r != nil {
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.GetCertificate = r.GetCertificate })
	}
	return webhook.NewServer(opts)
}

// rotator is the certificate keeper, nil when the certificates come from
// files.
func (w WebhookOptions) rotator() (*webhookcert.Rotator, error) {
	if w.CertSecret == "" {
		return nil, nil
	}
	ns := w.Namespace
	if ns == "" {
		ns = podNamespace()
	}
	return webhookcert.New(webhookcert.Config{
		Namespace:                       ns,
		SecretName:                      w.CertSecret,
		ServiceName:                     w.Service,
		MutatingWebhookConfigurations:   splitList(w.MutatingConfiguration),
		ValidatingWebhookConfigurations: splitList(w.ValidatingConfiguration),
	})
}

// saNamespaceFile is where a pod finds its namespace.
const saNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// podNamespace is the namespace of the pod's service account, as
// controller-runtime's leader election finds it; "" outside a pod.
func podNamespace() string {
	data, err := os.ReadFile(saNamespaceFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
