package serve_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/testutil/browser"
)

var shotsDir = flag.String("shots", "", "keep the browser's screenshots of the page and its panels in this folder, to look at")

// TestBrowserDrillDown serves the sample data as `journey serve` does and
// clicks through the page in a real browser: every panel a click opens
// must show the numbers of the generator's cohorts, or the API's where the
// generator has none.
func TestBrowserDrillDown(t *testing.T) {
	tab := browser.Start(t)
	shots := *shotsDir
	if shots == "" {
		shots = t.TempDir()
	}
	// open loads the page afresh. The document it leaves is marked, so that
	// what it waits for is in the new one, also when the URL is the same.
	open := func(t *testing.T, query string) {
		t.Helper()
		tab.Do(t, "open the page"+query, chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.left = "true"`),
			chromedp.Navigate(api.URL+"/"+query),
			chromedp.WaitVisible(chromedp.CSS("html:not([data-left]) #trends[data-state=ready]")),
			chromedp.WaitVisible(chromedp.CSS("html:not([data-left]) #revenue[data-state=ready]")))
	}
	panel := func(t *testing.T, step, view string, click chromedp.Action[chromedp.Void]) {
		t.Helper()
		tab.Do(t, step, click, chromedp.WaitVisible(chromedp.CSS(`#drill[data-view="`+view+`"][data-state=ready]`)))
	}
	panelShot := func(t *testing.T, name string) {
		t.Helper()
		tab.ScreenshotWindow(t, filepath.Join(shots, name), browser.Eval[int64](t, tab, `document.getElementById("drill").scrollHeight`))
	}
	t.Cleanup(func() {
		for _, e := range tab.Exceptions() {
			t.Errorf("the page threw: %s", e)
		}
	})

	t.Run("page", func(t *testing.T) {
		open(t, "")
		tab.Do(t, "wait for the KPIs", chromedp.WaitVisible(chromedp.CSS("#kpis[data-state=ready]")))
		tab.Screenshot(t, filepath.Join(shots, "live-page.png"))
	})

	t.Run("alert", func(t *testing.T) {
		const alert = "StreamingDropAfterBillingFailure"
		var want drill.AlertView
		get(t, "/api/v1/alerts/"+alert, &want)
		open(t, "")
		panel(t, "click the alert", "alert", chromedp.Click(chromedp.CSS(`li.alert[data-alert="`+alert+`"]`)))
		type listed struct {
			ID     string
			Values []struct{ Call, Shown string }
		}
		users := browser.Eval[[]listed](t, tab, `[...document.querySelectorAll("#drill .alert-users > li[data-user]")].map(li => ({
			ID: li.dataset.user,
			Values: [...li.querySelectorAll("tr[data-call]")].map(tr => ({Call: tr.dataset.call, Shown: tr.querySelector("td.n").textContent}))}))`)
		if n := manifest.Journey.AlertsAtAsOf[alert]; int64(len(users)) != n || len(want.Users) != len(users) {
			t.Fatalf("the panel lists %d users; the generator measured %d, the API lists %d", len(users), n, len(want.Users))
		}
		for i, u := range users {
			w := want.Users[i]
			if u.ID != w.ID || len(u.Values) != len(w.Values) {
				t.Fatalf("row %d: %+v; the API: %+v", i, u, w)
			}
			for j, v := range u.Values {
				if v.Call != w.Values[j].Call || v.Shown != jsNumber(w.Values[j].Value) {
					t.Errorf("user %s: %s shows %q, the API answers %v", u.ID, v.Call, v.Shown, w.Values[j].Value)
				}
			}
		}

		// One of them: their timeline.
		id := users[0].ID
		var u drill.UserView
		get(t, "/api/v1/users/"+url.PathEscape(id), &u)
		panel(t, "click user "+id, "user", chromedp.Click(chromedp.CSS(`#drill .alert-users li[data-user="`+id+`"] button.user-link`)))
		if n := browser.Eval[int](t, tab, `document.querySelectorAll("#drill table.events tbody tr").length`); n != len(u.Events) || n == 0 {
			t.Errorf("the timeline lists %d events; the API %d", n, len(u.Events))
		}
		if got := text(t, tab, `#drill [data-measure=stage]`); got != u.Stage {
			t.Errorf("the timeline says stage %q; the API %q", got, u.Stage)
		}
		if got := browser.Eval[int](t, tab, `document.querySelectorAll('#drill .user-alerts li[data-alert="`+alert+`"] tr[data-call]').length`); got != len(u.Alerts[0].Values) {
			t.Errorf("the timeline shows the alert with %d values; the API %d", got, len(u.Alerts[0].Values))
		}
		touchpoints := browser.Eval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#drill .touchpoints li")].map(li => [li.dataset.touchpoint, li.querySelector("b").textContent]))`)
		for tp, n := range u.Touchpoints {
			if touchpoints[tp] != commas(int64(n)) {
				t.Errorf("touchpoint %s: the timeline shows %q events, the API %d", tp, touchpoints[tp], n)
			}
		}
		if moves := browser.Eval[int](t, tab, `document.querySelectorAll("#drill ol.moves li").length`); moves != len(u.Moves) {
			t.Errorf("the timeline shows %d stages entered; the API %d moves", moves, len(u.Moves))
		}
		panelShot(t, "user-timeline.png")

		// Back to the alert, then Escape closes the panel and gives the
		// focus back to the alert it was opened from.
		panel(t, "go back", "alert", chromedp.Click(chromedp.CSS(`#drill [data-action=back]`)))
		tab.Do(t, "press Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS("#drill")))
		if got := browser.Eval[string](t, tab, `document.activeElement.dataset.alert || ""`); got != alert {
			t.Errorf("after closing the panel the focus is on %q, want the alert", got)
		}
	})

	t.Run("stage", func(t *testing.T) {
		var first, second drill.StageView
		get(t, "/api/v1/stages/Trial?limit=25", &first)
		get(t, "/api/v1/stages/Trial?limit=25&offset=25", &second)
		open(t, "")
		panel(t, "click stage Trial in the flow", "stage", chromedp.Click(chromedp.CSS(`.sankey .node[data-stage="Trial"] rect.through`)))
		if got := text(t, tab, "#drill [data-measure=users]"); got != commas(first.Users) {
			t.Errorf("the panel shows %s users; the API %d", got, first.Users)
		}
		checkPercent(t, "churn rate", text(t, tab, "#drill [data-measure=churn-rate]"), first.ChurnRate)
		shown := browser.Eval[map[string]map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#drill table.breakdown")].map(tb =>
			[tb.dataset.segment, Object.fromEntries([...tb.querySelectorAll("tbody tr")].map(tr => [tr.dataset.value, tr.querySelector("td.n").textContent]))]))`)
		if len(shown) != len(first.Breakdown) {
			t.Errorf("the panel breaks the users down by %d segments; the API by %d", len(shown), len(first.Breakdown))
		}
		for _, b := range first.Breakdown {
			var sum int64
			for _, v := range b.Values {
				sum += v.Users
				if shown[b.Segment][v.Value] != commas(v.Users) {
					t.Errorf("%s=%q: the panel shows %q users, the API %d", b.Segment, v.Value, shown[b.Segment][v.Value], v.Users)
				}
			}
			if len(shown[b.Segment]) != len(b.Values) || sum != first.Users {
				t.Errorf("%s: %d values shown of the API's %d, which add up to %d of %d users", b.Segment, len(shown[b.Segment]), len(b.Values), sum, first.Users)
			}
		}
		checkUsers(t, tab, "the first page", first.Page)
		panelShot(t, "stage-trial.png")
		tab.Do(t, "click next", chromedp.Click(chromedp.CSS(`#drill button[data-page=next]`)),
			chromedp.WaitVisible(chromedp.CSS(`#drill .pager[data-offset="25"]`)))
		checkUsers(t, tab, "the next page", second.Page)
		if got := text(t, tab, "#drill .page-info"); got != fmt.Sprintf("26–%d of %d", 25+len(second.Page.Users), first.Users) {
			t.Errorf("the pager says %q", got)
		}
		tab.Do(t, "click previous", chromedp.Click(chromedp.CSS(`#drill button[data-page=previous]`)),
			chromedp.WaitVisible(chromedp.CSS(`#drill .pager[data-offset="0"]`)))
		checkUsers(t, tab, "the first page again", first.Page)
	})

	t.Run("funnel", func(t *testing.T) {
		var dropped, converted drill.FlowView
		get(t, "/api/v1/flows/Trial/Subscribed?limit=25", &dropped)
		get(t, "/api/v1/flows/Trial/Subscribed?limit=25&outcome=converted", &converted)
		open(t, "")
		panel(t, "click the funnel step Trial → Subscribed", "flow", chromedp.Click(chromedp.CSS(`li.step[data-step="Trial→Subscribed"]`)))
		checkFlow(t, tab, dropped)
		checkUsers(t, tab, "dropped off", dropped.Page)
		panel(t, "toggle to converted", "flow", chromedp.Click(chromedp.CSS(`#drill button[data-outcome=converted]`)))
		tab.Do(t, "wait for the converted users", chromedp.WaitVisible(chromedp.CSS(`#drill button[data-outcome=converted][aria-pressed=true]`)))
		checkUsers(t, tab, "converted", converted.Page)
		for _, u := range converted.Page.Users {
			if u.Stage == "Discovery" || u.Stage == "Trial" {
				t.Errorf("user %s is listed as converted to Subscribed but is in %s", u.ID, u.Stage)
			}
		}
		flows := browser.Eval[map[string]map[string][2]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#drill table.breakdown")].map(tb =>
			[tb.dataset.segment, Object.fromEntries([...tb.querySelectorAll("tbody tr")].map(tr =>
				[tr.dataset.value, [tr.querySelector("[data-measure=converted]").textContent, tr.querySelector("[data-measure=dropped]").textContent]]))]))`)
		for _, b := range converted.Breakdown {
			for _, v := range b.Values {
				if got := flows[b.Segment][v.Value]; got != [2]string{commas(v.Converted), commas(v.Dropped)} {
					t.Errorf("%s=%q: the panel shows %v converted/dropped, the API %d/%d", b.Segment, v.Value, got, v.Converted, v.Dropped)
				}
			}
		}
		panelShot(t, "flow-trial-subscribed.png")

		// The ribbon, from the keyboard: the same flow.
		tab.Do(t, "close the panel", chromedp.Click(chromedp.CSS(`#drill [data-action=close]`)), chromedp.WaitNotVisible(chromedp.CSS("#drill")))
		panel(t, "focus the ribbon Trial → Subscribed and press Enter", "flow", chromedp.Steps(
			chromedp.Focus(chromedp.CSS(`.sankey path.link[data-from="Trial"][data-to="Subscribed"]`)), chromedp.KeyEvent(kb.Enter)))
		checkFlow(t, tab, dropped)
	})

	t.Run("source", func(t *testing.T) {
		open(t, "")
		panel(t, "click source billing-stripe", "source", chromedp.Click(chromedp.CSS(`tr[data-source="billing-stripe"]`)))
		exp := manifest.Sources["billing-stripe"].Expected
		if got := text(t, tab, "#drill [data-measure=pending]"); got != commas(exp.Quarantined) {
			t.Errorf("the panel shows %s pending review; the generator planted %d", got, exp.Quarantined)
		}
		byCheck := browser.Eval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#drill table.checks tbody tr")].map(tr => [tr.dataset.check, tr.querySelector("td.n").textContent]))`)
		for check, n := range exp.Checks {
			if check == "test-mode" { // Reject: dropped, not held
				continue
			}
			if byCheck[check] != commas(n) {
				t.Errorf("check %s: the panel shows %q pending, the generator planted %d", check, byCheck[check], n)
			}
		}
		if n := browser.Eval[int](t, tab, `document.querySelectorAll("#drill table.examples tbody tr").length`); n == 0 {
			t.Error("the panel shows no example of what is held")
		}
	})

	t.Run("filter", func(t *testing.T) {
		var want drill.JourneyView
		get(t, "/api/v1/journey?"+seg("country", "US"), &want)
		open(t, "")
		// As a person choosing US in the country list.
		tab.Do(t, "choose country US", chromedp.WaitVisible(chromedp.CSS(`select[data-segment=country][data-ready=true]`)),
			// SetValue fires input and change, as a person's choice does;
			// the page reloads on change.
			chromedp.SetValue(chromedp.CSS(`select[data-segment=country]`), "US"),
			chromedp.WaitVisible(chromedp.CSS(`[data-filtered]`)),
			chromedp.WaitVisible(chromedp.CSS("#revenue[data-state=ready]")))
		if got := browser.Eval[string](t, tab, `location.search`); got != "?"+seg("country", "US") {
			t.Errorf("the page reloaded at %q", got)
		}
		if got := text(t, tab, `.facts div:first-child dd`); got != commas(want.Users) {
			t.Errorf("the header shows %s users; the filtered journey has %d", got, want.Users)
		}
		nodes := browser.Eval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll(".sankey .node")].map(g => [g.dataset.stage, g.querySelector(".stage-now").textContent]))`)
		for _, st := range want.Stages {
			if !strings.HasPrefix(nodes[st.Name], commas(st.Users)+" now") {
				t.Errorf("the flow shows stage %s with %q; the filtered API %d users in it", st.Name, nodes[st.Name], st.Users)
			}
		}
		steps := browser.Eval[map[string][]string](t, tab, `Object.fromEntries([...document.querySelectorAll("li.step")].map(li => [li.dataset.step, [...li.querySelectorAll(".step-meta b")].map(b => b.textContent)]))`)
		for _, f := range want.Funnel {
			got := steps[f.From+"→"+f.To]
			if len(got) < 3 || got[0] != commas(f.Entered) || got[1] != commas(f.Converted) || got[2] != commas(f.Dropped) {
				t.Errorf("funnel step %s → %s shows %v; the filtered API %d entered, %d converted, %d dropped", f.From, f.To, got, f.Entered, f.Converted, f.Dropped)
			}
		}
		for _, a := range want.Alerts {
			got := text(t, tab, `li.alert[data-alert="`+a.Name+`"] .counts b`)
			if got != commas(a.Firing) {
				t.Errorf("alert %s shows %s firing; the filtered API %d", a.Name, got, a.Firing)
			}
		}
		// The panels carry the filter.
		var alert drill.AlertView
		get(t, "/api/v1/alerts/StreamingDropAfterBillingFailure?"+seg("country", "US"), &alert)
		panel(t, "click the alert", "alert", chromedp.Click(chromedp.CSS(`li.alert[data-alert="StreamingDropAfterBillingFailure"]`)))
		if n := browser.Eval[int](t, tab, `document.querySelectorAll("#drill .alert-users > li").length`); n != len(alert.Users) || alert.Firing >= manifest.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"] {
			t.Errorf("filtered, the alert lists %d users; the filtered API %d of %d", n, len(alert.Users), manifest.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"])
		}

		// A filter the API refuses: its reason, and every user.
		status, body := fetch(t, "/api/v1/journey?"+seg("tier", "gold"))
		var refused struct{ Error string }
		if err := json.Unmarshal(body, &refused); status != 400 || err != nil {
			t.Fatalf("the API takes segment tier: %d %s", status, body)
		}
		tab.Do(t, "open the page with an unknown segment", chromedp.Navigate(api.URL+"/?"+seg("tier", "gold")), chromedp.WaitVisible(chromedp.CSS("[data-problem]")),
			chromedp.WaitVisible(chromedp.CSS("#revenue[data-state=ready]")))
		reason := `segment "tier" is not one of the map's spec.segments (plan, country, device)`
		if got := text(t, tab, "[data-problem]"); !strings.Contains(refused.Error, reason) || !strings.Contains(got, refused.Error) {
			t.Errorf("the page says %q; the API %q", got, refused.Error)
		}
		if got := text(t, tab, `.facts div:first-child dd`); got != commas(manifest.Journey.Users) {
			t.Errorf("with the filter refused the header shows %s users, want every user (%d)", got, manifest.Journey.Users)
		}
	})

	t.Run("trends and revenue", func(t *testing.T) {
		var tr drill.TrendsView
		get(t, "/api/v1/trends", &tr)
		var rv drill.RevenueView
		get(t, "/api/v1/revenue", &rv)
		open(t, "")
		legend := browser.Eval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#trends .trend-legend li")].map(li => [li.dataset.stage, li.querySelector("b").textContent]))`)
		last := len(tr.Weeks) - 1
		for _, s := range tr.Stages {
			if legend[s.Stage] != commas(s.Users[last]) {
				t.Errorf("trends: stage %s ends at %q, the API %d", s.Stage, legend[s.Stage], s.Users[last])
			}
		}
		if n := browser.Eval[int](t, tab, `document.querySelectorAll("#trends svg.trend circle").length`); n != len(tr.Weeks)*len(tr.Stages) {
			t.Errorf("the chart has %d points, want %d weeks × %d stages", n, len(tr.Weeks), len(tr.Stages))
		}
		cohorts := browser.Eval[map[string][]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#trends table.cohorts tbody tr")].map(tr => [tr.dataset.week, [...tr.querySelectorAll("td.n")].map(td => td.textContent)]))`)
		for _, c := range tr.Cohorts {
			got := cohorts[c.Week.Format("2006-01-02")]
			if len(got) != 1+len(c.Reached) || got[0] != commas(c.Users) {
				t.Errorf("cohort %s: %v; the API %d users", c.Week.Format("2006-01-02"), got, c.Users)
				continue
			}
			for j, r := range c.Reached {
				if c.Users > 0 {
					checkPercent(t, fmt.Sprintf("cohort %s reaching %s", c.Week.Format("2006-01-02"), tr.Stages[j].Stage), got[1+j], r)
				}
			}
		}

		tile := func(name, measure string) string {
			return text(t, tab, `#revenue [data-tile="`+name+`"] [data-measure=`+measure+`]`)
		}
		if got := tile("recovered", "users"); got != commas(manifest.Journey.PaymentFailures.Recovered) || rv.Recovered.Users != manifest.Journey.PaymentFailures.Recovered {
			t.Errorf("recovered: the page shows %s users, the API %d, the generator made %d", got, rv.Recovered.Users, manifest.Journey.PaymentFailures.Recovered)
		}
		if got := tile("at-risk", "users"); got != commas(rv.AtRisk.Users) {
			t.Errorf("at risk: the page shows %s users, the API %d", got, rv.AtRisk.Users)
		}
		for name, r := range map[string]drill.Revenue{"at-risk": rv.AtRisk, "recovered": rv.Recovered} {
			shown := tile(name, "amount")
			for currency, amount := range r.Amount {
				if !strings.Contains(shown, money(amount)) {
					t.Errorf("%s: the page shows %q, without the API's %s %.2f", name, shown, currency, amount)
				}
			}
		}
		byStage := browser.Eval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#revenue table.by-stage tbody tr")].map(tr => [tr.dataset.stage, tr.querySelector("[data-measure=users]").textContent]))`)
		for _, s := range rv.ByStage {
			if byStage[s.Stage] != commas(s.Users) {
				t.Errorf("revenue of %s: %q paying users shown, the API %d", s.Stage, byStage[s.Stage], s.Users)
			}
		}

		// The KPI card: what each check found and holds, survey responses,
		// and renewal week by week, as the API measures them.
		var k drill.KPIView
		get(t, "/api/v1/kpis", &k)
		tab.Do(t, "wait for the KPIs", chromedp.WaitVisible(chromedp.CSS("#kpis[data-state=ready]")))
		checks := browser.Eval[map[string][]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#kpis table.discrepancies tbody tr")].map(tr =>
			[tr.dataset.source + "/" + tr.dataset.check, [...tr.querySelectorAll("td.n")].map(td => td.textContent)]))`)
		if len(checks) != len(k.Discrepancies) {
			t.Errorf("the KPI card lists %d checks that found something; the API %d", len(checks), len(k.Discrepancies))
		}
		for _, d := range k.Discrepancies {
			if got := checks[d.Source+"/"+d.Check]; len(got) < 2 || got[0] != commas(d.Found) || got[1] != commas(d.Pending) {
				t.Errorf("discrepancies %s/%s: the card shows %v found/pending, the API %d/%d", d.Source, d.Check, got, d.Found, d.Pending)
			}
		}
		responses := browser.Eval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll("#kpis table.kpi-surveys tbody tr")].map(tr => [tr.dataset.survey, tr.querySelectorAll("td.n")[1].textContent]))`)
		for _, sv := range k.Surveys {
			if responses[sv.Trigger] != commas(sv.Responses) {
				t.Errorf("survey %s: the card shows %q responses, the API %d", sv.Trigger, responses[sv.Trigger], sv.Responses)
			}
		}
		renewal := browser.Eval[[]string](t, tab, `[...document.querySelectorAll("#kpis table.kpi-weeks tbody [data-measure=renewal]")].map(td => td.textContent)`)
		if len(renewal) != len(k.Weeks) {
			t.Fatalf("the card shows renewal for %d weeks; the API %d", len(renewal), len(k.Weeks))
		}
		for w, shown := range renewal {
			if k.Renewal.Paying[w] > 0 {
				checkPercent(t, "renewal in the week of "+k.Weeks[w].Format("2006-01-02"), shown, k.Renewal.Rate[w])
			}
		}
	})
}

