// Package signature verifies that a webhook request was signed by its
// sender: Stripe's Stripe-Signature scheme, or a hex HMAC-SHA256 of the body
// in a header. Any of several secrets may verify a request, so a secret can
// be rotated without downtime.
//
// The errors tell the receiver what to answer: ErrMissingSignature and
// ErrMalformedHeader are bad requests (400); ErrNoValidSignature and
// ErrTimestampOutsideTolerance are unauthorized (401); ErrNoSecrets is the
// receiver's own misconfiguration. Check them with errors.Is: Verify wraps
// them with details, which never include a secret or the body.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// StripeHeader carries Stripe's signature: t=<unix seconds>,v1=<hex>[,v1=...].
const StripeHeader = "Stripe-Signature"

// DefaultHeader carries the HMACSHA256 scheme's signature when the spec
// names no header.
const DefaultHeader = "X-Signature"

// DefaultTolerance is how old (or how far ahead) a Stripe timestamp may be
// when the spec sets none.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrMissingSignature: the request carries no signature header.
	ErrMissingSignature = errors.New("the request is not signed")
	// ErrMalformedHeader: the signature header cannot be parsed.
	ErrMalformedHeader = errors.New("malformed signature header")
	// ErrNoValidSignature: no signature matches the body under any secret.
	ErrNoValidSignature = errors.New("no valid signature")
	// ErrTimestampOutsideTolerance: the signature is valid but its timestamp
	// is too old (a replay) or too far in the future.
	ErrTimestampOutsideTolerance = errors.New("signature timestamp outside the tolerance")
	// ErrNoSecrets: the receiver has no secret to verify with; a
	// configuration error, not the sender's.
	ErrNoSecrets = errors.New("no signing secret configured")
)

// Verify checks that body was signed under scheme with one of secrets.
// header is the request's header; tolerance (Stripe only, DefaultTolerance
// when <= 0) bounds the signed timestamp's distance from now in both
// directions; headerName names the HMACSHA256 header (DefaultHeader when
// empty). The signature is checked before the timestamp, so a forged request
// learns nothing from the answer.
func Verify(scheme v1alpha1.SignatureScheme, header http.Header, body []byte, secrets []string, tolerance time.Duration, now time.Time, headerName string) error {
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if s != "" {
			keys = append(keys, []byte(s))
		}
	}
	if len(keys) == 0 {
		return ErrNoSecrets
	}
	switch scheme {
	case v1alpha1.SignatureStripe:
		if tolerance <= 0 {
			tolerance = DefaultTolerance
		}
		return verifyStripe(header, body, keys, tolerance, now)
	case v1alpha1.SignatureHMACSHA256:
		if headerName == "" {
			headerName = DefaultHeader
		}
		return verifyHMAC(header, headerName, body, keys)
	}
	return fmt.Errorf("unknown signature scheme %q; want Stripe or HMACSHA256", scheme)
}

func verifyStripe(header http.Header, body []byte, keys [][]byte, tolerance time.Duration, now time.Time) error {
	value, err := single(header, StripeHeader)
	if err != nil {
		return err
	}
	ts, sigs, err := parseStripe(value)
	if err != nil {
		return err
	}
	tsText := strconv.FormatInt(ts, 10)
	ok := false
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(tsText))
		m.Write([]byte{'.'})
		m.Write(body)
		want := m.Sum(nil)
		for _, s := range sigs {
			// Keep comparing after a match: the time taken must not depend
			// on which secret or signature matched.
			if hmac.Equal(want, s) {
				ok = true
			}
		}
	}
	if !ok {
		return fmt.Errorf("%w: no v1 signature of %s matches the body under any configured secret", ErrNoValidSignature, StripeHeader)
	}
	signed := time.Unix(ts, 0)
	if age := now.Sub(signed); age > tolerance {
		return fmt.Errorf("%w: signed %s ago, more than %s", ErrTimestampOutsideTolerance, age.Round(time.Second), tolerance)
	} else if -age > tolerance {
		return fmt.Errorf("%w: signed %s in the future, more than %s", ErrTimestampOutsideTolerance, (-age).Round(time.Second), tolerance)
	}
	return nil
}

// parseStripe reads t=<unix>,v1=<hex>[,v1=<hex>...]. Other keys (v0, a
// future scheme) are ignored; t must appear once; v1 values that are not
// 32 bytes of hex are ignored, as Stripe's own libraries do, but at least
// one must remain.
func parseStripe(v string) (int64, [][]byte, error) {
	var (
		ts    int64
		hasTS bool
		sigs  [][]byte
		v1s   int
	)
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: %s has an element without '='", ErrMalformedHeader, StripeHeader)
		}
		switch k {
		case "t":
			if hasTS {
				return 0, nil, fmt.Errorf("%w: %s has more than one timestamp", ErrMalformedHeader, StripeHeader)
			}
			t, err := strconv.ParseInt(val, 10, 64)
			if err != nil || t <= 0 {
				return 0, nil, fmt.Errorf("%w: %s has a timestamp that is not Unix seconds", ErrMalformedHeader, StripeHeader)
			}
			ts, hasTS = t, true
		case "v1":
			v1s++
			if s, err := hex.DecodeString(val); err == nil && len(s) == sha256.Size {
				sigs = append(sigs, s)
			}
		}
	}
	if !hasTS {
		return 0, nil, fmt.Errorf("%w: %s has no timestamp (t=)", ErrMalformedHeader, StripeHeader)
	}
	if v1s == 0 {
		return 0, nil, fmt.Errorf("%w: %s has no v1 signature", ErrMalformedHeader, StripeHeader)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1 signature of %s is 64 hex digits", ErrMalformedHeader, StripeHeader)
	}
	return ts, sigs, nil
}

func verifyHMAC(header http.Header, name string, body []byte, keys [][]byte) error {
	value, err := single(header, name)
	if err != nil {
		return err
	}
	value = strings.TrimSpace(value)
	if len(value) > len("sha256=") && strings.EqualFold(value[:len("sha256=")], "sha256=") {
		value = value[len("sha256="):]
	}
	sig, err := hex.DecodeString(value)
	if err != nil || len(sig) != sha256.Size {
		return fmt.Errorf("%w: %s is not a hex HMAC-SHA256 (64 hex digits, optionally after sha256=)", ErrMalformedHeader, name)
	}
	ok := false
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		if hmac.Equal(m.Sum(nil), sig) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: %s does not match the body under any configured secret", ErrNoValidSignature, name)
	}
	return nil
}

// single returns the one value of a header; none is ErrMissingSignature,
// several are malformed (which one is meant would be a guess).
func single(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0 || (len(vs) == 1 && strings.TrimSpace(vs[0]) == ""):
		return "", fmt.Errorf("%w: no %s header", ErrMissingSignature, name)
	case len(vs) > 1:
		return "", fmt.Errorf("%w: %d %s headers, want one", ErrMalformedHeader, len(vs), name)
	}
	return vs[0], nil
}
