package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/cmd/run"
	"github.com/cjm-dev/journey-operator/internal/cmd/serve"
	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/sampledata"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// The sample data, ingested by `journey run`, served by `journey serve`:
// every test below asks the API what a manager clicks on and checks it
// against the generator's truth or a second way of counting.
var (
	api      *httptest.Server
	manifest *sampledata.Manifest
	runOut   run.Output
	st       store.Store
)

func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "serve-test")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "data")
	manifest, err = sampledata.Generate(ctx, dir, sampledata.DefaultConfig())
	if err != nil {
		return 0, err
	}
	dsn := "sqlite://" + filepath.Join(tmp, "journey.db")
	var out bytes.Buffer
	if err := run.Run(ctx, []string{"-f", dir, "--store", dsn, "--as-of", manifest.Config.AsOf, "--html", "", "--output", "json"}, &out); err != nil {
		return 0, fmt.Errorf("journey run: %w", err)
	}
	if err := json.Unmarshal(out.Bytes(), &runOut); err != nil {
		return 0, err
	}
	folder, err := local.Load(dir)
	if err != nil {
		return 0, err
	}
	jm, err := folder.Map("")
	if err != nil {
		return 0, err
	}
	if st, err = store.Open(ctx, dsn); err != nil {
		return 0, err
	}
	defer st.Close()
	asOf, err := time.Parse(time.RFC3339, manifest.Config.AsOf)
	if err != nil {
		return 0, err
	}
	srv, err := serve.New(ctx, serve.Options{Folder: folder, Map: jm, Store: st, AsOf: func() time.Time { return asOf }})
	if err != nil {
		return 0, err
	}
	api = httptest.NewServer(srv.Handler())
	defer api.Close()
	return m.Run(), nil
}

