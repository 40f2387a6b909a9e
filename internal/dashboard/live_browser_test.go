package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/testutil/browser"
)

// hostile is what a customer's system may put in a user ID, a segment value
// or an event attribute; the page must show it as text.
const hostile = `<img src=x onerror="window.pwned=1">&amp;"'/`

// standInAPI answers the drill-down API's routes with fixed JSON full of
// hostile text, and records the segment filters each request carried.
type standInAPI struct {
	mu      sync.Mutex
	filters map[string][][]string // by path
}

func (a *standInAPI) handler() http.Handler {
	user := map[string]any{"id": hostile, "stage": "Trial", "enteredAt": "2026-11-20T10:00:00Z", "risk": 0.42,
		"segments": map[string]string{"plan": hostile}}
	values := []map[string]any{{"call": `user.count("billing", "invoice.payment_failed", duration("168h"))`, "value": 2}, {"call": hostile, "value": 12.345}}
	answers := map[string]any{
		"GET /api/v1/journey": map[string]any{"breakdown": []map[string]any{
			{"segment": "plan", "values": []map[string]any{{"value": hostile, "users": 3}, {"value": "", "users": 1}}},
			{"segment": "device", "values": []map[string]any{{"value": "roku", "users": 4}}},
		}},
		"GET /api/v1/alerts/{alert}": map[string]any{"name": "StreamingDropAfterBillingFailure", "scope": "User", "severity": "warning", "firing": 1,
			"users": []map[string]any{merge(user, map[string]any{"firing": true, "activeAt": "2026-11-23T07:00:00Z", "values": values})}},
		"GET /api/v1/users/{user}": merge(user, map[string]any{
			"moves":   []map[string]any{{"From": "", "To": "Discovery", "At": "2026-11-01T00:00:00Z"}, {"From": "Discovery", "To": "Trial", "At": "2026-11-20T10:00:00Z"}},
			"revenue": map[string]any{"amount": 9.99, "currency": "usd"},
			"alerts":  []map[string]any{merge(user, map[string]any{"id": "StreamingDropAfterBillingFailure", "firing": true, "activeAt": "2026-11-23T07:00:00Z", "values": values})},
			"events": []map[string]any{
				{"at": "2026-11-20T10:00:00Z", "touchpoint": "billing", "type": hostile, "amount": 9.99, "currency": "<b>usd</b>", "attributes": map[string]any{hostile: hostile}},
				{"at": "2026-11-21T10:00:00Z", "touchpoint": "feedback", "type": "survey.answered", "attributes": map[string]any{"score": 2.5}},
			},
			"surveys":     []map[string]any{{"at": "2026-11-21T10:00:00Z", "touchpoint": "feedback", "type": "survey.answered", "attributes": map[string]any{"comment": hostile}}},
			"quarantined": []map[string]any{{"id": 7, "source": "media/billing-stripe", "check": hostile, "reason": hostile, "status": "Pending", "heldAt": "2026-11-22T00:00:00Z"}},
			"touchpoints": map[string]int{"billing": 1, "feedback": 1},
		}),
		"GET /api/v1/trends": map[string]any{
			"weeks":   []string{"2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z"},
			"stages":  []map[string]any{{"stage": "Discovery", "users": []int{10, 12}}, {"stage": "Trial", "users": []int{3, 4}}},
			"cohorts": []map[string]any{{"week": "2026-11-09T00:00:00Z", "users": 10, "reached": []float64{1, 0.3}}, {"week": "2026-11-16T00:00:00Z", "users": 0, "reached": []float64{0, 0}}},
		},
		"GET /api/v1/revenue": map[string]any{
			"byStage":   []map[string]any{{"stage": "Trial", "users": 2, "amount": map[string]float64{"usd": 19.98, "<i>xx</i>": 1}}},
			"atRisk":    map[string]any{"users": 1, "amount": map[string]float64{"usd": 9.99}},
			"recovered": map[string]any{"users": 0, "amount": map[string]float64{}}, "atRiskStage": "AtRisk",
		},
		"GET /api/v1/kpis": map[string]any{
			"discrepancies": []map[string]any{{"source": hostile, "check": "decode", "found": 4, "pending": 1, "released": 2, "discarded": 1}},
			"resolution":    map[string]any{"reviews": map[string]any{"reviewed": 3, "medianSeconds": 7200, "pending": 1, "oldestPendingSeconds": 90000}},
			"surveys":       []map[string]any{{"trigger": "exit-survey", "stage": "Churned", "sent": 10, "responses": 4, "rate": 0.4}},
			"weeks":         []string{"2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z"},
			"conversion":    []map[string]any{{"from": "Trial", "to": "Subscribed", "entered": []int{5, 0}, "rate": []float64{0.2, 0}, "complete": []bool{true, false}}},
			"renewal":       map[string]any{"paying": []int{8, 9}, "churned": []int{1, 0}, "rate": []float64{0.875, 1}},
		},
	}
	mux := http.NewServeMux()
	for pattern, answer := range answers {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("user") != "" && r.PathValue("user") != hostile {
				http.Error(w, `{"error":"not that user"}`, http.StatusNotFound)
				return
			}
			a.mu.Lock()
			a.filters[r.URL.Path] = append(a.filters[r.URL.Path], r.URL.Query()["segment"])
			a.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(answer)
		})
	}
	return mux
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestLiveBrowserShowsDataAsText clicks through the live page, filtered by
// a hostile segment value, beside a stand-in API: whatever the data holds
// stays text, every panel asks with the page's filter, and the KPI card
// shows the API's KPIs.
func TestLiveBrowserShowsDataAsText(t *testing.T) {
	tab := browser.Start(t)
	a := &standInAPI{filters: map[string][][]string{}}
	mux := http.NewServeMux()
	mux.Handle("/api/", a.handler())
	mux.Handle("/", LiveHandler(LiveOptions{Segments: []string{"plan", "device"},
		Snapshot: func(url.Values) (journey.Snapshot, error) { return streamingSnapshot(), nil }}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	filter := "plan=" + hostile

	tab.Do(t, "open the page", chromedp.Navigate(srv.URL+"/?segment="+url.QueryEscape(filter)),
		chromedp.WaitVisible(chromedp.CSS("#trends[data-state=ready]")), chromedp.WaitVisible(chromedp.CSS("#revenue[data-state=ready]")),
		chromedp.WaitVisible(chromedp.CSS("#kpis[data-state=ready]")), chromedp.WaitVisible(chromedp.CSS("select[data-segment=plan][data-ready=true]")))
	if got := browser.Eval[[]string](t, tab, `[...document.querySelectorAll("select[data-segment=plan] option")].map(o => o.textContent)`); !slices.Equal(got, []string{"all", hostile + " (3)"}) {
		t.Errorf("the plan filter offers %q", got)
	}
	if got := browser.Eval[string](t, tab, `document.querySelector("select[data-segment=plan]").value`); got != hostile {
		t.Errorf("the plan filter shows %q chosen, want the page's filter", got)
	}
	kpis := browser.Eval[map[string]int](t, tab, `({discrepancies: document.querySelectorAll("#kpis table.discrepancies tbody tr").length,
		surveys: document.querySelectorAll("#kpis table.kpi-surveys tbody tr").length,
		greyed: document.querySelectorAll("#kpis table.kpi-weeks td.incomplete").length})`)
	if kpis["discrepancies"] != 1 || kpis["surveys"] != 1 || kpis["greyed"] != 1 {
		t.Errorf("the KPI card shows %v, want a discrepancy, a survey and one cohort still converting", kpis)
	}
	if got := browser.Eval[string](t, tab, `document.querySelector("#kpis [data-measure=reviews-median]").textContent`); got != "2h" {
		t.Errorf("median time to review %q, want 2h", got)
	}

	tab.Do(t, "click the alert", chromedp.Click(chromedp.CSS(`li.alert[data-alert="StreamingDropAfterBillingFailure"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#drill[data-view=alert][data-state=ready]`)))
	if got := browser.Eval[string](t, tab, `document.querySelector("#drill .alert-users button.user-link").textContent`); got != hostile {
		t.Errorf("the alert lists user %q, want the ID as text", got)
	}
	tab.Do(t, "click the user", chromedp.Click(chromedp.CSS(`#drill .alert-users button.user-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#drill[data-view=user][data-state=ready]`)))
	shown := browser.Eval[string](t, tab, `document.getElementById("drill").textContent`)
	for _, want := range []string{"User " + hostile, hostile + ": " + hostile, "score: 2.5", "comment: " + hostile, "$9.99"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the timeline does not show %q", want)
		}
	}
	markup := browser.Eval[map[string]any](t, tab, `({imgs: document.querySelectorAll("img").length, italics: document.querySelectorAll("i").length, pwned: window.pwned === undefined ? null : window.pwned})`)
	if markup["imgs"] != 0.0 || markup["italics"] != 0.0 || markup["pwned"] != nil {
		t.Errorf("data became markup: %v", markup)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	for path, asked := range a.filters {
		for _, f := range asked {
			// The plan filter's own choices are asked for without it.
			if !slices.Equal(f, []string{filter}) && (path != "/api/v1/journey" || len(f) != 0) {
				t.Errorf("GET %s carried segment filters %q, want the page's %q", path, f, filter)
			}
		}
	}
	if len(a.filters["/api/v1/journey"]) != 2 || len(a.filters) != 6 {
		t.Errorf("the page asked %v", a.filters)
	}
	for _, e := range tab.Exceptions() {
		t.Errorf("the page threw: %s", e)
	}
}
