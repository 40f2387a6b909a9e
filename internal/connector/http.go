package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

const (
	defaultHTTPTimeout = 30 * time.Second
	// maxPageBytes caps one response body: a page is decoded whole, since
	// the pagination expressions see all of it.
	maxPageBytes = 64 << 20
	userAgent    = "journey-operator"
)

// httpReader reads JSON records from an HTTP API page by page. A page is
// requested only when the records of the previous one are all returned.
type httpReader struct {
	spec    *v1alpha1.HTTPConnector
	base    *url.URL
	client  *http.Client
	token   string
	timeout time.Duration
	retry   retryPolicy

	nextCursor, hasMore, recordCursor cel.Program

	stored string // cursor of the last committed run
	newest string // largest incremental cursor seen, or stored

	queue   []item
	page    int    // pages fetched
	pageCur string // cursor for the next page
	seen    map[string]bool
	done    bool
	pendErr error // ends the run once the queued records are returned
	err     error // sticky: the run is over
}

// item is a record of a page, or the *DecodeError that stands for it.
type item struct {
	rec Record
	err error
}

func openHTTP(_ context.Context, h *v1alpha1.HTTPConnector, opts Options) (Reader, error) {
	base, err := url.Parse(h.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("spec.batch.http.url must be an absolute http or https URL")
	}
	r := &httpReader{
		spec:    h,
		base:    base,
		client:  opts.HTTPClient,
		timeout: defaultHTTPTimeout,
		retry:   newRetryPolicy(opts),
		stored:  opts.Cursor,
		newest:  opts.Cursor,
		seen:    map[string]bool{},
	}
	if r.client == nil {
		r.client = newHTTPClient()
	}
	if h.Timeout != nil && h.Timeout.Duration > 0 {
		r.timeout = h.Timeout.Duration
	}
	if ref := h.AuthSecretRef; ref != nil {
		if opts.Secrets == nil {
			return nil, errors.New("spec.batch.http.authSecretRef is set but no Secrets were given to read it")
		}
		v, err := opts.Secrets.Value(*ref)
		if err != nil {
			return nil, fmt.Errorf("spec.batch.http.authSecretRef (Secret %s, key %s): %w", ref.Name, ref.Key, err)
		}
		r.token = strings.TrimSpace(v)
		if r.token == "" {
			return nil, fmt.Errorf("spec.batch.http.authSecretRef: key %s of Secret %s is empty", ref.Key, ref.Name)
		}
	}
	if h.Pagination != nil || h.Incremental != nil {
		env, err := exprEnv(opts)
		if err != nil {
			return nil, err
		}
		if p := h.Pagination; p != nil {
			if r.nextCursor, err = env.Program(expr.Pagination, string(p.NextCursor)); err != nil {
				return nil, fmt.Errorf("spec.batch.http.pagination.nextCursor: %w", err)
			}
			if p.HasMore != "" {
				if r.hasMore, err = env.Program(expr.PaginationCondition, string(p.HasMore)); err != nil {
					return nil, fmt.Errorf("spec.batch.http.pagination.hasMore: %w", err)
				}
			}
		}
		if inc := h.Incremental; inc != nil {
			if r.recordCursor, err = env.Program(expr.Mapping, string(inc.Cursor)); err != nil {
				return nil, fmt.Errorf("spec.batch.http.incremental.cursor: %w", err)
			}
		}
	}
	return r, nil
}

func exprEnv(opts Options) (*expr.Env, error) {
	if opts.Expr != nil {
		return opts.Expr, nil
	}
	return expr.NewEnv()
}

// Next returns the next record, fetching the next page when the current
// one is used up.
func (r *httpReader) Next(ctx context.Context) (Record, error) {
	for {
		if r.err != nil {
			return nil, r.err
		}
		if len(r.queue) > 0 {
			it := r.queue[0]
			r.queue[0] = item{}
			r.queue = r.queue[1:]
			if it.err != nil {
				return nil, it.err
			}
			if err := r.track(it.rec); err != nil {
				return nil, err
			}
			return it.rec, nil
		}
		if r.pendErr != nil {
			r.err = r.pendErr
			continue
		}
		if r.done {
			return nil, io.EOF
		}
		if err := r.fetch(ctx); err != nil {
			r.err = err
			return nil, err
		}
	}
}

