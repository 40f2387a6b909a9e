// Package webhookcert keeps the admission webhooks' certificates when
// cert-manager does not: a CA and a serving certificate in one Secret,
// renewed before they expire, the CA injected as caBundle into the webhook
// configurations, and the serving certificate handed to the webhook server
// from memory. It reads and writes only the objects it is named (a Get by
// name each round, no cache, no watch), so its RBAC names exactly one
// Secret and two webhook configurations. docs/admission.md says why this is
// not open-policy-agent/cert-controller.
package webhookcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Secret keys, as cert-manager writes them.
const (
	CAKey      = "ca.crt"
	CAKeyKey   = "ca.key"
	CertKey    = corev1.TLSCertKey
	PrivateKey = corev1.TLSPrivateKeyKey
)

// Config names what the rotator keeps.
type Config struct {
	// Namespace of the Secret and of the Service in front of the webhooks.
	Namespace string
	// SecretName holds the material. It must exist (the chart and
	// config/default create it empty): creating Secrets cannot be limited
	// to one name by RBAC.
	SecretName string
	// ServiceName is the Service the API server calls; the serving
	// certificate answers to its DNS names.
	ServiceName string
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations get
	// the CA bundle.
	MutatingWebhookConfigurations   []string
	ValidatingWebhookConfigurations []string
	// Policy: zero values take the defaults below.
	Policy Policy
	// CheckEvery is how often the Secret and the configurations are read
	// again (a rotation by another replica, a configuration re-applied
	// without its caBundle). Default one minute.
	CheckEvery time.Duration
}

// Defaults: a three-year CA, 90-day serving certificates (cert-manager's
// default), each renewed with a third of its life left.
const (
	DefaultCAValidity      = 3 * 365 * 24 * time.Hour
	DefaultServingValidity = 90 * 24 * time.Hour
	DefaultSettle          = 10 * time.Minute
	DefaultCheckEvery      = time.Minute
)

// Rotator keeps the certificates. It runs on every replica (every replica
// serves webhooks); replicas that renew at once race on the Secret's
// resourceVersion and the losers adopt the winner's material.
type Rotator struct {
	cfg    Config
	reader client.Reader
	writer client.Writer
	// Now is the clock; tests move it.
	Now  func() time.Time
	cert atomic.Pointer[tls.Certificate]
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Rotator, error) {
	switch {
	case cfg.Namespace == "":
		return nil, errors.New("the namespace of the webhook certificate Secret is unknown: pass --webhook-namespace")
	case cfg.ServiceName == "":
		return nil, errors.New("--webhook-service is required with --webhook-cert-secret: the certificate answers to the Service's DNS names")
	case len(cfg.MutatingWebhookConfigurations) == 0 || len(cfg.ValidatingWebhookConfigurations) == 0:
		return nil, errors.New("--mutating-webhook-configuration and --validating-webhook-configuration are required with --webhook-cert-secret: they receive the CA")
	}
	if cfg.Policy.CAValidity <= 0 {
		cfg.Policy.CAValidity = DefaultCAValidity
	}
	if cfg.Policy.ServingValidity <= 0 {
		cfg.Policy.ServingValidity = DefaultServingValidity
	}
	if cfg.Policy.Settle <= 0 {
		cfg.Policy.Settle = DefaultSettle
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = DefaultCheckEvery
	}
	return &Rotator{cfg: cfg, Now: time.Now}, nil
}

// DNSNames are the names the API server may call the Service by.
func (r *Rotator) DNSNames() []string {
	svc, ns := r.cfg.ServiceName, r.cfg.Namespace
	return []string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local", svc + "." + ns, svc}
}

// SetupWithManager reads through the manager's uncached APIReader, writes
// with its client, and runs with the manager.
func (r *Rotator) SetupWithManager(mgr manager.Manager) error {
	r.Use(mgr.GetAPIReader(), mgr.GetClient())
	return mgr.Add(r)
}

// Use sets the reader and writer (SetupWithManager does it for a manager).
func (r *Rotator) Use(reader client.Reader, writer client.Writer) {
	r.reader, r.writer = reader, writer
}

// NeedLeaderElection is false: every replica serves webhooks and needs the
// certificate.
func (r *Rotator) NeedLeaderElection() bool { return false }