// get asks the API and decodes its JSON answer into v.
func get(t *testing.T, path string, v any) {
	t.Helper()
	status, body := fetch(t, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func fetch(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(api.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	return resp.StatusCode, body
}

func seg(name, value string) string { return "segment=" + url.QueryEscape(name+"="+value) }

// The whole journey through the API is the journey `journey run` reports.
func TestJourneyIsTheEvaluatedOne(t *testing.T) {
	var j drill.JourneyView
	get(t, "/api/v1/journey", &j)
	want := runOut.Maps[0]
	if j.Users != want.Users || j.Users != int64(manifest.Journey.Users) {
		t.Errorf("users %d, journey run %d, generator %d", j.Users, want.Users, manifest.Journey.Users)
	}
	if len(j.Stages) != len(want.Stages) {
		t.Fatalf("stages %v, want %v", j.Stages, want.Stages)
	}
	for i, s := range j.Stages {
		if s.Name != want.Stages[i].Name || s.Users != want.Stages[i].Users {
			t.Errorf("stage %d: %s %d, journey run %s %d", i, s.Name, s.Users, want.Stages[i].Name, want.Stages[i].Users)
		}
	}
	for i, f := range j.Funnel {
		if c := want.Conversions[i]; f.From != c.From || f.To != c.To || f.Rate != c.Rate || f.Converted+f.Dropped != f.Entered {
			t.Errorf("funnel step %+v, journey run %+v", f, c)
		}
	}
	if j.Stages[len(j.Stages)-1].Expected != nil || j.Stages[1].Expected == nil {
		t.Errorf("expected churn: the last stage's users are not scored, the others are: %+v", j.Stages)
	}
	for _, a := range j.Alerts {
		if n, ok := manifest.Journey.AlertsAtAsOf[a.Name]; ok && a.Firing != int64(n) {
			t.Errorf("alert %s fires for %d users, the generator measured %d", a.Name, a.Firing, n)
		}
	}
}

// Every segment's values partition the users: the journey filtered by
// each value adds up, stage by stage, to the whole journey less the users
// without a value, and the stage's breakdown counts what the filter keeps.
func TestSegmentFilterPartitionsTheJourney(t *testing.T) {
	var all drill.JourneyView
	get(t, "/api/v1/journey", &all)
	for _, b := range all.Breakdown {
		t.Run(b.Segment, func(t *testing.T) {
			if len(b.Values) < 2 {
				t.Fatalf("segment %s has values %v: the sample data sets several", b.Segment, b.Values)
			}
			sum := make([]int64, len(all.Stages))
			var none int64
			for _, v := range b.Values {
				if v.Value == "" {
					none = v.Users
					continue
				}
				var f drill.JourneyView
				get(t, "/api/v1/journey?"+seg(b.Segment, v.Value), &f)
				if f.Users != v.Users || f.Filters[b.Segment] != v.Value {
					t.Errorf("%s=%s: %d users, the breakdown says %d", b.Segment, v.Value, f.Users, v.Users)
				}
				for i, s := range f.Stages {
					sum[i] += s.Users
				}
			}
			var noneByStage int64
			for i, s := range all.Stages {
				var sv drill.StageView
				get(t, "/api/v1/stages/"+s.Name+"?limit=1", &sv)
				if sv.Users != s.Users || sv.Page.Total != int(s.Users) {
					t.Errorf("stage %s: %d users (page total %d), the journey says %d", s.Name, sv.Users, sv.Page.Total, s.Users)
				}
				for _, sb := range sv.Breakdown {
					if sb.Segment != b.Segment {
						continue
					}
					for _, c := range sb.Values {
						if c.Value == "" {
							noneByStage += c.Users
						}
					}
				}
				if sum[i] > s.Users {
					t.Errorf("stage %s: the values add up to %d of %d users", s.Name, sum[i], s.Users)
				}
				sum[i] = s.Users - sum[i]
			}
			var left int64
			for _, n := range sum {
				left += n
			}
			if left != none || noneByStage != none {
				t.Errorf("users without a %s: %d by subtraction, %d by stage breakdowns, %d in the journey's breakdown", b.Segment, left, noneByStage, none)
			}
		})
	}
}

// A funnel step's flow: who converted and who dropped off, as the funnel
// counts them, by segment, and filtered.
func TestFlowBetweenStages(t *testing.T) {
	var all drill.JourneyView
	get(t, "/api/v1/journey", &all)
	step := all.Funnel[1] // Trial to Subscribed
	var fv drill.FlowView
	get(t, "/api/v1/flows/"+step.From+"/"+step.To+"?outcome=converted&limit=500", &fv)
	if fv.Entered != int64(manifest.Journey.Trials) || fv.Entered != step.Entered || fv.Converted != step.Converted || fv.Dropped != step.Dropped {
		t.Errorf("flow %d entered, %d converted, %d dropped; funnel %+v; the generator made %d trials", fv.Entered, fv.Converted, fv.Dropped, step, manifest.Journey.Trials)
	}
	if fv.Page.Total != int(fv.Converted) || len(fv.Page.Users) != fv.Page.Total {
		t.Errorf("converted page: %d of total %d, want %d", len(fv.Page.Users), fv.Page.Total, fv.Converted)
	}
	for _, u := range fv.Page.Users {
		if u.Stage == "Discovery" || u.Stage == "Trial" {
			t.Errorf("user %s converted to Subscribed but is in %s", u.ID, u.Stage)
		}
	}
	for _, b := range fv.Breakdown {
		var c, d int64
		for _, v := range b.Values {
			c, d = c+v.Converted, d+v.Dropped
		}
		if c != fv.Converted || d != fv.Dropped {
			t.Errorf("segment %s adds up to %d converted, %d dropped", b.Segment, c, d)
		}
		if b.Segment != "country" {
			continue
		}
		v := b.Values[0]
		var f drill.FlowView
		get(t, "/api/v1/flows/"+step.From+"/"+step.To+"?"+seg("country", v.Value), &f)
		var fj drill.JourneyView
		get(t, "/api/v1/journey?"+seg("country", v.Value), &fj)
		if f.Converted != v.Converted || f.Dropped != v.Dropped || fj.Funnel[1].Converted != v.Converted || f.Outcome != "dropped" {
			t.Errorf("country=%s: flow %d/%d, funnel %d, breakdown %d/%d", v.Value, f.Converted, f.Dropped, fj.Funnel[1].Converted, v.Converted, v.Dropped)
		}
	}
}

// An alert's users are the generator's cohort, each with the values that
// made the alert's expression hold.
func TestAlertUsersAndTheirValues(t *testing.T) {
	var av drill.AlertView
	get(t, "/api/v1/alerts/StreamingDropAfterBillingFailure", &av)
	if want := manifest.Journey.AlertsAtAsOf["StreamingDropAfterBillingFailure"]; av.Firing != want || int64(len(av.Users)) != want {
		t.Fatalf("%d firing, %d users listed; the generator measured %d", av.Firing, len(av.Users), want)
	}
	for _, u := range av.Users {
		if len(u.Values) != 3 || !u.Firing {
			t.Fatalf("user %s: %+v", u.ID, u)
		}
		failed, recent, before := u.Values[0].Value, u.Values[1].Value, u.Values[2].Value
		if !strings.HasPrefix(u.Values[0].Call, `user.count("billing", "invoice.payment_failed"`) || !(failed > 0 && recent < 0.5*before) {
			t.Errorf("user %s: values %+v do not make the expression hold", u.ID, u.Values)
		}
	}
	var one drill.UserView
	get(t, "/api/v1/users/"+url.PathEscape(av.Users[0].ID), &one)
	if len(one.Alerts) == 0 || one.Alerts[0].ID != "StreamingDropAfterBillingFailure" {
		t.Errorf("user %s's page lists alerts %+v", av.Users[0].ID, one.Alerts)
	}
	if one.Risk == nil || len(one.Factors) == 0 || len(one.Factors) > 3 || one.Factors[0].Push <= 0 {
		t.Errorf("user %s (%s): risk %v, factors %+v; want the model's top factors pushing the risk up", one.ID, one.Stage, one.Risk, one.Factors)
	}
	// Filtered: only the alert's users with the value.
	country := av.Users[0].Segments["country"]
	var f drill.AlertView
	get(t, "/api/v1/alerts/StreamingDropAfterBillingFailure?"+seg("country", country), &f)
	n := 0
	for _, u := range av.Users {
		if u.Segments["country"] == country {
			n++
		}
	}
	if len(f.Users) != n || f.Firing != int64(n) {
		t.Errorf("country=%s: %d users, want %d", country, len(f.Users), n)
	}
}

// A user's timeline holds every event the store has of them, their moves
// end in their stage, and a held record of theirs is listed.
func TestUserTimeline(t *testing.T) {
	held, err := st.FindQuarantine(context.Background(), store.QuarantineFilter{Source: "default/billing-stripe", Check: "one-payment-per-intent", Limit: 1})
	if err != nil || len(held) != 1 || held[0].Event == nil {
		t.Fatalf("a duplicate payment held for review: %v %+v", err, held)
	}
	id := held[0].Event.UserID
	var sources []string
	for name := range manifest.Sources {
		sources = append(sources, "default/"+name)
	}
	var u drill.UserView
	get(t, "/api/v1/users/"+url.PathEscape(id), &u)
	count := 0
	err = st.ScanEvents(context.Background(), store.EventQuery{Users: []string{id}, Sources: sources}, func(*store.Event, []byte) error { count++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range u.Touchpoints {
		total += n
	}
	if total != count || (len(u.Events) != count && !u.Truncated) {
		t.Errorf("user %s: %d events listed, %d by touchpoint, %d in the store", id, len(u.Events), total, count)
	}
	if len(u.Moves) == 0 || u.Moves[len(u.Moves)-1].To != u.Stage {
		t.Errorf("moves %+v end elsewhere than stage %s", u.Moves, u.Stage)
	}
	found := false
	for _, q := range u.Quarantined {
		found = found || q.ID == held[0].ID
	}
	if u.Risk != nil && (len(u.Factors) == 0 || len(u.Factors) > 3 || u.Factors[0].Push <= 0) {
		t.Errorf("user %s at risk %.2f: factors %+v, want up to 3 pushing it up", id, *u.Risk, u.Factors)
	}
	if !found || u.Revenue == nil || u.Revenue.Amount <= 0 {
		t.Errorf("user %s: held %+v (want record %d), revenue %+v", id, u.Quarantined, held[0].ID, u.Revenue)
	}
	for i := 1; i < len(u.Events); i++ {
		if u.Events[i].At.Before(u.Events[i-1].At) {
			t.Fatalf("timeline out of order at %d", i)
		}
	}
}

// A source's exceptions by check are what the generator planted and the
// run quarantined.
func TestSourceExceptions(t *testing.T) {
	var sv drill.SourceView
	get(t, "/api/v1/sources/billing-stripe", &sv)
	exp := manifest.Sources["billing-stripe"].Expected
	if sv.Pending != exp.Quarantined || !sv.Financial || sv.Touchpoint != "billing" {
		t.Errorf("pending %d, want %d: %+v", sv.Pending, exp.Quarantined, sv)
	}
	got := map[string]int64{}
	for _, c := range sv.ByCheck {
		got[c.Check] = c.Pending
	}
	for check, n := range exp.Checks {
		if check == "test-mode" { // Reject: dropped, not held
			continue
		}
		if got[check] != int64(n) {
			t.Errorf("check %s holds %d, the generator planted %d", check, got[check], n)
		}
	}
	if len(sv.Examples) == 0 || len(sv.Examples) > 10 {
		t.Errorf("%d examples", len(sv.Examples))
	}
	for _, e := range sv.Examples {
		if e.Status != store.QuarantinePending || e.Reason == "" {
			t.Errorf("example %+v", e)
		}
	}
}

// Trends end where the journey is now, and every user is in one cohort.
func TestTrends(t *testing.T) {
	var all drill.JourneyView
	get(t, "/api/v1/journey", &all)
	var tr drill.TrendsView
	get(t, "/api/v1/trends", &tr)
	if len(tr.Weeks) < 8 || len(tr.Stages) != len(all.Stages) || len(tr.Cohorts) != len(tr.Weeks) {
		t.Fatalf("%d weeks, %d stages, %d cohorts", len(tr.Weeks), len(tr.Stages), len(tr.Cohorts))
	}
	last := len(tr.Weeks) - 1
	for i, s := range tr.Stages {
		if s.Users[last] != all.Stages[i].Users {
			t.Errorf("stage %s ends the trend at %d, is %d now", s.Stage, s.Users[last], all.Stages[i].Users)
		}
	}
	churned := tr.Stages[len(tr.Stages)-1].Users
	for k := 1; k < len(churned); k++ {
		if churned[k] < churned[k-1] {
			t.Errorf("churned users fell from %d to %d: stages only move forward", churned[k-1], churned[k])
		}
	}
	var cohorts int64
	for _, c := range tr.Cohorts {
		cohorts += c.Users
		for j, r := range c.Reached {
			if r < 0 || r > 1 || (c.Users == 0 && r != 0) {
				t.Errorf("cohort %s reached stage %d: %v", c.Week, j, r)
			}
		}
	}
	if cohorts != all.Users {
		t.Errorf("cohorts hold %d users of %d", cohorts, all.Users)
	}
}

// Revenue: recurring revenue by stage, at risk in AtRisk and under alerts,
// and failed payments recovered later, as many as the generator made.
func TestRevenue(t *testing.T) {
	var rv drill.RevenueView
	get(t, "/api/v1/revenue", &rv)
	if rv.Recovered.Users != int64(manifest.Journey.PaymentFailures.Recovered) {
		t.Errorf("recovered payments: %d users, the generator made %d", rv.Recovered.Users, manifest.Journey.PaymentFailures.Recovered)
	}
	var atRiskStage int64
	for _, s := range rv.ByStage {
		if s.Stage == "Churned" || s.Users == 0 {
			t.Errorf("stage %+v: churned users pay nothing", s)
		}
		if s.Stage == rv.AtRiskStage {
			atRiskStage = s.Users
		}
	}
	if rv.AtRiskStage != "AtRisk" || atRiskStage == 0 || rv.AtRisk.Users < atRiskStage || rv.AtRisk.Amount["usd"] <= 0 {
		t.Errorf("at risk: %+v (stage %s holds %d paying users)", rv.AtRisk, rv.AtRiskStage, atRiskStage)
	}
	var us drill.RevenueView
	get(t, "/api/v1/revenue?"+seg("country", "US"), &us)
	if us.AtRisk.Amount["eur"] != 0 || us.AtRisk.Users >= rv.AtRisk.Users {
		t.Errorf("US users pay in dollars: %+v", us.AtRisk)
	}
}

// Paging: pages are slices of one order.
func TestPaging(t *testing.T) {
	var ten, second drill.StageView
	get(t, "/api/v1/stages/Churned?limit=10", &ten)
	get(t, "/api/v1/stages/Churned?limit=5&offset=5", &second)
	if len(ten.Page.Users) != 10 || len(second.Page.Users) != 5 || second.Page.Offset != 5 {
		t.Fatalf("pages of %d and %d", len(ten.Page.Users), len(second.Page.Users))
	}
	for i, u := range second.Page.Users {
		if u.ID != ten.Page.Users[5+i].ID {
			t.Errorf("offset 5, row %d: %s, want %s", i, u.ID, ten.Page.Users[5+i].ID)
		}
	}
	var trial drill.StageView
	get(t, "/api/v1/stages/Trial?limit=500", &trial)
	for i := 1; i < len(trial.Page.Users); i++ {
		if *trial.Page.Users[i].Risk > *trial.Page.Users[i-1].Risk {
			t.Fatalf("Trial's users are not riskiest first at row %d", i)
		}
	}
}

// Bad requests get a clear answer, naming what was wrong.
func TestBadRequests(t *testing.T) {
	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/api/v1/stages/Nope", 400, `stage "Nope" is not one of the map's stages`},
		{"/api/v1/journey?segment=plan", 400, "write it as name=value"},
		{"/api/v1/journey?segment=tier%3Dgold", 400, `segment "tier" is not one of the map's spec.segments (plan, country, device)`},
		{"/api/v1/stages/Trial?limit=0", 400, `limit "0": want a number from 1 to 500`},
		{"/api/v1/stages/Trial?limit=501", 400, `limit "501"`},
		{"/api/v1/stages/Trial?offset=-1", 400, `offset "-1"`},
		{"/api/v1/flows/Trial/Subscribed?outcome=maybe", 400, `outcome "maybe": want converted or dropped`},
		{"/api/v1/flows/Trial/Nope", 400, `stage "Nope"`},
		{"/api/v1/alerts/Nope", 400, `no alert "Nope" in the map`},
		{"/api/v1/users/cus_nobody", 404, `user "cus_nobody" not found`},
		{"/api/v1/sources/nope", 404, "source nope of this map not found"},
		{"/api/v1/nope", 404, "see README"},
		{"/api/v2/journey", 404, "see README"},
		{"/api/v1/journey?segment=country%3DAtlantis", 200, `"users":0`},
	} {
		status, body := fetch(t, c.path)
		var e struct{ Error string }
		if status != 200 && json.Unmarshal(body, &e) == nil {
			body = []byte(e.Error)
		}
		if status != c.status || !strings.Contains(string(body), c.says) {
			t.Errorf("GET %s: %d %s; want %d saying %q", c.path, status, body, c.status, c.says)
		}
	}
	resp, err := http.Post(api.URL+"/api/v1/journey", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// The page is served at /, as `journey run` writes it.
func TestPage(t *testing.T) {
	status, body := fetch(t, "/")
	if status != 200 || !bytes.Contains(body, []byte("streaming-journey")) {
		t.Fatalf("GET /: %d", status)
	}
}

// KPIs: discrepancies by source and check as the runs held them, how long
// reviews took once a reviewer acted, survey response rates, and every
// funnel step by weekly cohort adding up to the funnel.
func TestKPIs(t *testing.T) {
	var k drill.KPIView
	get(t, "/api/v1/kpis", &k)
	found := map[string]int64{}
	var pending int64
	for _, d := range k.Discrepancies {
		found[d.Source+"/"+d.Check] = d.Found
		if d.Pending != d.Found || d.Released+d.Discarded != 0 {
			t.Errorf("before any review: %+v", d)
		}
	}
	for name, src := range manifest.Sources {
		for check, n := range src.Expected.Checks {
			if check == "test-mode" {
				continue
			}
			if found[name+"/"+check] != int64(n) {
				t.Errorf("%s/%s found %d, the generator planted %d", name, check, found[name+"/"+check], n)
			}
		}
		pending += src.Expected.Quarantined
	}
	if r := k.Resolution.Reviews; r.Pending != pending || r.Reviewed != 0 || k.Resolution.Alerts != nil {
		t.Errorf("resolution before any review: %+v (want %d pending)", k.Resolution, pending)
	}

	var all drill.JourneyView
	get(t, "/api/v1/journey", &all)
	for j, c := range k.Conversion {
		var entered, converted float64
		for w := range k.Weeks {
			entered += float64(c.Entered[w])
			converted += c.Rate[w] * float64(c.Entered[w])
		}
		if step := all.Funnel[j]; int64(entered) != step.Entered || int64(converted+0.5) != step.Converted {
			t.Errorf("%s to %s by weekly cohort: %v entered, %.1f converted; the funnel says %d, %d", c.From, c.To, entered, converted, step.Entered, step.Converted)
		}
		if c.Complete[len(k.Weeks)-1] {
			t.Errorf("%s to %s: this week's cohort cannot have finished its conversion window", c.From, c.To)
		}
	}
	var churned int64
	for w := range k.Weeks {
		if k.Renewal.Churned[w] > k.Renewal.Paying[w] || k.Renewal.Rate[w] < 0 || k.Renewal.Rate[w] > 1 {
			t.Errorf("week %s: renewal %+v", k.Weeks[w], k.Renewal)
		}
		churned += k.Renewal.Churned[w]
	}
	if churned == 0 || churned > all.Stages[len(all.Stages)-1].Users {
		t.Errorf("%d paying customers churned week by week, of %d churned", churned, all.Stages[len(all.Stages)-1].Users)
	}
	for _, s := range k.Surveys {
		if s.Trigger == "exit-survey" && (s.Stage != "Churned" || s.Responses == 0 || s.Responses > manifest.Journey.ExitSurveyResponses) {
			t.Errorf("exit survey %+v; the generator made %d answer", s, manifest.Journey.ExitSurveyResponses)
		}
	}

	// A reviewer releases the negative invoices: they count as reviewed,
	// with how long they waited.
	res, err := st.Review(context.Background(), store.ReviewRequest{ID: "default/kpi/1", Source: "default/billing-stripe", Decision: store.DecisionRelease,
		Reviewer: "carol@example.com", Reason: "credit notes booked as negative invoices", Selection: store.ReviewSelection{Checks: []string{"amount-non-negative"}}})
	if err != nil {
		t.Fatal(err)
	}
	get(t, "/api/v1/kpis", &k)
	if r := k.Resolution.Reviews; r.Reviewed != res.Matched || r.Pending != pending-res.Matched || r.MedianSeconds < 0 {
		t.Errorf("after releasing %d: %+v", res.Matched, r)
	}
	for _, d := range k.Discrepancies {
		if d.Source == "billing-stripe" && d.Check == "amount-non-negative" && (d.Released != res.Matched || d.Pending != 0 || d.Found != res.Matched) {
			t.Errorf("released negative invoices: %+v", d)
		}
	}
}
