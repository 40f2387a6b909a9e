package webhookcert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

var (
	names  = []string{"journey-operator-webhook.journey-system.svc", "journey-operator-webhook.journey-system.svc.cluster.local"}
	policy = Policy{CAValidity: 300 * 24 * time.Hour, ServingValidity: 30 * 24 * time.Hour, Settle: 10 * time.Minute}
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// leafOf parses the serving certificate.
func leafOf(t *testing.T, m Material) *x509.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(m.Cert, m.Key)
	if err != nil {
		t.Fatalf("serving certificate and key do not match: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// verifies checks the serving certificate against the bundle for every name,
// as the API server does with the caBundle.
func verifies(t *testing.T, m Material, at time.Time) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(m.CA) {
		t.Fatal("the CA bundle holds no certificate")
	}
	for _, n := range names {
		if _, err := leafOf(t, m).Verify(x509.VerifyOptions{DNSName: n, Roots: pool, CurrentTime: at}); err != nil {
			t.Errorf("serving certificate for %s at %s: %v", n, at, err)
		}
	}
}

func renew(t *testing.T, m Material, at time.Time) (Material, bool) {
	t.Helper()
	next, changed, err := Renew(m, names, at, policy)
	if err != nil {
		t.Fatal(err)
	}
	return next, changed
}

func TestRenewLifecycle(t *testing.T) {
	// Nothing yet: a CA and a serving certificate signed by it.
	m, changed := renew(t, Material{}, t0)
	if !changed {
		t.Fatal("an empty Secret must be filled")
	}
	verifies(t, m, t0)
	if n := len(parseCerts(m.CA)); n != 1 {
		t.Fatalf("bundle holds %d CAs, want 1", n)
	}

	// Steady: nothing changes, so nothing is written.
	if _, changed := renew(t, m, t0.Add(time.Hour)); changed {
		t.Fatal("a valid Secret was renewed")
	}

	// The serving certificate in its last third: reissued by the same CA.
	at := t0.Add(21 * 24 * time.Hour)
	next, changed := renew(t, m, at)
	if !changed || bytes.Equal(next.Cert, m.Cert) || !bytes.Equal(next.CA, m.CA) || !bytes.Equal(next.CAKey, m.CAKey) {
		t.Fatal("a serving certificate with less than a third of its life left must be reissued, keeping the CA")
	}
	verifies(t, next, at)
	m = next

	// The CA in its last third: a new CA joins the bundle first; the serving
	// certificate stays until the new CA has settled.
	at = t0.Add(201 * 24 * time.Hour)
	m, _ = renew(t, m, at.Add(-15*24*time.Hour)) // keep the serving certificate fresh
	oldCA := parseCerts(m.CA)[0]
	next, changed = renew(t, m, at)
	if !changed {
		t.Fatal("a CA with less than a third of its life left must be replaced")
	}
	bundle := parseCerts(next.CA)
	if len(bundle) != 2 || !bundle[1].Equal(oldCA) || bundle[0].Equal(oldCA) {
		t.Fatalf("bundle after CA rotation: %d certificates; want the new CA then the old one", len(bundle))
	}
	if !bytes.Equal(next.Cert, m.Cert) {
		t.Fatal("the serving certificate was reissued before the new CA settled in the webhook configurations")
	}
	verifies(t, next, at)

	// Settled: the serving certificate moves to the new CA; the old CA
	// stays in the bundle.
	settledAt := bundle[0].NotBefore.Add(backdate + policy.Settle)
	settled, changed := renew(t, next, settledAt)
	if !changed || bytes.Equal(settled.Cert, next.Cert) {
		t.Fatal("after settling, the serving certificate must come from the new CA")
	}
	if err := leafOf(t, settled).CheckSignatureFrom(bundle[0]); err != nil {
		t.Fatalf("the new serving certificate is not signed by the new CA: %v", err)
	}
	if len(parseCerts(settled.CA)) != 2 {
		t.Fatal("the old CA left the bundle before it expired")
	}
	verifies(t, settled, settledAt)

	// The old CA expires: it leaves the bundle.
	expired := oldCA.NotAfter.Add(time.Minute)
	m, _ = renew(t, settled, expired.Add(-10*24*time.Hour))
	final, changed := renew(t, m, expired)
	if !changed || len(parseCerts(final.CA)) != 1 || !parseCerts(final.CA)[0].Equal(bundle[0]) {
		t.Fatal("an expired CA must leave the bundle, the current one stay")
	}
	verifies(t, final, expired)
}

func TestRenewRepairs(t *testing.T) {
	good, _ := renew(t, Material{}, t0)
	other, _ := renew(t, Material{}, t0)
	for _, tc := range []struct {
		name    string
		m       Material
		newCA   bool
		newCert bool
	}{
		{"a serving key that does not match its certificate", Material{CA: good.CA, CAKey: good.CAKey, Cert: good.Cert, Key: other.Key}, false, true},
		{"a serving certificate from another CA", Material{CA: good.CA, CAKey: good.CAKey, Cert: other.Cert, Key: other.Key}, false, true},
		{"a CA key that does not match the CA", Material{CA: good.CA, CAKey: other.CAKey, Cert: good.Cert, Key: good.Key}, true, false},
		{"garbage everywhere", Material{CA: []byte("x"), CAKey: []byte("y"), Cert: []byte("z"), Key: []byte("w")}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, changed := renew(t, tc.m, t0.Add(time.Minute))
			if !changed {
				t.Fatal("not repaired")
			}
			if got := !bytes.Equal(next.CAKey, tc.m.CAKey); got != tc.newCA {
				t.Errorf("new CA = %v, want %v", got, tc.newCA)
			}
			if got := !bytes.Equal(next.Cert, tc.m.Cert); got != tc.newCert {
				t.Errorf("new serving certificate = %v, want %v", got, tc.newCert)
			}
			verifies(t, next, t0.Add(time.Minute))
		})
	}
}

func TestRenewNeedsNames(t *testing.T) {
	if _, _, err := Renew(Material{}, nil, t0, policy); err == nil {
		t.Fatal("no DNS names: want an error")
	}
}