// Cursor is the largest incremental cursor of the records returned, or the
// stored one when none is larger; "" for a source that is not incremental.
func (r *httpReader) Cursor() string {
	if r.recordCursor == nil {
		return ""
	}
	return r.newest
}

func (r *httpReader) Close() error {
	r.queue, r.done = nil, true
	return nil
}

// fetch requests the next page, queues its records and works out whether
// and with which cursor to ask for another.
func (r *httpReader) fetch(ctx context.Context) error {
	u := *r.base
	q := u.Query()
	// The stored cursor is a filter, so it goes with every page: APIs such
	// as Stripe's want the same filters alongside the page cursor.
	if inc := r.spec.Incremental; inc != nil && r.stored != "" {
		q.Set(inc.Param, r.stored)
	}
	if r.page > 0 {
		q.Set(r.spec.Pagination.CursorParam, r.pageCur)
	}
	u.RawQuery = q.Encode()
	raw, err := r.get(ctx, &u)
	if err != nil {
		return err
	}
	r.page++
	body, err := decodeJSON(raw)
	if err != nil {
		return fmt.Errorf("GET %s: page %d: the response is not JSON: %v", redact(&u), r.page, err)
	}
	records, err := recordsAt(body, r.spec.RecordsPath)
	if err != nil {
		return fmt.Errorf("GET %s: page %d: %w", redact(&u), r.page, err)
	}
	r.queue = make([]item, 0, len(records))
	for i, e := range records {
		if m, ok := e.(map[string]any); ok {
			r.queue = append(r.queue, item{rec: Record(m)})
			continue
		}
		raw, _ := json.Marshal(e)
		r.queue = append(r.queue, item{err: decodeError(raw, "page %d, record %d: %s, not an object", r.page, i+1, kindOf(e))})
	}
	// A page that came back whole is returned even if paging cannot go on.
	r.pendErr = r.paginate(body, records)
	return nil
}

// paginate decides the next request: none without pagination, none when
// hasMore is false or (without hasMore) the page is empty, none when
// nextCursor is null or "", else the page with the next cursor.
func (r *httpReader) paginate(body any, records []any) error {
	p := r.spec.Pagination
	if p == nil {
		r.done = true
		return nil
	}
	vars := map[string]any{"body": body, "records": records}
	if r.hasMore != nil {
		v, _, err := r.hasMore.Eval(vars)
		if err != nil {
			return fmt.Errorf("spec.batch.http.pagination.hasMore on page %d: %w", r.page, err)
		}
		more, ok := v.(types.Bool)
		if !ok {
			return fmt.Errorf("spec.batch.http.pagination.hasMore on page %d: got %s, want a bool", r.page, v.Type().TypeName())
		}
		if !more {
			r.done = true
			return nil
		}
	} else if len(records) == 0 {
		r.done = true
		return nil
	}
	v, _, err := r.nextCursor.Eval(vars)
	if err != nil {
		return fmt.Errorf("spec.batch.http.pagination.nextCursor on page %d: %w", r.page, err)
	}
	c, err := cursorText(v)
	if err != nil {
		return fmt.Errorf("spec.batch.http.pagination.nextCursor on page %d: %w", r.page, err)
	}
	if c == "" {
		r.done = true
		return nil
	}
	if r.seen[c] {
		return fmt.Errorf("pagination: page %d gave the cursor %q again; stopping rather than looping forever (does spec.batch.http.pagination.nextCursor select the page's last record, and does the API honour %s?)",
			r.page, truncate(c, 100), p.CursorParam)
	}
	r.seen[c] = true
	r.pageCur = c
	return nil
}

