package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

var (
	now     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	payload = []byte(`{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount_paid":4200}}}`)
)

func stripeHeader(v string) http.Header {
	h := http.Header{}
	h.Set("Stripe-Signature", v)
	return h
}

// signed returns the Stripe-Signature header stripe-go generates.
func signed(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

func TestStripe(t *testing.T) {
	const secret, other = "whsec_current", "whsec_previous"
	for _, tc := range []struct {
		name    string
		header  http.Header
		body    []byte
		secrets []string
		want    error
	}{
		{"good", stripeHeader(signed(payload, secret, now)), payload, []string{secret}, nil},
		{"good at the edge of the tolerance", stripeHeader(signed(payload, secret, now.Add(-5*time.Minute))), payload, []string{secret}, nil},
		{"stale", stripeHeader(signed(payload, secret, now.Add(-5*time.Minute-time.Second))), payload, []string{secret}, ErrTimestampOutsideTolerance},
		{"future", stripeHeader(signed(payload, secret, now.Add(6*time.Minute))), payload, []string{secret}, ErrTimestampOutsideTolerance},
		{"tampered body", stripeHeader(signed(payload, secret, now)), []byte(`{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount_paid":1}}}`), []string{secret}, ErrNoValidSignature},
		{"wrong secret", stripeHeader(signed(payload, other, now)), payload, []string{secret}, ErrNoValidSignature},
		{"rotated: signed with the old secret", stripeHeader(signed(payload, other, now)), payload, []string{other, secret}, nil},
		{"rotated: signed with the new secret", stripeHeader(signed(payload, secret, now)), payload, []string{other, secret}, nil},
		{"stale and forged says forged", stripeHeader(signed(payload, "whsec_attacker", now.Add(-time.Hour))), payload, []string{secret}, ErrNoValidSignature},
		{"missing header", http.Header{}, payload, []string{secret}, ErrMissingSignature},
		{"no timestamp", stripeHeader("v1=" + hex.EncodeToString(webhook.ComputeSignature(now, payload, secret))), payload, []string{secret}, ErrMalformedHeader},
		{"no v1", stripeHeader(fmt.Sprintf("t=%d,v0=abc", now.Unix())), payload, []string{secret}, ErrMalformedHeader},
		{"v1 not hex", stripeHeader(fmt.Sprintf("t=%d,v1=zz", now.Unix())), payload, []string{secret}, ErrMalformedHeader},
		{"timestamp not a number", stripeHeader("t=yesterday,v1=" + hex.EncodeToString(webhook.ComputeSignature(now, payload, secret))), payload, []string{secret}, ErrMalformedHeader},
		{"two timestamps", stripeHeader(fmt.Sprintf("t=%d,t=%d,v1=%s", now.Unix(), now.Unix(), hex.EncodeToString(webhook.ComputeSignature(now, payload, secret)))), payload, []string{secret}, ErrMalformedHeader},
		{"element without =", stripeHeader(signed(payload, secret, now) + ",junk"), payload, []string{secret}, ErrMalformedHeader},
		{"two headers", http.Header{"Stripe-Signature": {signed(payload, secret, now), signed(payload, secret, now)}}, payload, []string{secret}, ErrMalformedHeader},
		{"no secrets", stripeHeader(signed(payload, secret, now)), payload, []string{""}, ErrNoSecrets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(v1alpha1.SignatureStripe, tc.header, tc.body, tc.secrets, 5*time.Minute, now, "")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStripeSeveralV1Values(t *testing.T) {
	// During a secret roll Stripe signs with both secrets: one header, two
	// v1 values. Either verifies, in either order, with v0 ignored.
	oldSig := hex.EncodeToString(webhook.ComputeSignature(now, payload, "whsec_old"))
	newSig := hex.EncodeToString(webhook.ComputeSignature(now, payload, "whsec_new"))
	junk := hex.EncodeToString(make([]byte, 32))
	for _, secret := range []string{"whsec_old", "whsec_new"} {
		for _, h := range []string{
			fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), oldSig, newSig),
			fmt.Sprintf("t=%d,v1=%s,v1=%s,v0=%s", now.Unix(), newSig, oldSig, junk),
			fmt.Sprintf("t=%d, v1=%s, v1=%s", now.Unix(), junk, map[string]string{"whsec_old": oldSig, "whsec_new": newSig}[secret]),
		} {
			if err := Verify(v1alpha1.SignatureStripe, stripeHeader(h), payload, []string{secret}, 0, now, ""); err != nil {
				t.Errorf("secret %s, header %s: %v", secret, h, err)
			}
		}
	}
	h := fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), oldSig, junk)
	if err := Verify(v1alpha1.SignatureStripe, stripeHeader(h), payload, []string{"whsec_new"}, 0, now, ""); !errors.Is(err, ErrNoValidSignature) {
		t.Errorf("no matching v1: %v, want ErrNoValidSignature", err)
	}
}

