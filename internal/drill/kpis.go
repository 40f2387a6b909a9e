package drill

import (
	"context"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// KPIView is what the seeds asked to measure: discrepancies found and how
// fast they are resolved, survey response rates, and conversion and
// renewal week by week.
type KPIView struct {
	Discrepancies []DiscrepancyRow `json:"discrepancies"`
	Resolution    Resolution       `json:"resolution"`
	Surveys       []SurveyRow      `json:"surveys"`
	// Weeks are the Mondays the series below are by.
	Weeks []time.Time `json:"weeks"`
	// Conversion is every funnel step by weekly cohort: of the users who
	// entered From in a week, the share who entered To within the
	// conversion window. A cohort whose window has not ended is not
	// complete.
	Conversion []CohortConversion `json:"conversion"`
	Renewal    Renewal            `json:"renewal"`
}

// DiscrepancyRow is what one check of a source held for review.
type DiscrepancyRow struct {
	Source    string `json:"source"`
	Check     string `json:"check"`
	Found     int64  `json:"found"`
	Pending   int64  `json:"pending"`
	Released  int64  `json:"released"`
	Discarded int64  `json:"discarded"`
}

// Resolution is how long discrepancies take to resolve.
type Resolution struct {
	// Alerts, from firing to resolved: only an evaluator that saw them
	// resolve knows (nil in `journey serve`).
	Alerts  *AlertResolution `json:"alerts,omitempty"`
	Reviews ReviewResolution `json:"reviews"`
}

// AlertResolution is how long the alerts that stopped firing had fired.
type AlertResolution struct {
	Resolved      int64   `json:"resolved"`
	MedianSeconds float64 `json:"medianSeconds"`
}

// ReviewResolution is how long held records waited for their review.
type ReviewResolution struct {
	Reviewed             int64   `json:"reviewed"`
	MedianSeconds        float64 `json:"medianSeconds"`
	Pending              int64   `json:"pending"`
	OldestPendingSeconds float64 `json:"oldestPendingSeconds"`
}

// SurveyRow is a survey trigger's response rate.
type SurveyRow struct {
	Trigger   string  `json:"trigger"`
	Stage     string  `json:"stage"`
	Sent      int64   `json:"sent"`
	Responses int64   `json:"responses"`
	Rate      float64 `json:"rate"`
}

// CohortConversion is a funnel step by weekly cohort.
type CohortConversion struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Entered  []int64   `json:"entered"`
	Rate     []float64 `json:"rate"`
	Complete []bool    `json:"complete"`
}

// Renewal is, each week, the paying customers at its start (a charge
// before it, not yet in the last stage) and the share still customers at
// its end.
type Renewal struct {
	Paying  []int64   `json:"paying"`
	Churned []int64   `json:"churned"`
	Rate    []float64 `json:"rate"`
}

// SetAlertResolution publishes how long resolved alerts had fired.
func (x *Index) SetAlertResolution(r AlertResolution) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.alerts = &r
}

// KPIs are the view's KPIs. Discrepancies and reviews are the sources',
// whatever the filters.
func (x *Index) KPIs(ctx context.Context, f Filters) (*KPIView, error) {
	names := make([]string, len(x.sources))
	for i, s := range x.sources {
		names[i] = s.Name
	}
	d, err := x.store.Discrepancies(ctx, names)
	if err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	out := &KPIView{Discrepancies: []DiscrepancyRow{}, Surveys: []SurveyRow{}, Resolution: Resolution{Alerts: x.alerts}}
	for _, c := range d.ByCheck {
		out.Discrepancies = append(out.Discrepancies, DiscrepancyRow{Source: shortName(c.Source), Check: c.Check, Found: c.Found,
			Pending: c.Pending, Released: c.Released, Discarded: c.Discarded})
	}
	out.Resolution.Reviews = x.reviewResolution(d)
	for _, fb := range x.snap.Feedback {
		out.Surveys = append(out.Surveys, SurveyRow{Trigger: fb.Name, Stage: fb.OnEnter, Sent: fb.Sent, Responses: fb.Responses, Rate: fb.ResponseRate})
	}
	x.weekly(v, out)
	return out, nil
}

