package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/cjm-dev/journey-operator/internal/webclient"
)

const (
	defaultMaxAttempts = 5
	defaultBackoff     = 500 * time.Millisecond
	// maxWait caps each wait between attempts, Retry-After included: a
	// server asking for an hour gets a minute, then another attempt.
	maxWait = 60 * time.Second
	// maxErrorBody is how much of an error response's body an error quotes.
	maxErrorBody = 512
)

// retryPolicy retries an operation on transient failures with exponential
// backoff and full jitter (a uniform wait in [0, backoff·2^(n-1)]), or
// exactly the server's Retry-After when it sent one.
type retryPolicy struct {
	maxAttempts int
	backoff     time.Duration
	// sleep waits d or until ctx is done; tests replace it to observe waits.
	sleep func(ctx context.Context, d time.Duration) error
}

func newRetryPolicy(opts Options) retryPolicy {
	p := retryPolicy{maxAttempts: opts.MaxAttempts, backoff: opts.Backoff, sleep: sleepCtx}
	if p.maxAttempts <= 0 {
		p.maxAttempts = defaultMaxAttempts
	}
	if p.backoff <= 0 {
		p.backoff = defaultBackoff
	}
	return p
}

// retryableError marks a failure worth another attempt. after is the wait
// the server asked for (Retry-After), 0 for the policy's backoff.
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// run calls attempt until it succeeds, fails with an error not marked
// retryable, or has been tried maxAttempts times.
func (p retryPolicy) run(ctx context.Context, attempt func(ctx context.Context) error) error {
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		var re *retryableError
		if !errors.As(err, &re) {
			return err
		}
		if n >= p.maxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", n, re.err)
		}
		wait := re.after
		if wait <= 0 {
			wait = p.jitter(n)
		}
		wait = min(wait, maxWait)
		if err := p.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w while waiting to retry after: %w", err, re.err)
		}
	}
}

// statusError is an HTTP response with a status that is not 2xx. It quotes
// at most maxErrorBody bytes of the body, folded to one printable line; it
// never includes request headers.
type statusError struct {
	method, url string
	status      string
	code        int
	body        string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.method, e.url, e.status)
	if e.body != "" {
		msg += ": " + e.body
	}
	switch e.code {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (check the token in the Secret that authSecretRef selects)"
	case http.StatusNotFound:
		msg += " (check the url)"
	}
	return msg
}

// checkResponse returns nil for a 2xx response. Otherwise it reads a
// snippet of the body for the error, which is retryable for 429 and 5xx
// (with the Retry-After wait for 429 and 503) and final for anything else.
func checkResponse(resp *http.Response, now time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	se := &statusError{
		method: resp.Request.Method,
		url:    redact(resp.Request.URL),
		status: resp.Status,
		code:   resp.StatusCode,
		body:   printable(snippet),
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		re := &retryableError{err: se}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			re.after = retryAfter(resp.Header.Get("Retry-After"), now)
		}
		return re
	}
	return se
}

// transportError classifies a failure to get or read a response: the
// caller's context ending is final; a per-attempt timeout or a network
// error is retryable.
func transportError(ctx, attemptCtx context.Context, method string, u *url.URL, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", method, redact(u), context.Cause(ctx))
	}
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
		return &retryableError{err: fmt.Errorf("%s %s: no complete response within %s (spec.batch.http.timeout)", method, redact(u), timeout)}
	}
	// Everything else from the transport (refused connection, reset,
	// truncated body, malformed response) is retried: it is rarely permanent
	// and attempts are capped.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &retryableError{err: fmt.Errorf("%s %s: %w", method, redact(u), err)}
}

// newHTTPClient is the client used when Options.HTTPClient is nil: bounded
// connect, TLS and response-header waits, and no overall timeout (file
// downloads may be long; the http connector bounds each request itself).
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// jitter is the full-jitter wait before attempt n+1.
func (p retryPolicy) jitter(n int) time.Duration { return webclient.Backoff(p.backoff, maxWait, n) }

func sleepCtx(ctx context.Context, d time.Duration) error { return webclient.Sleep(ctx, d) }

func retryAfter(v string, now time.Time) time.Duration { return webclient.RetryAfter(v, now, maxWait) }

func redact(u *url.URL) string { return webclient.Redact(u) }

func printable(b []byte) string { return webclient.Printable(b) }
