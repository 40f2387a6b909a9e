package manager

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// MetricsOptions are the metrics endpoint's flags, kubebuilder v4's: by
// default /metrics is served over HTTPS and only to callers the API server
// authenticates (TokenReview) and authorises for GET /metrics
// (SubjectAccessReview), e.g. Prometheus bound to the metrics-reader
// ClusterRole. The operator's metrics name every source and journey map
// and what they hold for review: not for anyone who reaches the pod.
type MetricsOptions struct {
	// Secure: HTTPS with authentication and authorisation. The flag
	// defaults to true; the zero value (plain HTTP) lets tests of the
	// controllers alone start a manager without the delegated checks.
	Secure bool
	// CertPath is the directory holding CertName and CertKey (e.g.
	// cert-manager's Secret mounted); empty: a self-signed certificate
	// generated at start, which scrapers accept without verifying it.
	CertPath, CertName, CertKey string
}

func (m *MetricsOptions) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&m.Secure, "metrics-secure", true, "serve /metrics over HTTPS, only to callers the API server authenticates and authorises "+
		"for GET /metrics (the metrics-reader ClusterRole); --metrics-secure=false serves plain HTTP to anyone")
	fs.StringVar(&m.CertPath, "metrics-cert-path", "", "directory holding the metrics server's certificate and key (e.g. cert-manager's Secret mounted, "+
		"reloaded when they change); empty: a self-signed certificate generated at start")
	fs.StringVar(&m.CertName, "metrics-cert-name", "tls.crt", "file name of the metrics server's certificate in --metrics-cert-path")
	fs.StringVar(&m.CertKey, "metrics-cert-key", "tls.key", "file name of the metrics server's key in --metrics-cert-path")
}

// validate refuses a certificate directory without the files: the server
// would otherwise fall back to a self-signed certificate without a word.
func (m MetricsOptions) validate() error {
	if m.CertPath == "" {
		return nil
	}
	if !m.Secure {
		return errors.New("--metrics-cert-path needs --metrics-secure: plain HTTP serves no certificate")
	}
	for flagName, name := range map[string]string{"--metrics-cert-name": m.CertName, "--metrics-cert-key": m.CertKey} {
		if _, err := os.Stat(filepath.Join(m.CertPath, name)); err != nil {
			return fmt.Errorf("--metrics-cert-path %s has no %s (%s): %w", m.CertPath, name, flagName, err)
		}
	}
	return nil
}

// server is the metrics server's options for bindAddress.
func (m MetricsOptions) server(bindAddress string) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: bindAddress, SecureServing: m.Secure}
	if !m.Secure {
		return opts
	}
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		// HTTP/1.1 only, as kubebuilder's scaffold: HTTP/2's stream reset
		// and rapid reset attacks (CVE-2023-44487) need no credentials.
		c.NextProtos = []string{"http/1.1"}
	}}
	if m.CertPath != "" {
		opts.CertDir, opts.CertName, opts.KeyName = m.CertPath, m.CertName, m.CertKey
	}
	return opts
}