// text is an element's text as shown.
func text(t *testing.T, tab *browser.Tab, css string) string {
	t.Helper()
	return browser.Eval[string](t, tab, `(document.querySelector(`+strconv.Quote(css)+`) || {textContent: "(missing: `+strings.ReplaceAll(css, `"`, `'`)+`)"}).textContent.trim()`)
}

// checkUsers checks the panel lists a page's users, in its order.
func checkUsers(t *testing.T, tab *browser.Tab, what string, want drill.Page) {
	t.Helper()
	got := browser.Eval[[]string](t, tab, `[...document.querySelectorAll("#drill table.users tbody tr")].map(tr => tr.dataset.user)`)
	ids := make([]string, len(want.Users))
	for i, u := range want.Users {
		ids[i] = u.ID
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("%s: the panel lists %v; the API %v", what, got, ids)
	}
}

// checkFlow checks the flow panel's counts.
func checkFlow(t *testing.T, tab *browser.Tab, want drill.FlowView) {
	t.Helper()
	if got := text(t, tab, "#drill [data-measure=entered]"); got != commas(manifest.Journey.Trials) || want.Entered != manifest.Journey.Trials {
		t.Errorf("the panel shows %s entered Trial; the API %d, the generator made %d trials", got, want.Entered, manifest.Journey.Trials)
	}
	for measure, n := range map[string]int64{"converted": want.Converted, "dropped": want.Dropped} {
		if got := text(t, tab, "#drill [data-measure="+measure+"]"); got != commas(n) {
			t.Errorf("the panel shows %s %s; the API %d", got, measure, n)
		}
	}
}

// checkPercent checks a share the page shows to a tenth of a percent.
func checkPercent(t *testing.T, what, shown string, want float64) {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(shown, "%"), 64)
	if err != nil || !strings.HasSuffix(shown, "%") || math.Abs(v-100*want) > 0.05+1e-9 {
		t.Errorf("%s: the page shows %q, the API %.4f%%", what, shown, 100*want)
	}
}

// commas writes a count as the page does: 1,064.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// money writes an amount as the page does, without its currency sign.
func money(v float64) string {
	whole, cents := math.Modf(math.Round(v*100) / 100)
	return commas(int64(whole)) + fmt.Sprintf("%.2f", cents)[1:]
}

// jsNumber writes a helper call's value as the page does: counts as
// counts, sums to two decimals.
func jsNumber(v float64) string {
	if v == math.Trunc(v) {
		return commas(int64(v))
	}
	r := math.Round(v*100) / 100
	whole, frac := math.Modf(r)
	return commas(int64(whole)) + strings.TrimRight(fmt.Sprintf("%.2f", frac)[1:], "0")
}
