package dashboard

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

func renderString(t *testing.T, s journey.Snapshot) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, s); err != nil {
		t.Fatalf("Render: %v", err)
	}
	out := buf.String()
	// html/template's mark for a value it refused in a URL or CSS context.
	if strings.Contains(out, "ZgotmplZ") {
		t.Fatalf("the page holds a value html/template refused (ZgotmplZ):\n%s", out)
	}
	return out
}

func TestRenderShowsEverything(t *testing.T) {
	s := streamingSnapshot()
	out := renderString(t, s)

	mustContain := func(what string, subs ...string) {
		t.Helper()
		for _, sub := range subs {
			if !strings.Contains(out, sub) {
				t.Errorf("%s: the page does not contain %q", what, sub)
			}
		}
	}
	mustContain("header", "media", "streaming", "48,211", "2026-11-23 08:00 UTC")
	for _, st := range s.Stages {
		mustContain("stage "+st.Name, fmt.Sprintf(`data-stage="%s"`, st.Name), ">"+st.Name+"<", st.Description, count(st.Users)+" now")
	}
	mustContain("churn rates", "churn 35.6%", "churn 25.4%")
	for _, tr := range s.Transitions {
		mustContain("transition", fmt.Sprintf(`data-from="%s" data-to="%s" data-users="%d"`, tr.From, tr.To, tr.Users))
	}
	mustContain("funnel",
		"Trial → Subscribed", "12.8% converted", "16,000</b> entered", "2,050</b> converted", "13,950</b> dropped off", "6d 20h",
		"Discovery → Trial", "2d 5h", "AtRisk → Churned")
	for _, a := range s.Alerts {
		mustContain("alert "+a.Name, `class="alert firing" data-alert="`+a.Name+`"`, a.Severity, a.Scope+" scope", a.Annotations["summary"])
	}
	mustContain("alert counts", "<b>8</b> firing · <b>3</b> pending", "<b>1</b> firing · <b>0</b> pending")
	mustContain("feedback", `data-feedback="exit-survey"`, ">Churned<", "6,120", "1,102", "18.0%")
	for _, src := range s.Sources {
		r := src.LastRun
		mustContain("source "+src.Name, `data-source="`+src.Name+`"`, src.Touchpoint, src.System, r.Outcome, count(r.Read), count(r.Accepted))
		for check, n := range r.Exceptions {
			mustContain("exception of "+src.Name, fmt.Sprintf(`<li data-check="%s"><span class="check">%s</span> <b>%s</b></li>`, check, check, count(n)))
		}
	}
	mustContain("run messages", "6 records held for review", "the Zuora API answered 503")
	mustContain("prediction", `AUC <b data-measure="auc">0.83</b> against <b data-measure="baseline-auc">0.66</b>`, "being in AtRisk",
		"within 720h", `<tr data-risk-stage="AtRisk"><th scope="row">AtRisk</th><td class="n">120</td>`, "41.0%", "lift in the top tenth 3.90")
	mustContain("pending review", `<td class="n pending">17<br><span class="muted">oldest 5d</span></td>`, `<td class="n pending zero">0</td>`)
	if n := strings.Count(out, `class="sox"`); n != 2 {
		t.Errorf("%d sources marked financial, want 2", n)
	}
	// The most frequent exception first.
	if i, j := strings.Index(out, `data-check="customer-known"`), strings.Index(out, `data-check="amount-non-negative"`); i < 0 || j < i {
		t.Errorf("billing-stripe's exceptions are not most frequent first")
	}
}

func TestRenderEscapesUserText(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	s := journey.Snapshot{
		Namespace: "ns<script>", Name: `"><script>x</script>`,
		Users: 3,
		Stages: []journey.StageCount{
			{Name: "<b>Trial</b>", Description: evil, Users: 1},
			{Name: "</title><script>y</script>", Description: `" onmouseover="alert(1)`, Users: 2},
		},
		Transitions: []journey.Transition{
			{From: "", To: "<b>Trial</b>", Users: 3},
			{From: "<b>Trial</b>", To: "</title><script>y</script>", Users: 2},
		},
		Funnel: []journey.FunnelStep{{From: "<b>Trial</b>", To: "</title><script>y</script>", Entered: 3, Converted: 2, Rate: 2.0 / 3}},
		Alerts: []journey.AlertState{{
			Name: `<img src=x onerror=alert(1)>`, Scope: "<i>User</i>", Severity: `critical" style="x`,
			Annotations: map[string]string{"summary": evil, "description": "</p><script>z</script>"}, Firing: 1,
		}},
		Feedback: []journey.FeedbackCount{{Name: evil, OnEnter: "<u>Churned</u>", Sent: 1}},
		Sources: []journey.SourceState{{
			Name: evil, Touchpoint: "<em>billing</em>", System: "</td><script>", Financial: true,
			LastRun: &journey.RunState{Outcome: `Failed"><script>`, Message: evil, Exceptions: map[string]int64{evil: 2, `"><svg onload=alert(1)>`: 1}},
		}},
	}
	out := renderString(t, s)
	for _, tag := range []string{"<script", "<img", "<b>Trial", "<i>", "<u>", "<em>", "<svg onload", "</title><script"} {
		if strings.Contains(out, tag) {
			t.Errorf("user text became markup: the page contains %q", tag)
		}
	}
	if strings.Contains(out, `" onmouseover="`) || strings.Contains(out, `critical" style="`) {
		t.Errorf("user text broke out of an attribute")
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the escaped stage description is not shown")
	}
	if n := strings.Count(out, `<g class="node"`); n != 2 {
		t.Errorf("%d stage nodes, want 2", n)
	}
}

