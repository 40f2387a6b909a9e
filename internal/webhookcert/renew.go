package webhookcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Material is what the Secret holds, under the keys cert-manager uses too.
type Material struct {
	// CA is the PEM bundle the API server trusts (the webhook
	// configurations' caBundle): the current CA first, then older CAs that
	// have not expired, so certificates they signed keep working while the
	// serving certificate moves to the new CA.
	CA []byte
	// CAKey is the current CA's private key.
	CAKey []byte
	// Cert and Key are the serving certificate and its key.
	Cert, Key []byte
}

// Policy says how long certificates live. Each is renewed when less than a
// third of its life is left, as cert-manager does by default.
type Policy struct {
	CAValidity      time.Duration
	ServingValidity time.Duration
	// Settle is how long a new CA sits in the bundle before serving
	// certificates are issued from it: time for every replica to inject the
	// new bundle into the webhook configurations first.
	Settle time.Duration
}

// backdate covers clocks a little behind ours.
const backdate = time.Hour

// Renew returns the material to store at now for a server answering to
// dnsNames, and whether it differs from m. It keeps whatever still serves:
//   - the CA is replaced when missing, unusable or in the last third of its
//     life; the old one stays in the bundle until it expires;
//   - the serving certificate is reissued from the current CA when it is
//     missing, does not verify for dnsNames against the bundle, or is in
//     the last third of its life, or, once the current CA has settled, when
//     an older CA signed it.
func Renew(m Material, dnsNames []string, now time.Time, p Policy) (Material, bool, error) {
	if len(dnsNames) == 0 {
		return m, false, errors.New("no DNS names to issue a serving certificate for")
	}
	changed := false
	bundle := parseCerts(m.CA)
	ca, caKey := usableCA(bundle, m.CAKey, now, p.CAValidity)
	if ca == nil {
		var err error
		ca, caKey, err = newCA(now, p.CAValidity)
		if err != nil {
			return m, false, err
		}
		bundle = append([]*x509.Certificate{ca}, bundle...)
		m.CAKey, err = encodeKey(caKey)
		if err != nil {
			return m, false, err
		}
		changed = true
	}
	// The bundle: the current CA, then older CAs still valid.
	kept := []*x509.Certificate{ca}
	for _, c := range bundle {
		if c != ca && c.IsCA && now.Before(c.NotAfter) && !c.Equal(ca) {
			kept = append(kept, c)
		}
	}
	if caPEM := encodeCerts(kept); !bytes.Equal(caPEM, m.CA) {
		m.CA, changed = caPEM, true
	}

	serving, fromCurrent := checkServing(m.Cert, m.Key, kept, ca, dnsNames, now, p.ServingValidity)
	settled := !now.Before(ca.NotBefore.Add(backdate + p.Settle))
	if !serving || (!fromCurrent && settled) {
		cert, key, err := newServing(ca, caKey, dnsNames, now, p.ServingValidity)
		if err != nil {
			return m, false, err
		}
		m.Cert, m.Key, changed = cert, key, true
	}
	return m, changed, nil
}

// usableCA returns the bundle's first certificate and the key when they
// form a CA with more than a third of its life left.
func usableCA(bundle []*x509.Certificate, keyPEM []byte, now time.Time, validity time.Duration) (*x509.Certificate, crypto.Signer) {
	if len(bundle) == 0 {
		return nil, nil
	}
	ca := bundle[0]
	key, err := decodeKey(keyPEM)
	if err != nil || !ca.IsCA || !samePublicKey(ca.PublicKey, key.Public()) {
		return nil, nil
	}
	if now.Before(ca.NotBefore) || ca.NotAfter.Sub(now) < validity/3 {
		return nil, nil
	}
	return ca, key
}

// checkServing reports whether the serving certificate verifies for every
// name against the bundle with more than a third of its life left, and
// whether the current CA signed it.
func checkServing(certPEM, keyPEM []byte, bundle []*x509.Certificate, current *x509.Certificate,
	dnsNames []string, now time.Time, validity time.Duration) (ok, fromCurrent bool) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || leaf.NotAfter.Sub(now) < validity/3 {
		return false, false
	}
	verify := func(roots ...*x509.Certificate) bool {
		pool := x509.NewCertPool()
		for _, r := range roots {
			pool.AddCert(r)
		}
		for _, name := range dnsNames {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				return false
			}
		}
		return true
	}
	return verify(bundle...), verify(current)
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "journey-operator webhook CA", Organization: []string{"journey-operator"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the webhook CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func newServing(ca *x509.Certificate, caKey crypto.Signer, dnsNames []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the webhook serving certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// parseCerts returns the certificates of a PEM bundle, skipping what does
// not parse.
func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func decodeKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("the key cannot sign")
	}
	return signer, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}
