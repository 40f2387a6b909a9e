package drill

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// SourceView is a source's exceptions: what it holds for review, by check,
// with examples.
type SourceView struct {
	Name       string          `json:"name"`
	Touchpoint string          `json:"touchpoint"`
	Financial  bool            `json:"financial"`
	Pending    int64           `json:"pending"`
	Oldest     *time.Time      `json:"oldest,omitempty"`
	ByCheck    []CheckRow      `json:"byCheck"`
	Examples   []QuarantineRow `json:"examples"`
}

// CheckRow is what one check holds for review.
type CheckRow struct {
	Check   string    `json:"check"`
	Pending int64     `json:"pending"`
	Oldest  time.Time `json:"oldest"`
}

// examplesPerSource bounds the held records a source's view lists.
const examplesPerSource = 10

// Source is one of the map's sources' exceptions.
func (x *Index) Source(ctx context.Context, name string) (*SourceView, error) {
	var src *Source
	for i := range x.sources {
		if s := &x.sources[i]; s.Name == name || shortName(s.Name) == name {
			src = s
		}
	}
	if src == nil {
		return nil, &NotFound{"source " + name + " of this map"}
	}
	p, err := x.store.Pending(ctx, []string{src.Name})
	if err != nil {
		return nil, err
	}
	sum := p[src.Name]
	out := &SourceView{Name: shortName(src.Name), Touchpoint: src.Touchpoint, Financial: src.Financial, Pending: sum.Pending,
		ByCheck: []CheckRow{}, Examples: []QuarantineRow{}}
	for _, c := range sum.ByCheck {
		out.ByCheck = append(out.ByCheck, CheckRow{Check: c.Check, Pending: c.Pending, Oldest: c.Oldest})
	}
	if !sum.Oldest.IsZero() {
		out.Oldest = &sum.Oldest
	}
	held, err := x.store.FindQuarantine(ctx, store.QuarantineFilter{Source: src.Name, Status: store.QuarantinePending, Limit: examplesPerSource})
	if err != nil {
		return nil, err
	}
	for _, q := range held {
		out.Examples = append(out.Examples, QuarantineRow{ID: q.ID, Source: q.Source, Check: q.Check, Reason: q.Reason,
			Status: q.Status, HeldAt: q.At, EventID: q.EventID})
	}
	return out, nil
}

func shortName(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[i+1:]
		}
	}
	return s
}

// TrendsView is the journey week by week: how many users were in each
// stage at the end of each week, and what share of each weekly cohort (the
// week a user first reached any stage) went on to reach each stage.
type TrendsView struct {
	Weeks   []time.Time  `json:"weeks"` // each week's Monday, UTC
	Stages  []StageTrend `json:"stages"`
	Cohorts []Cohort     `json:"cohorts"`
}

// StageTrend is a stage's size at the end of each week.
type StageTrend struct {
	Stage string  `json:"stage"`
	Users []int64 `json:"users"`
}

// Cohort is the users who first reached a stage in one week.
type Cohort struct {
	Week    time.Time `json:"week"`
	Users   int64     `json:"users"`
	Reached []float64 `json:"reached"` // share that reached each stage, in map order
}

// maxWeeks bounds a trend.
const maxWeeks = 26

func monday(t time.Time) time.Time {
	t = t.UTC()
	d := (int(t.Weekday()) + 6) % 7
	return time.Date(t.Year(), t.Month(), t.Day()-d, 0, 0, 0, 0, time.UTC)
}

// Trends is the view's journey over the last weeks.
func (x *Index) Trends(f Filters) (*TrendsView, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	stages := x.engine.Stages()
	out := &TrendsView{Weeks: x.weeks(v)}
	sizes := make([][]int64, len(stages))
	for i := range sizes {
		sizes[i] = make([]int64, len(out.Weeks))
	}
	cohorts := make([]Cohort, len(out.Weeks))
	reached := make([][]int64, len(out.Weeks))
	for i := range cohorts {
		cohorts[i].Week, reached[i] = out.Weeks[i], make([]int64, len(stages))
	}
	// A user is, at the end of week k, in the last stage (in map order)
	// they had entered by then: each stage from the week it was entered.
	ends := weekEnds(out.Weeks, x.asOf)
	from := make([]int, len(out.Weeks)+1) // per week: the highest stage entered in it, -1 none
	for i := range x.users.Len() {
		if !v.keepAt(i) {
			continue
		}
		u := x.users.At(i)
		for k := range from {
			from[k] = -1
		}
		for j := range stages {
			if at, ok := u.EnteredIndex(j); ok {
				k := sort.Search(len(ends), func(k int) bool { return ends[k] >= at })
				from[k] = max(from[k], j)
			}
		}
		cur := -1
		for k := range out.Weeks {
			cur = max(cur, from[k])
			if cur >= 0 {
				sizes[cur][k]++
			}
		}
		t, ok := firstReached(u, len(stages))
		if !ok {
			continue
		}
		k := weekOf(out.Weeks, t)
		if k < 0 {
			continue
		}
		cohorts[k].Users++
		for j := range stages {
			if _, ok := u.EnteredIndex(j); ok {
				reached[k][j]++
			}
		}
	}
	for j, s := range stages {
		out.Stages = append(out.Stages, StageTrend{Stage: s, Users: sizes[j]})
	}
	for k := range cohorts {
		c := &cohorts[k]
		c.Reached = make([]float64, len(stages))
		for j := range stages {
			if c.Users > 0 {
				c.Reached[j] = float64(reached[k][j]) / float64(c.Users)
			}
		}
	}
	out.Cohorts = cohorts
	return out, nil
}