// The page must work with no network at all: it references nothing.
func TestRenderReferencesNothing(t *testing.T) {
	for name, s := range map[string]journey.Snapshot{"streaming": streamingSnapshot(), "empty": {}} {
		out := renderString(t, s)
		for _, re := range []string{`(?i)https?:`, `(?i)\bsrc\s*=`, `(?i)\bhref\s*=`, `(?i)url\s*\(`, `(?i)@import`, `(?i)<(script|link|iframe|object|embed|img|use)\b`, `(?i)xmlns`, `(?i)\bformaction\b`} {
			if m := regexp.MustCompile(re).FindString(out); m != "" {
				t.Errorf("%s: the page references something (%q matches %s)", name, m, re)
			}
		}
		if !strings.Contains(out, `<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;`) {
			t.Errorf("%s: the page does not forbid fetching anything", name)
		}
		if strings.Contains(out, `http-equiv="refresh"`) {
			t.Errorf("%s: the static page must not reload itself", name)
		}
	}
}

func TestRenderEmptyAndPartial(t *testing.T) {
	out := renderString(t, journey.Snapshot{})
	for _, want := range []string{"No journey map evaluated yet", "No stages evaluated yet.", "No funnel yet", "no alerts", "No feedback triggers", "No sources", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("empty snapshot: the page does not say %q", want)
		}
	}
	if strings.Contains(out, "<svg") {
		t.Errorf("empty snapshot: a flow is drawn")
	}

	// Stages without moves, a source never run, an alert not firing, a
	// transition naming a stage the map does not have.
	out = renderString(t, journey.Snapshot{
		Namespace: "media", Name: "streaming", EvaluatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Stages:      []journey.StageCount{{Name: "Discovery"}, {Name: "Trial"}},
		Transitions: []journey.Transition{{From: "Gone", To: "Trial", Users: 4}, {From: "Trial", To: "Trial", Users: 1}, {From: "Discovery", To: "Trial"}},
		Alerts:      []journey.AlertState{{Name: "Quiet", Scope: "Journey"}, {Name: "Soon", Scope: "User", Pending: 2}},
		Sources:     []journey.SourceState{{Name: "crm"}},
	})
	for _, want := range []string{`class="alert inactive" data-alert="Quiet"`, "Not firing", `class="alert pending" data-alert="Soon"`, "Not run yet.", "2 of the transitions are not drawn", "0 now"} {
		if !strings.Contains(out, want) {
			t.Errorf("partial snapshot: the page does not contain %q", want)
		}
	}
	if n := strings.Count(out, `<g class="node"`); n != 2 {
		t.Errorf("%d stage nodes, want 2", n)
	}
	if n := strings.Count(out, `<path class="link`); n != 0 {
		t.Errorf("%d ribbons for transitions that cannot be drawn, want 0", n)
	}
}

func TestHandler(t *testing.T) {
	calls := 0
	h := Handler(func() journey.Snapshot { calls++; return streamingSnapshot() })

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": contentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("GET /: %s is %q, want %q", k, got, want)
		}
	}
	body := rec.Body.String()
	if !strings.Contains(body, `data-alert="TrialConversionLow"`) || !strings.Contains(body, `<meta http-equiv="refresh" content="60">`) {
		t.Errorf("GET /: not the page of the snapshot, reloading itself")
	}
	if calls != 1 {
		t.Errorf("the snapshot was taken %d times for one request", calls)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /: %d, %d bytes of body, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics: %d, want 404 (not this handler's)", rec.Code)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 48211: "48,211", 1204332: "1,204,332", -12345: "-12,345"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "—", 12 * time.Second: "12s", 45 * time.Minute: "45m", 3 * time.Hour: "3h", 200 * time.Minute: "3h 20m",
		24 * time.Hour: "1d", 6*24*time.Hour + 20*time.Hour + 5*time.Minute: "6d 20h",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := percent(2050.0 / 16000); got != "12.8%" {
		t.Errorf("percent = %q", got)
	}
	if got := when(time.Time{}); got != "never" {
		t.Errorf("when(zero) = %q", got)
	}
}
