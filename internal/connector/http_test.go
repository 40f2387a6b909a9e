package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// api is a test server that records the requests it gets.
type api struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []*http.Request
	handler func(n int, w http.ResponseWriter, r *http.Request) // n: 1-based request number
}

func newAPI(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *api {
	a := &api{t: t, handler: h}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r.Clone(context.Background()))
		n := len(a.reqs)
		a.mu.Unlock()
		a.handler(n, w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *api) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.reqs...)
}

func (a *api) query(i int) url.Values { return a.requests()[i].URL.Query() }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// sleeps records the waits of a reader's retry policy instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

// openHTTPTest opens an http reader on the test server with fake sleeps.
func openHTTPTest(t *testing.T, a *api, h v1alpha1.HTTPConnector, opts Options) (*httpReader, *sleeps) {
	t.Helper()
	if h.URL == "" {
		h.URL = a.srv.URL + "/v1/events"
	}
	opts.Expr = testEnv(t)
	if opts.HTTPClient == nil {
		opts.HTTPClient = a.srv.Client()
	}
	r, err := Open(context.Background(), &v1alpha1.BatchSource{HTTP: &h}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	hr := r.(*httpReader)
	s := &sleeps{}
	hr.retry.sleep = s.sleep
	return hr, s
}

func ids(t *testing.T, rs []result) string {
	t.Helper()
	var out []string
	for _, r := range records(t, rs) {
		out = append(out, fmt.Sprint(r["id"]))
	}
	return strings.Join(out, ",")
}

// stripeLike serves records 1..total in pages of size, Stripe style:
// {"data": [...], "has_more": bool}, after starting_after.
func stripeLike(total, size int) func(n int, w http.ResponseWriter, r *http.Request) {
	return func(_ int, w http.ResponseWriter, r *http.Request) {
		start := 0
		if s := r.URL.Query().Get("starting_after"); s != "" {
			start, _ = strconv.Atoi(s)
		}
		var data []map[string]any
		for i := start + 1; i <= min(start+size, total); i++ {
			data = append(data, map[string]any{"id": i, "created": 1000 + i})
		}
		if data == nil {
			data = []map[string]any{}
		}
		writeJSON(w, map[string]any{"object": "list", "data": data, "has_more": start+size < total})
	}
}

func TestHTTPPagination(t *testing.T) {
	a := newAPI(t, stripeLike(7, 3))
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{
		RecordsPath: "data",
		Pagination: &v1alpha1.Pagination{
			CursorParam: "starting_after",
			NextCursor:  "records[size(records)-1].id",
			HasMore:     "body.has_more",
		},
	}, Options{})
	rs, err := drain(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, rs); got != "1,2,3,4,5,6,7" {
		t.Errorf("ids %s", got)
	}
	var cursors []string
	for i := range a.requests() {
		cursors = append(cursors, a.query(i).Get("starting_after"))
	}
	if got := strings.Join(cursors, "|"); got != "|3|6" {
		t.Errorf("cursors sent %q, want |3|6 (three pages, none after has_more=false)", got)
	}
	if r.Cursor() != "" {
		t.Errorf("not incremental, but Cursor() = %q", r.Cursor())
	}
}

func TestHTTPPaginationLazy(t *testing.T) {
	// A page is requested only when the previous one is used up.
	a := newAPI(t, stripeLike(6, 3))
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "data",
		Pagination: &v1alpha1.Pagination{CursorParam: "starting_after", NextCursor: "records[size(records)-1].id", HasMore: "body.has_more"}}, Options{})
	if len(a.requests()) != 0 {
		t.Fatal("Open made a request")
	}
	for range 3 {
		if _, err := r.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.requests()); n != 1 {
		t.Fatalf("%d requests after the first page's records, want 1", n)
	}
}

func TestHTTPPaginationWithoutHasMoreStopsAtEmptyPage(t *testing.T) {
	a := newAPI(t, stripeLike(5, 2))
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "data",
		Pagination: &v1alpha1.Pagination{CursorParam: "starting_after", NextCursor: "records[size(records)-1].id"}}, Options{})
	rs, err := drain(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, rs); got != "1,2,3,4,5" {
		t.Errorf("ids %s", got)
	}
	if n := len(a.requests()); n != 4 {
		t.Errorf("%d requests, want 4: three pages and the empty one", n)
	}
}

func TestHTTPPaginationNullCursorEnds(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "":
			writeJSON(w, map[string]any{"items": []any{map[string]any{"id": 1}}, "next": "p2"})
		case "p2":
			writeJSON(w, map[string]any{"items": []any{map[string]any{"id": 2}}, "next": nil})
		default:
			t.Errorf("unexpected page %s", r.URL.Query().Get("page"))
		}
	})
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "items",
		Pagination: &v1alpha1.Pagination{CursorParam: "page", NextCursor: "body.next"}}, Options{})
	rs, err := drain(t, r)
	if err != nil || ids(t, rs) != "1,2" {
		t.Fatalf("%v %v", rs, err)
	}
}