// get GETs u with the per-request timeout and the retry policy, and
// returns the body (at most maxPageBytes).
func (r *httpReader) get(ctx context.Context, u *url.URL) ([]byte, error) {
	var body []byte
	err := r.retry.run(ctx, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("spec.batch.http.url: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return transportError(ctx, actx, http.MethodGet, u, r.timeout, err)
		}
		defer func() { _ = resp.Body.Close() }()
		if err := checkResponse(resp, time.Now()); err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
		if err != nil {
			return transportError(ctx, actx, http.MethodGet, u, r.timeout, err)
		}
		if len(b) > maxPageBytes {
			return fmt.Errorf("GET %s: the response is larger than %d MiB; ask for smaller pages (e.g. a limit parameter in the url)", redact(u), maxPageBytes>>20)
		}
		body = b
		return nil
	})
	return body, err
}

// recordsAt returns the array at the dot path in body; the body itself for
// an empty path. A null at the end of the path is an empty page; a missing
// field (a typo in recordsPath, or an error document) or a non-array is an
// error, so that a wrong path cannot pass for an empty source.
func recordsAt(body any, path string) ([]any, error) {
	v := body
	if path != "" {
		parts := strings.Split(path, ".")
		for i, p := range parts {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("spec.batch.http.recordsPath %q: %s is %s, not an object", path, pathName(parts[:i]), kindOf(v))
			}
			e, ok := m[p]
			if !ok {
				return nil, fmt.Errorf("spec.batch.http.recordsPath %q: the response has no field %s", path, strings.Join(parts[:i+1], "."))
			}
			v = e
		}
	}
	switch a := v.(type) {
	case []any:
		return a, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("spec.batch.http.recordsPath %q: %s is %s, not an array of records", path, pathName(strings.Split(path, ".")), kindOf(v))
}

func pathName(parts []string) string {
	if len(parts) == 0 || (len(parts) == 1 && parts[0] == "") {
		return "the response body"
	}
	return strings.Join(parts, ".")
}

// track raises the incremental cursor to the record's, if larger. A record
// whose cursor cannot be computed is a *DecodeError: it is quarantined with
// the reason, and the cursor does not move past it.
func (r *httpReader) track(rec Record) error {
	if r.recordCursor == nil {
		return nil
	}
	v, _, err := r.recordCursor.Eval(map[string]any{"record": map[string]any(rec)})
	if err == nil {
		var c string
		if c, err = cursorText(v); err == nil {
			if c != "" && compareCursors(c, r.newest) > 0 {
				r.newest = c
			}
			return nil
		}
	}
	raw, _ := json.Marshal(rec)
	return decodeError(raw, "spec.batch.http.incremental.cursor: %v", err)
}

// cursorText renders a cursor value: strings as they are, numbers in
// decimal without exponent, timestamps in RFC 3339 (UTC); "" for null.
func cursorText(v ref.Val) (string, error) {
	switch t := v.(type) {
	case types.String:
		return string(t), nil
	case types.Int:
		return strconv.FormatInt(int64(t), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(t), 10), nil
	case types.Double:
		f := float64(t)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Errorf("got %v, want a finite number", f)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case types.Timestamp:
		return t.UTC().Format(time.RFC3339Nano), nil
	case types.Null:
		return "", nil
	}
	return "", fmt.Errorf("got %s, want a string, number or timestamp", v.Type().TypeName())
}

// compareCursors orders two cursors: as numbers when both parse as
// numbers, else as strings (right for RFC 3339 timestamps of one zone and
// precision, and for zero-padded ids).
func compareCursors(a, b string) int {
	if b == "" {
		if a == "" {
			return 0
		}
		return 1
	}
	if x, err := strconv.ParseInt(a, 10, 64); err == nil {
		if y, err := strconv.ParseInt(b, 10, 64); err == nil {
			return cmpOrdered(x, y)
		}
	}
	if x, ok := parseNumber(a); ok {
		if y, ok := parseNumber(b); ok {
			return cmpOrdered(x, y)
		}
	}
	if x, ok := parseTime(a); ok {
		if y, ok := parseTime(b); ok {
			return x.Compare(y)
		}
	}
	return strings.Compare(a, b)
}

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
		return 0, false
	}
	return f, true
}

func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