// GetCertificate serves the current certificate (tls.Config.GetCertificate).
// Until the first round succeeds there is none and handshakes fail: the API
// server then refuses the writes (failurePolicy Fail) and the manager is not
// ready.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := r.cert.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no webhook serving certificate yet: Secret %s/%s has not been read or filled", r.cfg.Namespace, r.cfg.SecretName)
}

// Start renews at once and then every CheckEvery until ctx ends; a failed
// round is retried sooner, with backoff.
func (r *Rotator) Start(ctx context.Context) error {
	log := logf.Log.WithName("webhook-certs")
	retry := time.Second
	for {
		wait := r.cfg.CheckEvery
		if err := r.Refresh(ctx); err != nil {
			log.Error(err, "keeping the webhook certificates", "secret", r.cfg.Namespace+"/"+r.cfg.SecretName, "retryIn", retry)
			wait, retry = retry, min(2*retry, r.cfg.CheckEvery)
		} else {
			retry = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Refresh runs one round: read the Secret, renew what needs it, load the
// serving certificate, and inject the CA bundle where it differs.
func (r *Rotator) Refresh(ctx context.Context) error {
	key := client.ObjectKey{Namespace: r.cfg.Namespace, Name: r.cfg.SecretName}
	secret := &corev1.Secret{}
	if err := r.reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("Secret %s does not exist: the chart or config/default creates it empty and the manager fills it", key)
		}
		return fmt.Errorf("reading Secret %s: %w", key, err)
	}
	m := Material{CA: secret.Data[CAKey], CAKey: secret.Data[CAKeyKey], Cert: secret.Data[CertKey], Key: secret.Data[PrivateKey]}
	next, changed, err := Renew(m, r.DNSNames(), r.Now(), r.cfg.Policy)
	if err != nil {
		return err
	}
	if changed {
		if secret.Data == nil {
			secret.Data = map[string][]byte{}
		}
		secret.Data[CAKey], secret.Data[CAKeyKey] = next.CA, next.CAKey
		secret.Data[CertKey], secret.Data[PrivateKey] = next.Cert, next.Key
		// Optimistic concurrency: another replica's renewal wins, and this
		// one adopts it next round.
		if err := r.writer.Update(ctx, secret); err != nil {
			return fmt.Errorf("writing the renewed certificates to Secret %s: %w", key, err)
		}
		logf.FromContext(ctx).Info("renewed the webhook certificates", "secret", key.String())
	}
	pair, err := tls.X509KeyPair(next.Cert, next.Key)
	if err != nil {
		return fmt.Errorf("loading the serving certificate of Secret %s: %w", key, err)
	}
	r.cert.Store(&pair)
	return r.inject(ctx, next.CA)
}

// inject writes the bundle into every webhook of the named configurations
// that does not already carry it.
func (r *Rotator) inject(ctx context.Context, bundle []byte) error {
	var errs []error
	for _, name := range r.cfg.MutatingWebhookConfigurations {
		c := &admissionregistrationv1.MutatingWebhookConfiguration{}
		errs = append(errs, r.injectInto(ctx, "MutatingWebhookConfiguration", name, c, func() bool {
			changed := false
			for i := range c.Webhooks {
				changed = setBundle(&c.Webhooks[i].ClientConfig, bundle) || changed
			}
			return changed
		}))
	}
	for _, name := range r.cfg.ValidatingWebhookConfigurations {
		c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		errs = append(errs, r.injectInto(ctx, "ValidatingWebhookConfiguration", name, c, func() bool {
			changed := false
			for i := range c.Webhooks {
				changed = setBundle(&c.Webhooks[i].ClientConfig, bundle) || changed
			}
			return changed
		}))
	}
	return errors.Join(errs...)
}

func (r *Rotator) injectInto(ctx context.Context, kind, name string, obj client.Object, set func() bool) error {
	if err := r.reader.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		return fmt.Errorf("reading %s %s to inject the webhook CA: %w", kind, name, err)
	}
	if !set() {
		return nil
	}
	if err := r.writer.Update(ctx, obj); err != nil {
		return fmt.Errorf("injecting the webhook CA into %s %s: %w", kind, name, err)
	}
	return nil
}

func setBundle(cc *admissionregistrationv1.WebhookClientConfig, bundle []byte) bool {
	if bytes.Equal(cc.CABundle, bundle) {
		return false
	}
	cc.CABundle = bundle
	return true
}