func TestHTTPEmptyFirstPage(t *testing.T) {
	a := newAPI(t, stripeLike(0, 3))
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "data",
		Pagination:  &v1alpha1.Pagination{CursorParam: "starting_after", NextCursor: "records[size(records)-1].id", HasMore: "body.has_more"},
		Incremental: &v1alpha1.Incremental{Param: "created[gt]", Cursor: "record.created"}}, Options{Cursor: "1500"})
	rs, err := drain(t, r)
	if err != nil || len(rs) != 0 {
		t.Fatalf("%v %v; want nothing", rs, err)
	}
	if len(a.requests()) != 1 {
		t.Errorf("%d requests, want 1", len(a.requests()))
	}
	if r.Cursor() != "1500" {
		t.Errorf("Cursor() = %q, want the stored 1500", r.Cursor())
	}
}

func TestHTTPRepeatedCursor(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"data": []any{map[string]any{"id": n}}, "next": "same", "has_more": true})
	})
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "data",
		Pagination: &v1alpha1.Pagination{CursorParam: "after", NextCursor: "body.next", HasMore: "body.has_more"}}, Options{})
	rs, err := drain(t, r)
	if err == nil || !strings.Contains(err.Error(), `cursor "same" again`) {
		t.Fatalf("got %v; want the repeated-cursor error", err)
	}
	if len(rs) != 2 || len(a.requests()) != 2 {
		t.Errorf("%d records, %d requests; want 2 and 2", len(rs), len(a.requests()))
	}
}

func TestHTTPIncremental(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{
			map[string]any{"id": "a", "created": 101},
			map[string]any{"id": "b", "created": 1000}, // larger as a number, smaller as a string
			map[string]any{"id": "c", "created": 999},
		})
	})
	inc := &v1alpha1.Incremental{Param: "created[gte]", Cursor: "record.created"}
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{Incremental: inc}, Options{Cursor: "100"})
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	if got := a.query(0).Get("created[gte]"); got != "100" {
		t.Errorf("created[gte] = %q, want the stored cursor 100", got)
	}
	if r.Cursor() != "1000" {
		t.Errorf("Cursor() = %q, want 1000", r.Cursor())
	}

	// First run: no parameter; the cursor is the largest seen.
	r, _ = openHTTPTest(t, a, v1alpha1.HTTPConnector{Incremental: inc}, Options{})
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	if q := a.query(1); q.Has("created[gte]") {
		t.Errorf("first run sent %v", q)
	}
	if r.Cursor() != "1000" {
		t.Errorf("Cursor() = %q, want 1000", r.Cursor())
	}

	// Nothing newer than the stored cursor: it stays.
	r, _ = openHTTPTest(t, a, v1alpha1.HTTPConnector{Incremental: inc}, Options{Cursor: "5000"})
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	if r.Cursor() != "5000" {
		t.Errorf("Cursor() = %q, want the stored 5000", r.Cursor())
	}
}

func TestHTTPIncrementalCursorTracksReturnedRecords(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{
			map[string]any{"id": 1, "t": "2026-01-01T00:00:00Z"},
			map[string]any{"id": 2, "t": "2026-01-01T00:00:00.5Z"},
			map[string]any{"id": 3}, // no cursor field: quarantined
			map[string]any{"id": 4, "t": "2026-01-01T00:00:00.25Z"},
		})
	})
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{Incremental: &v1alpha1.Incremental{Param: "since", Cursor: "record.t"}}, Options{})
	if _, err := r.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Cursor() != "2026-01-01T00:00:00Z" {
		t.Errorf("after one record Cursor() = %q", r.Cursor())
	}
	rs, err := drain(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if shape(rs) != "RDR" {
		t.Fatalf("shape %s, want RDR", shape(rs))
	}
	if de := decodeErr(t, rs[1]); !strings.Contains(de.Reason, "incremental.cursor") || !strings.Contains(string(de.Raw), `"id":3`) {
		t.Errorf("decode error %q raw %s", de.Reason, de.Raw)
	}
	// .5Z sorts before Z as text; compared as times it is the latest.
	if r.Cursor() != "2026-01-01T00:00:00.5Z" {
		t.Errorf("Cursor() = %q", r.Cursor())
	}
}

