// Package webclient holds what the data plane's HTTP clients share (the
// http and file connectors, Alertmanager, webhooks, surveys): full-jitter
// exponential backoff, Retry-After, sleeping under a context, and URLs and
// response bodies made safe to put in an error.
package webclient

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Backoff is the full-jitter wait before attempt n+1 (n ≥ 1): uniform in
// [0, base·2^(n-1)], the ceiling capped at max.
func Backoff(base, max time.Duration, n int) time.Duration {
	ceiling := base
	for i := 1; i < n && ceiling < max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, max)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Sleep waits d, or returns the context's cause if it ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// RetryAfter parses a Retry-After value (delay-seconds or an HTTP date)
// relative to now, capped at max; 0 when absent, past or unparsable.
func RetryAfter(v string, now time.Time, max time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(min(s, int64(max/time.Second)))*time.Second, max)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, max)
		}
	}
	return 0
}

// Redact renders a URL for errors and logs: without a password, and without
// the query and fragment (which may carry an API key).
func Redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	return c.Redacted()
}

// RedactString is Redact for a URL not parsed yet.
func RedactString(s string) string {
	if u, err := url.Parse(s); err == nil {
		return Redact(u)
	}
	return "(unparsable url)"
}

// Printable folds b into one line of valid, printable UTF-8, for quoting a
// response body in an error.
func Printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
