package manager

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A metrics certificate directory without the certificate or the key stops
// the manager before it starts, naming the file and the flag: controller-
// runtime would otherwise serve a self-signed certificate instead, without
// a word. A certificate for plain HTTP is refused too.
func TestMetricsCertFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("cert"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--metrics-cert-path=" + dir}, []string{"tls.key", "--metrics-cert-key"}},
		{[]string{"--metrics-cert-path=" + dir, "--metrics-cert-name=serving.crt", "--metrics-cert-key=tls.crt"}, []string{"serving.crt", "--metrics-cert-name"}},
		{[]string{"--metrics-cert-path=" + dir, "--metrics-secure=false"}, []string{"--metrics-secure"}},
	} {
		err := Run(context.Background(), tc.args)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v; want an error naming %s", tc.args, err, w)
			}
		}
	}
}

// By default the endpoint is HTTPS behind the API server's authentication
// and authorisation, with a certificate of its own; without --metrics-secure
// it is plain HTTP.
func TestMetricsServerOptions(t *testing.T) {
	secure := MetricsOptions{Secure: true, CertName: "tls.crt", CertKey: "tls.key"}.server(":8443")
	if !secure.SecureServing || secure.FilterProvider == nil || secure.CertDir != "" || len(secure.TLSOpts) == 0 {
		t.Errorf("secure metrics: %+v; want HTTPS, the authentication and authorisation filter, a self-signed certificate", secure)
	}
	files := MetricsOptions{Secure: true, CertPath: "/certs", CertName: "a.crt", CertKey: "a.key"}.server(":8443")
	if files.CertDir != "/certs" || files.CertName != "a.crt" || files.KeyName != "a.key" {
		t.Errorf("metrics certificate from files: %+v", files)
	}
	plain := MetricsOptions{}.server(":8080")
	if plain.SecureServing || plain.FilterProvider != nil {
		t.Errorf("plain metrics: %+v; want HTTP without the filter", plain)
	}
}