func TestHTTPIncrementalWithPagination(t *testing.T) {
	a := newAPI(t, stripeLike(4, 2))
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "data",
		Pagination:  &v1alpha1.Pagination{CursorParam: "starting_after", NextCursor: "records[size(records)-1].id", HasMore: "body.has_more"},
		Incremental: &v1alpha1.Incremental{Param: "created[gt]", Cursor: "record.created"}}, Options{Cursor: "900"})
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	for i := range a.requests() {
		if got := a.query(i).Get("created[gt]"); got != "900" {
			t.Errorf("request %d: created[gt]=%q; the filter goes with every page", i+1, got)
		}
	}
	if r.Cursor() != "1004" {
		t.Errorf("Cursor() = %q, want 1004", r.Cursor())
	}
}

func TestHTTPBearerToken(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, []any{}) })
	ref := &v1alpha1.SecretKeyRef{Name: "billing-api", Key: "token"}
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{AuthSecretRef: ref}, Options{Secrets: secrets{"billing-api/token": "tok_123\n"}})
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	req := a.requests()[0]
	if got := req.Header.Get("Authorization"); got != "Bearer tok_123" {
		t.Errorf("Authorization %q", got)
	}
	if req.Header.Get("Accept") != "application/json" {
		t.Errorf("Accept %q", req.Header.Get("Accept"))
	}

	_, err := Open(context.Background(), &v1alpha1.BatchSource{HTTP: &v1alpha1.HTTPConnector{URL: a.srv.URL, AuthSecretRef: ref}}, Options{Secrets: secrets{}})
	if err == nil || !strings.Contains(err.Error(), "billing-api") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestHTTPRecordsPath(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"result": map[string]any{"items": []any{map[string]any{"id": 1}, "not an object", map[string]any{"id": 2}}}})
	})
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: "result.items"}, Options{})
	rs, err := drain(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if shape(rs) != "RDR" {
		t.Fatalf("shape %s", shape(rs))
	}
	if de := decodeErr(t, rs[1]); string(de.Raw) != `"not an object"` {
		t.Errorf("raw %s", de.Raw)
	}

	for path, want := range map[string]string{
		"result.missing":     "no field result.missing",
		"result.items.x":     "result.items is an array, not an object",
		"result":             "result is an object, not an array",
		"nothing.result.xyz": "no field nothing",
	} {
		r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{RecordsPath: path}, Options{})
		if _, err := drain(t, r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("recordsPath %s: %v, want %q", path, err, want)
		}
	}
}

func TestHTTPNotJSON(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html>secret stuff</html>")
	})
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{})
	_, err := drain(t, r)
	if err == nil || !strings.Contains(err.Error(), "not JSON") || strings.Contains(err.Error(), "secret stuff") {
		t.Errorf("got %v; want a not-JSON error that does not quote the body", err)
	}
}

func TestHTTPRetryAfter(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", date)
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			writeJSON(w, []any{map[string]any{"id": 1}})
		}
	})
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{})
	rs, err := drain(t, r)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	if len(s.d) != 3 {
		t.Fatalf("waits %v, want 3", s.d)
	}
	if s.d[0] != 7*time.Second {
		t.Errorf("first wait %s, want Retry-After's 7s", s.d[0])
	}
	if s.d[1] < 25*time.Second || s.d[1] > 31*time.Second {
		t.Errorf("second wait %s, want about 30s from the Retry-After date", s.d[1])
	}
	if s.d[2] != maxWait {
		t.Errorf("third wait %s, want the cap %s", s.d[2], maxWait)
	}
}

func TestHTTP5xxThenSuccess(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 3 {
			http.Error(w, "upstream hiccup", []int{http.StatusBadGateway, http.StatusInternalServerError, http.StatusGatewayTimeout}[n-1])
			return
		}
		writeJSON(w, []any{map[string]any{"id": 1}})
	})
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{Backoff: 100 * time.Millisecond})
	rs, err := drain(t, r)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	// Full jitter: wait n is uniform in [0, backoff·2^(n-1)].
	for i, d := range s.d {
		if ceiling := 100 * time.Millisecond << i; d < 0 || d > ceiling {
			t.Errorf("wait %d is %s, outside [0, %s]", i+1, d, ceiling)
		}
	}
	if len(s.d) != 3 {
		t.Errorf("waits %v, want 3", s.d)
	}
}

func TestHTTPPersistent500(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database is down", http.StatusInternalServerError)
	})
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{MaxAttempts: 3})
	_, err := drain(t, r)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"gave up after 3 attempts", "500 Internal Server Error", "database is down", "/v1/events"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(a.requests()) != 3 || len(s.d) != 2 {
		t.Errorf("%d requests and %d waits, want 3 and 2", len(a.requests()), len(s.d))
	}
	if _, again := r.Next(context.Background()); again == nil {
		t.Error("Next after the failure succeeded")
	}
	if len(a.requests()) != 3 {
		t.Error("Next after the failure retried")
	}
}