// weeks are the Mondays of the view's journey: from the week its first
// user reached a stage, at most maxWeeks back, to the week of asOf.
func (x *Index) weeks(v *view) []time.Time {
	stages := x.engine.Stages()
	last := monday(x.asOf)
	first := last.AddDate(0, 0, -7*(maxWeeks-1))
	var earliest time.Time
	for i := range x.users.Len() {
		if u := x.users.At(i); v.keepAt(i) {
			if t, ok := firstReached(u, len(stages)); ok && (earliest.IsZero() || t.Before(earliest)) {
				earliest = t
			}
		}
	}
	if !earliest.IsZero() && monday(earliest).After(first) {
		first = monday(earliest)
	}
	var out []time.Time
	for w := first; !w.After(last); w = w.AddDate(0, 0, 7) {
		out = append(out, w)
	}
	return out
}

// weekOf is the index of the week t falls in, -1 before the first.
func weekOf(weeks []time.Time, t time.Time) int {
	return sort.Search(len(weeks), func(k int) bool { return weeks[k].After(t) }) - 1
}

// weekEnds are the weeks' ends in Unix nanoseconds, the last at asOf.
func weekEnds(weeks []time.Time, asOf time.Time) []int64 {
	out := make([]int64, len(weeks))
	for k, w := range weeks {
		end := w.AddDate(0, 0, 7)
		if end.After(asOf) {
			end = asOf
		}
		out[k] = end.UnixNano()
	}
	return out
}

// firstReached is when the user first reached any of the n stages.
func firstReached(u *journey.UserState, n int) (time.Time, bool) {
	var first int64
	found := false
	for j := range n {
		if at, ok := u.EnteredIndex(j); ok && (!found || at < first) {
			first, found = at, true
		}
	}
	return time.Unix(0, first).UTC(), found
}

// RevenueView is recurring revenue (each user's latest charge) by stage,
// the revenue at risk, and the failed payments recovered later. Amounts
// are by currency.
type RevenueView struct {
	ByStage   []StageRevenue `json:"byStage"`
	AtRisk    Revenue        `json:"atRisk"`
	Recovered Revenue        `json:"recovered"`
	// AtRiskStage is the stage the map's own rule flags (the one before the
	// last); at risk are its users and those an alert fires for.
	AtRiskStage string `json:"atRiskStage"`
}

// StageRevenue is one stage's users and revenue.
type StageRevenue struct {
	Stage string `json:"stage"`
	Revenue
}

// Revenue is users and amounts by currency.
type Revenue struct {
	Users  int64              `json:"users"`
	Amount map[string]float64 `json:"amount"`
}

func (r *Revenue) add(a *userAux, amount float64) {
	r.Users++
	if r.Amount == nil {
		r.Amount = map[string]float64{}
	}
	r.Amount[a.currency] = cents(r.Amount[a.currency] + amount)
}

// cents rounds an amount to the cent, so that sums of decimal amounts
// read as such.
func cents(v float64) float64 { return math.Round(v*100) / 100 }

// Revenue is the view's revenue.
func (x *Index) Revenue(f Filters) (*RevenueView, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	stages := x.engine.Stages()
	out := &RevenueView{AtRisk: Revenue{Amount: map[string]float64{}}, Recovered: Revenue{Amount: map[string]float64{}}}
	if len(stages) >= 2 {
		out.AtRiskStage = stages[len(stages)-2]
	}
	alerted := map[string]bool{}
	for _, a := range x.snap.Alerts {
		for _, in := range a.Instances {
			if in.User != "" && !in.FiredAt.IsZero() {
				alerted[in.User] = true
			}
		}
	}
	by := map[string]*StageRevenue{}
	last := ""
	if len(stages) > 0 {
		last = stages[len(stages)-1]
	}
	for i := range x.users.Len() {
		if !v.keepAt(i) {
			continue
		}
		u := x.users.At(i)
		a := x.aux[u.User]
		if a == nil {
			continue
		}
		if r := a.recovered(); r > 0 {
			out.Recovered.add(a, r)
		}
		if a.revenue <= 0 || u.Stage() == last {
			continue // no charge, or no longer a customer
		}
		s := by[u.Stage()]
		if s == nil {
			s = &StageRevenue{Stage: u.Stage(), Revenue: Revenue{Amount: map[string]float64{}}}
			by[u.Stage()] = s
		}
		s.add(a, a.revenue)
		if u.Stage() == out.AtRiskStage || alerted[u.User] {
			out.AtRisk.add(a, a.revenue)
		}
	}
	for _, s := range stages {
		if r, ok := by[s]; ok {
			out.ByStage = append(out.ByStage, *r)
		}
	}
	if out.ByStage == nil {
		out.ByStage = []StageRevenue{}
	}
	return out, nil
}