func TestStripeAgreesWithStripeGo(t *testing.T) {
	// What stripe-go accepts, Verify accepts, and vice versa, for the
	// default tolerance.
	const secret = "whsec_x"
	for _, age := range []time.Duration{0, time.Minute, 4 * time.Minute, 6 * time.Minute, time.Hour} {
		at := time.Now().Add(-age)
		h := signed(payload, secret, at)
		theirs := webhook.ValidatePayload(payload, h, secret)
		ours := Verify(v1alpha1.SignatureStripe, stripeHeader(h), payload, []string{secret}, 0, time.Now(), "")
		if (theirs == nil) != (ours == nil) {
			t.Errorf("age %s: stripe-go %v, Verify %v", age, theirs, ours)
		}
	}
}

func hmacHex(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestHMACSHA256(t *testing.T) {
	const secret = "s3cret"
	hdr := func(name, v string) http.Header {
		h := http.Header{}
		h.Set(name, v)
		return h
	}
	sig := hmacHex(payload, secret)
	for _, tc := range []struct {
		name       string
		header     http.Header
		headerName string
		secrets    []string
		want       error
	}{
		{"good, default header", hdr("X-Signature", sig), "", []string{secret}, nil},
		{"good, sha256= prefix", hdr("X-Signature", "sha256="+sig), "", []string{secret}, nil},
		{"good, upper-case hex and prefix", hdr("X-Signature", "SHA256="+fmt.Sprintf("%X", mustHex(sig))), "", []string{secret}, nil},
		{"good, named header", hdr("X-Hub-Signature-256", "sha256="+sig), "X-Hub-Signature-256", []string{secret}, nil},
		{"rotated secrets", hdr("X-Signature", sig), "", []string{"old", secret}, nil},
		{"wrong secret", hdr("X-Signature", sig), "", []string{"other"}, ErrNoValidSignature},
		{"tampered", hdr("X-Signature", hmacHex([]byte("{}"), secret)), "", []string{secret}, ErrNoValidSignature},
		{"missing", http.Header{}, "", []string{secret}, ErrMissingSignature},
		{"wrong header", hdr("X-Signature", sig), "X-Other", []string{secret}, ErrMissingSignature},
		{"not hex", hdr("X-Signature", "sha256=nothex"), "", []string{secret}, ErrMalformedHeader},
		{"too short", hdr("X-Signature", sig[:62]), "", []string{secret}, ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(v1alpha1.SignatureHMACSHA256, tc.header, payload, tc.secrets, 0, now, tc.headerName)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestUnknownScheme(t *testing.T) {
	err := Verify("Basic", http.Header{}, payload, []string{"x"}, 0, now, "")
	if err == nil {
		t.Fatal("Verify with an unknown scheme succeeded")
	}
	for _, e := range []error{ErrMalformedHeader, ErrNoValidSignature, ErrTimestampOutsideTolerance, ErrMissingSignature} {
		if errors.Is(err, e) {
			t.Errorf("unknown scheme reported as %v: a configuration error is not the sender's fault", e)
		}
	}
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	const secret = "whsec_do_not_print"
	for _, h := range []string{"", "garbage", signed(payload, "other", now), signed(payload, secret, now.Add(-time.Hour))} {
		err := Verify(v1alpha1.SignatureStripe, stripeHeader(h), payload, []string{secret}, 0, now, "")
		if err == nil {
			t.Fatalf("header %q verified", h)
		}
		if containsAny(err.Error(), secret, string(payload)) {
			t.Errorf("error %q quotes the secret or the body", err)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
