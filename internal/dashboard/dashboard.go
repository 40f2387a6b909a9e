// Package dashboard draws one evaluation of a JourneyMap (a
// journey.Snapshot) as a single self-contained HTML page for the people who
// run the service: the stages as a flow, the funnel, the alerts, the
// feedback triggers and the sources with their last run.
//
// The page loads nothing: its CSS is inline, the flow is SVG laid out in Go,
// there is no script, and its Content-Security-Policy forbids fetching
// anything, so it works the same in an air-gapped cluster, served by the
// evaluator (Handler), and as the static file `journey run` writes (Render).
// All text from specs and data goes through html/template.
//
// Served beside the drill-down API, the same page is interactive
// (LiveHandler): a segment filter, and panels that answer a click on a
// stage, a flow, a user, an alert or a source from the API, by the page's
// own scripts (js/) from the same origin.
package dashboard

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// contentSecurityPolicy allows inline styles and nothing else: no script,
// no request of any kind.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

// refreshSeconds is how often a served page reloads itself; the evaluator
// evaluates every few minutes (spec.evaluationInterval).
const refreshSeconds = 60

var (
	//go:embed page.html.tmpl
	pageTemplate string
	//go:embed page.css
	pageCSS string

	page = template.Must(template.New("page").Parse(pageTemplate))
)

// Render writes the page for one snapshot.
func Render(w io.Writer, s journey.Snapshot) error {
	return render(w, s, 0)
}

// Handler serves the page of the latest snapshot at "/", for the evaluator.
// The page reloads itself every minute.
func Handler(snapshot func() journey.Snapshot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the journey map page is read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		var s journey.Snapshot
		if snapshot != nil {
			s = snapshot()
		}
		var buf bytes.Buffer
		if err := render(&buf, s, refreshSeconds); err != nil {
			http.Error(w, "rendering the journey map page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writePage(w, r, http.StatusOK, contentSecurityPolicy, buf.Bytes())
	})
}

