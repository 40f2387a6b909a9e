package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/webclient"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
)

const (
	defaultMaxAttempts    = 5
	defaultBackoff        = 500 * time.Millisecond
	defaultAttemptTimeout = 10 * time.Second
	// maxWait caps each wait between attempts, Retry-After included, so a
	// receiver asking for an hour cannot stall an evaluation.
	maxWait = 30 * time.Second
	// maxErrorBody is how much of an error response's body an error quotes.
	maxErrorBody = 256
	// maxDrain is how much of a successful response is read so the
	// connection can be reused.
	maxDrain  = 64 << 10
	userAgent = "journey-operator"
)

// Options are what every sender shares. The zero value is usable.
type Options struct {
	// HTTPClient sends the requests; nil: a client with bounded connect, TLS
	// and response-header waits.
	HTTPClient *http.Client
	// Secrets resolves the secretRef of webhooks and feedback triggers.
	Secrets connector.Secrets
	// MaxAttempts per delivery (default 5).
	MaxAttempts int
	// Backoff before the second attempt (default 500ms); each further wait
	// doubles it, with full jitter, up to 30s.
	Backoff time.Duration
	// AttemptTimeout bounds one attempt, response included (default 10s).
	AttemptTimeout time.Duration
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// DeliveryError is a delivery that failed: which target, where, and how.
type DeliveryError struct {
	// Target names the receiver: "alertmanager", "webhook" or
	// "feedback trigger <name>".
	Target string
	// URL without query, fragment or password.
	URL string
	// StatusCode and Status of the last response; 0 and "" when there was
	// none (Err says why).
	StatusCode int
	Status     string
	// Body is at most 256 bytes of the last response's body, on one line.
	Body string
	// Attempts made.
	Attempts int
	// Err is the transport or context error when there was no response.
	Err error

	retry bool
	after time.Duration
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Target, e.URL)
	if e.StatusCode != 0 {
		b.WriteString(e.Status)
		if e.Body != "" {
			fmt.Fprintf(&b, ": %q", e.Body)
		}
		switch e.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			b.WriteString(" (check the token in the Secret that secretRef selects)")
		case http.StatusNotFound:
			b.WriteString(" (check the url)")
		}
		if e.Err != nil {
			fmt.Fprintf(&b, "; stopped retrying: %v", e.Err)
		}
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	return b.String()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Temporary reports whether a later delivery may succeed without a change
// of spec: the receiver was unreachable, overloaded or failing.
func (e *DeliveryError) Temporary() bool { return e.retry }

// poster POSTs JSON with retries.
type poster struct {
	client      *http.Client
	maxAttempts int
	backoff     time.Duration
	timeout     time.Duration
	now         func() time.Time
	// sleep waits d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func newPoster(o Options) *poster {
	p := &poster{
		client:      o.HTTPClient,
		maxAttempts: o.MaxAttempts,
		backoff:     o.Backoff,
		timeout:     o.AttemptTimeout,
		now:         o.now,
		sleep:       sleepCtx,
	}
	if p.client == nil {
		p.client = defaultClient()
	}
	if p.maxAttempts <= 0 {
		p.maxAttempts = defaultMaxAttempts
	}
	if p.backoff <= 0 {
		p.backoff = defaultBackoff
	}
	if p.timeout <= 0 {
		p.timeout = defaultAttemptTimeout
	}
	return p
}

// delivery is one JSON document for one receiver.
type delivery struct {
	target string
	url    string
	token  string // sent as a Bearer token when set
	body   []byte
	header http.Header // extra headers
}

// post delivers d, retrying transient failures.
func (p *poster) post(ctx context.Context, d delivery) error {
	u, err := url.Parse(d.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &DeliveryError{Target: d.target, URL: redactRaw(d.url), Err: errors.New("url must be an absolute http or https URL")}
	}
	for n := 1; ; n++ {
		err := p.attempt(ctx, u, d)
		if err == nil {
			return nil
		}
		err.Attempts = n
		if !err.retry || n >= p.maxAttempts {
			return err
		}
		wait := err.after
		if wait <= 0 {
			wait = p.jitter(n)
		}
		if serr := p.sleep(ctx, min(wait, maxWait)); serr != nil {
			// Keep the last status: it says more than "context canceled".
			if err.Err != nil {
				serr = fmt.Errorf("%w (while waiting to retry after: %w)", serr, err.Err)
			}
			err.Err = serr
			return err
		}
	}
}

func (p *poster) attempt(ctx context.Context, u *url.URL, d delivery) *DeliveryError {
	de := &DeliveryError{Target: d.target, URL: redact(u)}
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), bytes.NewReader(d.body))
	if err != nil {
		de.Err = err
		return de
	}
	for k, vs := range d.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			de.Err = context.Cause(ctx)
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			de.Err, de.retry = fmt.Errorf("no response within %s", p.timeout), true
		default:
			// The url.Error would repeat the URL with its query: keep the cause.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			de.Err, de.retry = err, true
		}
		return de
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	de.StatusCode, de.Status, de.Body = resp.StatusCode, resp.Status, printable(snippet)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		de.retry = true
		de.after = retryAfter(resp.Header.Get("Retry-After"), p.now())
	}
	return de
}

// token resolves a secretRef to a Bearer token; "" when ref is nil.
func token(secrets connector.Secrets, target string, ref *v1alpha1.SecretKeyRef) (string, error) {
	if ref == nil {
		return "", nil
	}
	if secrets == nil {
		return "", fmt.Errorf("%s: secretRef %s/%s is set but no Secrets were given to read it", target, ref.Name, ref.Key)
	}
	v, err := secrets.Value(*ref)
	if err != nil {
		return "", fmt.Errorf("%s: reading secretRef %s/%s: %w", target, ref.Name, ref.Key, err)
	}
	v = strings.TrimSpace(v) // mounted files usually end in a newline
	if v == "" {
		return "", fmt.Errorf("%s: secretRef %s/%s is empty", target, ref.Name, ref.Key)
	}
	return v, nil
}

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = defaultAttemptTimeout
	return &http.Client{Transport: t}
}

// jitter is the full-jitter wait before attempt n+1.
func (p *poster) jitter(n int) time.Duration { return webclient.Backoff(p.backoff, maxWait, n) }

func sleepCtx(ctx context.Context, d time.Duration) error { return webclient.Sleep(ctx, d) }

func retryAfter(v string, now time.Time) time.Duration { return webclient.RetryAfter(v, now, maxWait) }

func redact(u *url.URL) string { return webclient.Redact(u) }

func redactRaw(s string) string { return webclient.RedactString(s) }

func printable(b []byte) string { return webclient.Printable(b) }
