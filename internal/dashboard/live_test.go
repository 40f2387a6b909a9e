package dashboard

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// liveServer answers the snapshot of the streaming journey for filters it
// knows (country=…), and refuses others as the drill-down does.
type liveServer struct{ asked []url.Values }

func (s *liveServer) snapshot(f url.Values) (journey.Snapshot, error) {
	s.asked = append(s.asked, f)
	snap := streamingSnapshot()
	for _, p := range f["segment"] {
		name, value, _ := strings.Cut(p, "=")
		if name != "country" {
			return journey.Snapshot{}, fmt.Errorf("segment %q is not one of the map's spec.segments (plan, country, device)", name)
		}
		snap.Users = int64(len(value)) // stands for the filtered journey
	}
	return snap, nil
}

func serveLive(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestLiveHandlerServesTheInteractivePage(t *testing.T) {
	s := &liveServer{}
	h := LiveHandler(LiveOptions{Snapshot: s.snapshot, Segments: []string{"plan", "country", "device"}})

	rec := serveLive(t, h, http.MethodGet, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": liveContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("GET /: %s is %q, want %q", k, got, want)
		}
	}
	body := rec.Body.String()
	for _, want := range []string{
		// Scripts from the page's own origin, and nothing inline.
		`<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;self&#39;; connect-src &#39;self&#39;;`,
		`<script type="module" src="js/page.js"></script>`,
		// The same page: the flow, the funnel, the alerts.
		`<g class="node" data-stage="Trial">`, `data-step="Trial→Subscribed"`, `data-alert="TrialConversionLow"`,
		// A choice per segment, none applied.
		`<select data-segment="plan">`, `<select data-segment="country">`, `<select data-segment="device">`,
		`<section class="card trends" id="trends"`, `<aside class="drill" id="drill"`, `<meta name="journey-idle-reload" content="60">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /: the page does not contain %q", want)
		}
	}
	if strings.Contains(body, `http-equiv="refresh"`) || strings.Contains(body, " selected>") || strings.Contains(body, "data-problem") {
		t.Error("GET /: the live page reloads itself by meta refresh, applies a filter or reports a problem")
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=`).MatchString(body) {
		t.Error("GET /: the page has inline script")
	}
	if len(s.asked) != 1 || len(s.asked[0]) != 0 {
		t.Errorf("GET /: the snapshot was asked for %v, want once with no filter", s.asked)
	}

	// Filtered: the snapshot of the filter's users, the choice shown.
	s.asked = nil
	rec = serveLive(t, h, http.MethodGet, "/?segment=country%3DUS&offset=3")
	body = rec.Body.String()
	if rec.Code != http.StatusOK || len(s.asked) != 1 || !slices.Equal(s.asked[0]["segment"], []string{"country=US"}) || len(s.asked[0]) != 1 {
		t.Errorf("GET /?segment=country=US: %d, the snapshot was asked for %v", rec.Code, s.asked)
	}
	for _, want := range []string{`<option value="US" selected>US</option>`, "Only users with country = US", `<a class="clear" href="./">`, "<dd>2</dd>"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /?segment=country=US: the page does not contain %q", want)
		}
	}

	rec = serveLive(t, h, http.MethodHead, "/")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /: %d, %d bytes of body, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	rec = serveLive(t, h, http.MethodPost, "/")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	for _, path := range []string{"/metrics", "/js/", "/js/nope.js", "/js/../live.go", "/page.css"} {
		if rec = serveLive(t, h, http.MethodGet, path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
}

// A filter the journey cannot apply: the page says why, with the status
// the API answers, and shows every user.
func TestLiveHandlerRefusedFilter(t *testing.T) {
	s := &liveServer{}
	h := LiveHandler(LiveOptions{Snapshot: s.snapshot, Segments: []string{"plan", "country", "device"}})
	rec := serveLive(t, h, http.MethodGet, "/?segment=tier%3Dgold")
	body := rec.Body.String()
	if rec.Code != http.StatusBadRequest {
		t.Errorf("GET /?segment=tier=gold: %d, want 400", rec.Code)
	}
	if !strings.Contains(body, `<p class="problem" role="alert" data-problem>Segment filter not applied: segment &#34;tier&#34; is not one of the map&#39;s spec.segments (plan, country, device). The page shows every user.</p>`) {
		t.Errorf("the page does not give the reason:\n%s", head(body))
	}
	if !strings.Contains(body, "<dd>48,211</dd>") || strings.Contains(body, " selected>") || len(s.asked) != 2 || len(s.asked[1]) != 0 {
		t.Errorf("the page does not show every user unfiltered; snapshots asked: %v", s.asked)
	}

	// Nothing evaluated yet: nothing to filter, 503.
	h = LiveHandler(LiveOptions{Segments: []string{"country"}, Snapshot: func(f url.Values) (journey.Snapshot, error) {
		if len(f) > 0 {
			return journey.Snapshot{}, errors.New("the journey has not been evaluated yet")
		}
		return journey.Snapshot{Namespace: "media", Name: "streaming"}, nil
	}})
	if rec = serveLive(t, h, http.MethodGet, "/?segment=country%3DUS"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "has not been evaluated yet") {
		t.Errorf("before the first evaluation, filtered: %d", rec.Code)
	}
	if rec = serveLive(t, h, http.MethodGet, "/"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "No stages evaluated yet.") {
		t.Errorf("before the first evaluation: %d", rec.Code)
	}
	h = LiveHandler(LiveOptions{Snapshot: func(url.Values) (journey.Snapshot, error) { return journey.Snapshot{}, errors.New("the store is gone") }})
	if rec = serveLive(t, h, http.MethodGet, "/"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "the store is gone") ||
		!strings.Contains(rec.Body.String(), "names no spec.segments") {
		t.Errorf("no snapshot at all: %d %s", rec.Code, head(rec.Body.String()))
	}
}

// Filter values come from the URL: they are text in the page, never markup.
func TestLiveHandlerEscapesFilters(t *testing.T) {
	s := &liveServer{}
	h := LiveHandler(LiveOptions{Snapshot: s.snapshot, Segments: []string{`"><script>x</script>`, "country"}})
	rec := serveLive(t, h, http.MethodGet, "/?segment="+url.QueryEscape(`country="><img src=x onerror=alert(1)>`))
	body := rec.Body.String()
	if strings.Contains(body, "<img") || strings.Contains(body, "<script>x") {
		t.Errorf("a filter value became markup:\n%s", head(body))
	}
	if !strings.Contains(body, `<option value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" selected>`) {
		t.Errorf("the escaped filter value is not chosen in the bar")
	}
}

func TestLiveHandlerServesItsScripts(t *testing.T) {
	h := LiveHandler(LiveOptions{})
	// Every module page.js imports, and what they import, is served.
	seen := map[string]bool{}
	queue := []string{"page.js"}
	importRE := regexp.MustCompile(`from '\./([a-z]+\.js)'`)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		rec := serveLive(t, h, http.MethodGet, "/js/"+name)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("ETag") == "" {
			t.Fatalf("GET /js/%s: %d %v", name, rec.Code, rec.Header())
		}
		for _, m := range importRE.FindAllStringSubmatch(rec.Body.String(), -1) {
			queue = append(queue, m[1])
		}
		// Revalidated, not fetched again.
		req := httptest.NewRequest(http.MethodGet, "/js/"+name, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		again := httptest.NewRecorder()
		h.ServeHTTP(again, req)
		if again.Code != http.StatusNotModified {
			t.Errorf("GET /js/%s with its ETag: %d, want 304", name, again.Code)
		}
	}
	if len(seen) != len(scripts) {
		t.Errorf("page.js loads %d scripts, %d are embedded: one is unused", len(seen), len(scripts))
	}
}

// The scripts put data on the page as text only, talk to nothing but the
// API beside the page, and run no code they did not ship with.
func TestScriptsWriteTextOnly(t *testing.T) {
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(['"]on|\.on[a-z]+\s*=|https?:|XMLHttpRequest|import\(`)
	err := fs.WalkDir(scriptFiles, "js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := scriptFiles.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			code, _, _ := strings.Cut(line, "// ")
			if m := forbidden.FindString(code); m != "" && !strings.Contains(code, "http://www.w3.org/2000/svg") {
				t.Errorf("%s:%d: %q: %s", p, i+1, m, strings.TrimSpace(line))
			}
			if strings.Contains(code, "fetch(") && (p != "js/api.js" || !strings.Contains(code, "fetch(`api/v1/")) {
				t.Errorf("%s:%d: a request other than to the API beside the page: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