func (x *Index) reviewResolution(d store.Discrepancies) ReviewResolution {
	var r ReviewResolution
	waits := make([]float64, 0, len(d.Resolutions))
	for _, res := range d.Resolutions {
		waits = append(waits, res.Reviewed.Sub(res.Held).Seconds())
	}
	r.MedianSeconds = median(waits)
	r.Reviewed, r.Pending = d.Reviewed, d.Pending
	for _, s := range x.snap.Sources {
		if s.Pending > 0 && !s.OldestPending.IsZero() {
			r.OldestPendingSeconds = max(r.OldestPendingSeconds, x.asOf.Sub(s.OldestPending).Seconds())
		}
	}
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// weekly fills the cohort conversions and renewals, over the trend's weeks.
func (x *Index) weekly(v *view, out *KPIView) {
	stages := x.engine.Stages()
	out.Weeks = x.weeks(v)
	n := len(out.Weeks)
	window := x.engine.ConversionWindow()
	steps := len(stages) - 1
	converted := make([][]int64, max(steps, 0))
	out.Conversion = make([]CohortConversion, max(steps, 0))
	for j := range out.Conversion {
		c := &out.Conversion[j]
		c.From, c.To = stages[j], stages[j+1]
		c.Entered, c.Rate, c.Complete, converted[j] = make([]int64, n), make([]float64, n), make([]bool, n), make([]int64, n)
		for k, w := range out.Weeks {
			c.Complete[k] = !w.AddDate(0, 0, 7).Add(window).After(x.asOf)
		}
	}
	out.Renewal = Renewal{Paying: make([]int64, n), Churned: make([]int64, n), Rate: make([]float64, n)}
	if len(stages) == 0 {
		return
	}
	for i := range x.users.Len() {
		if !v.keepAt(i) {
			continue
		}
		u := x.users.At(i)
		for j := range out.Conversion {
			a, ok := u.EnteredIndex(j)
			if !ok {
				continue
			}
			k := weekOf(out.Weeks, time.Unix(0, a))
			if k < 0 {
				continue
			}
			out.Conversion[j].Entered[k]++
			if b, ok := u.EnteredIndex(j + 1); ok && b >= a && b-a <= int64(window) {
				converted[j][k]++
			}
		}
		aux := x.aux[u.User]
		if aux == nil || aux.paidAt.IsZero() {
			continue
		}
		churnedNanos, churned := u.EnteredIndex(len(stages) - 1)
		churnedAt := time.Unix(0, churnedNanos)
		for k, w := range out.Weeks {
			if !aux.paidAt.Before(w) || (churned && !churnedAt.After(w)) {
				continue // not yet paying, or gone, at the week's start
			}
			out.Renewal.Paying[k]++
			if churned && churnedAt.Before(w.AddDate(0, 0, 7)) {
				out.Renewal.Churned[k]++
			}
		}
	}
	for j := range out.Conversion {
		for k := range out.Weeks {
			if e := out.Conversion[j].Entered[k]; e > 0 {
				out.Conversion[j].Rate[k] = float64(converted[j][k]) / float64(e)
			}
		}
	}
	for k := range out.Weeks {
		if p := out.Renewal.Paying[k]; p > 0 {
			out.Renewal.Rate[k] = 1 - float64(out.Renewal.Churned[k])/float64(p)
		}
	}
}

// Summary is what the map's status and metrics keep of the KPIs: totals,
// and the latest weekly cohort whose conversion window has ended.
func (v *KPIView) Summary(asOf time.Time) journey.KPIs {
	r := v.Resolution.Reviews
	k := journey.KPIs{DiscrepanciesFound: r.Reviewed + r.Pending, DiscrepanciesPending: r.Pending, ReviewsResolved: r.Reviewed,
		MedianTimeToReview: seconds(r.MedianSeconds), RenewalRate: math.NaN()}
	if a := v.Resolution.Alerts; a != nil {
		k.AlertsResolved, k.MedianTimeToResolve = a.Resolved, seconds(a.MedianSeconds)
	}
	for _, c := range v.Conversion {
		for i := len(v.Weeks) - 1; i >= 0; i-- {
			if c.Complete[i] && c.Entered[i] > 0 {
				k.WeeklyConversion = append(k.WeeklyConversion, journey.WeeklyConversion{Week: v.Weeks[i], From: c.From, To: c.To,
					Entered: c.Entered[i], Rate: c.Rate[i]})
				break
			}
		}
	}
	for i := len(v.Weeks) - 1; i >= 0; i-- {
		if !v.Weeks[i].AddDate(0, 0, 7).After(asOf) && v.Renewal.Paying[i] > 0 {
			k.RenewalRate, k.RenewalWeek = v.Renewal.Rate[i], v.Weeks[i]
			break
		}
	}
	return k
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Second)
}