// writePage answers a request for the page with its rendered bytes.
func writePage(w http.ResponseWriter, r *http.Request, status int, csp string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func render(w io.Writer, s journey.Snapshot, refresh int) error {
	if err := page.Execute(w, newView(s, refresh)); err != nil {
		return fmt.Errorf("rendering the page of journey map %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

// view is what the template reads: every number already formatted, so that
// the template only places text.
type view struct {
	CSS         template.CSS
	CSP         string
	Refresh     int
	Title       string
	Namespace   string
	Name        string
	Users       string
	EvaluatedAt string
	Firing      int
	Pending     int
	Failed      int
	Flow        *sankey
	Stages      []stageView
	Funnel      []funnelView
	Alerts      []alertView
	Feedback    []feedbackView
	Sources     []sourceView
	Prediction  *predictionView

	// Stale and VolumeAnomalies count sources whose last run committed but
	// failed a freshness or a volume check: named in the header, so a feed
	// that stopped does not read as "Sources failed 0" and nothing else.
	Stale, VolumeAnomalies int
}

type predictionView struct {
	Message                                  string
	Model, Outcome, Horizon, TrainedAt, Rule string
	Users, Positives                         string
	AUC, BaselineAUC, Lift, Calibration      string
	ByStage                                  []riskView
}

type riskView struct{ Name, Users, Rate, Width string }

func newPredictionView(s journey.Snapshot) *predictionView {
	p := s.Prediction
	if p == nil {
		return nil
	}
	if p.Model == "" {
		return &predictionView{Message: p.Message}
	}
	fig := func(v float64) string {
		if v != v {
			return "n/a"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	v := &predictionView{Model: p.Model, Horizon: p.Horizon.String(), TrainedAt: when(p.TrainedAt),
		Users: count(int64(p.HeldOut.Users)), Positives: count(int64(p.HeldOut.Positives)),
		AUC: fig(p.HeldOut.AUC), BaselineAUC: fig(p.HeldOut.BaselineAUC), Lift: fig(p.HeldOut.LiftTopDecile), Calibration: fig(p.HeldOut.CalibrationError)}
	if n := len(s.Stages); n >= 2 {
		v.Outcome, v.Rule = s.Stages[n-1].Name, "being in "+s.Stages[n-2].Name
	}
	if p.Horizon%time.Hour == 0 {
		v.Horizon = strconv.FormatInt(int64(p.Horizon/time.Hour), 10) + "h"
	}
	for _, g := range p.ByStage {
		v.ByStage = append(v.ByStage, riskView{Name: g.Name, Users: count(int64(g.Users)), Rate: percent(g.ExpectedChurn), Width: num(100 * clamp01(g.ExpectedChurn))})
	}
	return v
}

type stageView struct {
	Name, Description, Color string
}

type funnelView struct {
	From, To, Color                                 string
	Entered, Converted, DropOff, Rate, Median, Left string
	// Widths in percent: the bar against the largest step, the converted
	// part against the bar.
	BarWidth, ConvertedWidth string
}

type alertView struct {
	Name, Severity, SeverityClass, Scope string
	State, StateText                     string
	Firing, Pending                      string
	Summary, Description                 string
}

type feedbackView struct {
	Name, OnEnter, Sent, Responses, Rate, RateWidth string
}

type sourceView struct {
	Name, Touchpoint, System string
	Financial                bool
	HasRun                   bool
	Outcome, OutcomeClass    string
	Message, FinishedAt      string
	Read, Accepted           string
	Duplicates, Quarantined  string
	Rejected                 string
	Exceptions               []exceptionView
	// Pending review: how many, and how long the oldest has waited.
	Pending, PendingAge string
}

type exceptionView struct{ Check, Count string }

func newView(s journey.Snapshot, refresh int) view {
	v := view{
		CSS:         template.CSS(pageCSS),
		CSP:         contentSecurityPolicy,
		Refresh:     refresh,
		Namespace:   s.Namespace,
		Name:        s.Name,
		Users:       count(s.Users),
		EvaluatedAt: when(s.EvaluatedAt),
		Flow:        layoutSankey(s.Stages, s.Transitions, s.Users),
	}
	v.Title = "Journey map"
	if s.Name != "" {
		v.Title = s.Name + " · journey map"
		if s.Namespace != "" {
			v.Title = s.Namespace + "/" + v.Title
		}
	}

	colors := map[string]string{}
	if v.Flow != nil {
		for _, n := range v.Flow.Nodes {
			if _, seen := colors[n.Name]; !seen {
				colors[n.Name] = n.Color
			}
			if n.Description != "" {
				v.Stages = append(v.Stages, stageView{Name: n.Name, Description: n.Description, Color: n.Color})
			}
		}
	}

	var widest int64
	for _, f := range s.Funnel {
		widest = max(widest, f.Entered)
	}
	for _, f := range s.Funnel {
		v.Funnel = append(v.Funnel, funnelView{
			From: f.From, To: f.To, Color: cmp.Or(colors[f.To], stagePalette[0]),
			Entered: count(f.Entered), Converted: count(f.Converted), DropOff: count(f.DropOff),
			Rate: percent(f.Rate), Median: duration(f.MedianTimeToConvert),
			BarWidth:       num(max(100*share(f.Entered, widest), 0.5)),
			ConvertedWidth: num(100 * clamp01(f.Rate)),
		})
	}

	for _, a := range s.Alerts {
		av := alertView{
			Name: a.Name, Severity: cmp.Or(a.Severity, "none"), Scope: a.Scope,
			Firing: count(a.Firing), Pending: count(a.Pending),
			Summary: a.Annotations["summary"], Description: a.Annotations["description"],
		}
		switch strings.ToLower(a.Severity) {
		case "critical", "error", "page":
			av.SeverityClass = "sev-critical"
		case "warning":
			av.SeverityClass = "sev-warning"
		case "info":
			av.SeverityClass = "sev-info"
		default:
			av.SeverityClass = "sev-other"
		}
		switch {
		case a.Firing > 0:
			av.State, av.StateText = "firing", "Firing"
			v.Firing++
		case a.Pending > 0:
			av.State, av.StateText = "pending", "Pending"
			v.Pending++
		default:
			av.State, av.StateText = "inactive", "Not firing"
		}
		v.Alerts = append(v.Alerts, av)
	}

	for _, f := range s.Feedback {
		v.Feedback = append(v.Feedback, feedbackView{
			Name: f.Name, OnEnter: f.OnEnter, Sent: count(f.Sent), Responses: count(f.Responses),
			Rate: percent(f.ResponseRate), RateWidth: num(100 * clamp01(f.ResponseRate)),
		})
	}

	for _, src := range s.Sources {
		sv := sourceView{Name: src.Name, Touchpoint: src.Touchpoint, System: src.System, Financial: src.Financial, Pending: count(src.Pending)}
		if src.Pending > 0 && !src.OldestPending.IsZero() {
			sv.PendingAge = waited(s.EvaluatedAt.Sub(src.OldestPending))
		}
		if r := src.LastRun; r != nil {
			sv.HasRun = true
			sv.Outcome, sv.Message, sv.FinishedAt = cmp.Or(r.Outcome, "Unknown"), r.Message, when(r.FinishedAt)
			switch r.Outcome {
			case "Succeeded":
				sv.OutcomeClass = "out-ok"
			case "Failed":
				sv.OutcomeClass = "out-bad"
				v.Failed++
			case "Quarantined":
				sv.OutcomeClass = "out-warn"
			case "Stale":
				sv.OutcomeClass = "out-warn"
				v.Stale++
			case "VolumeAnomaly":
				sv.OutcomeClass = "out-warn"
				v.VolumeAnomalies++
			default:
				sv.OutcomeClass = "out-other"
			}
			sv.Read, sv.Accepted, sv.Duplicates = count(r.Read), count(r.Accepted), count(r.Duplicates)
			sv.Quarantined, sv.Rejected = count(r.Quarantined), count(r.Rejected)
			// Most frequent first: that is the check to look at.
			checks := slices.Collect(maps.Keys(r.Exceptions))
			slices.SortFunc(checks, func(a, b string) int {
				return cmp.Or(cmp.Compare(r.Exceptions[b], r.Exceptions[a]), strings.Compare(a, b))
			})
			for _, c := range checks {
				sv.Exceptions = append(sv.Exceptions, exceptionView{Check: c, Count: count(r.Exceptions[c])})
			}
		}
		v.Sources = append(v.Sources, sv)
	}
	v.Prediction = newPredictionView(s)
	return v
}