func TestHTTPDefaultAttempts(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{})
	if _, err := drain(t, r); err == nil {
		t.Fatal("no error")
	}
	if len(a.requests()) != defaultMaxAttempts {
		t.Errorf("%d requests, want %d", len(a.requests()), defaultMaxAttempts)
	}
	for i, d := range s.d {
		if ceiling := defaultBackoff << i; d > ceiling {
			t.Errorf("wait %d is %s > %s", i+1, d, ceiling)
		}
	}
}

func TestHTTP4xxFailsAtOnce(t *testing.T) {
	long := strings.Repeat("y", 2000)
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid api key"}`+"\n\t"+long)
	})
	ref := &v1alpha1.SecretKeyRef{Name: "api", Key: "token"}
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{AuthSecretRef: ref, URL: a.srv.URL + "/v1/events?api_key=k_secret"},
		Options{Secrets: secrets{"api/token": "tok_very_secret"}})
	_, err := drain(t, r)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "401 Unauthorized") || !strings.Contains(msg, `{"error":"invalid api key"} yyy`) || !strings.Contains(msg, "authSecretRef") {
		t.Errorf("error %q: want the status, the body's start on one line and a hint", msg)
	}
	if strings.Contains(msg, strings.Repeat("y", 500)) {
		t.Errorf("error quotes more than %d bytes of the body: %d bytes", maxErrorBody, len(msg))
	}
	if strings.Contains(msg, "tok_very_secret") || strings.Contains(msg, "k_secret") {
		t.Errorf("error %q leaks the token or the query", msg)
	}
	if len(a.requests()) != 1 || len(s.d) != 0 {
		t.Errorf("%d requests, %d waits; a 401 is not retried", len(a.requests()), len(s.d))
	}
	var re *retryableError
	if errors.As(err, &re) {
		t.Error("a 401 is marked retryable")
	}
}

func TestHTTPNetworkErrorIsRetried(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			// Drop the connection without a response.
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_ = c.Close()
			return
		}
		writeJSON(w, []any{map[string]any{"id": 1}})
	})
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{})
	rs, err := drain(t, r)
	if err != nil || len(rs) != 1 || len(s.d) != 1 {
		t.Fatalf("%v %v, waits %v", rs, err, s.d)
	}
}

func TestHTTPTimeout(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	r, s := openHTTPTest(t, a, v1alpha1.HTTPConnector{Timeout: &metav1.Duration{Duration: 50 * time.Millisecond}}, Options{MaxAttempts: 2})
	_, err := drain(t, r)
	if err == nil || !strings.Contains(err.Error(), "no complete response within 50ms (spec.batch.http.timeout)") || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Fatalf("got %v; want a timeout error after 2 attempts", err)
	}
	if len(s.d) != 1 {
		t.Errorf("waits %v", s.d)
	}
}

func TestHTTPCancelled(t *testing.T) {
	a := newAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	r, _ := openHTTPTest(t, a, v1alpha1.HTTPConnector{}, Options{})
	r.retry.sleep = sleepCtx
	r.retry.backoff = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := r.Next(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled while waiting to retry", err)
	}
}

func TestHTTPBadExpressions(t *testing.T) {
	for _, h := range []v1alpha1.HTTPConnector{
		{Pagination: &v1alpha1.Pagination{CursorParam: "c", NextCursor: "records["}},
		{Pagination: &v1alpha1.Pagination{CursorParam: "c", NextCursor: "body.next", HasMore: "'yes'"}},
		{Incremental: &v1alpha1.Incremental{Param: "p", Cursor: "event.userID"}},
	} {
		h.URL = "https://example.invalid/x"
		if _, err := Open(context.Background(), &v1alpha1.BatchSource{HTTP: &h}, Options{Expr: testEnv(t)}); err == nil {
			t.Errorf("%+v opened", h)
		}
	}
}

func TestCompareCursors(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"100", "99", 1},
		{"99", "100", -1},
		{"1.5", "1.25", 1},
		{"9007199254740993", "9007199254740992", 1},
		{"2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00Z", 1},
		{"2026-01-01T01:00:00+02:00", "2026-01-01T00:00:00Z", -1},
		{"b", "a", 1},
		{"a", "", 1},
		{"", "", 0},
		{"0x10", "9", -1}, // hex is not a number here: compared as text
		{"NaN", "1", 1},
	} {
		if got := compareCursors(tc.a, tc.b); got != tc.want {
			t.Errorf("compareCursors(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0":                             0,
		"-5":                            0,
		"999999999999":                  maxWait,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:10 GMT": 10 * time.Second,
		"Wed, 31 Dec 2025 23:59:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
