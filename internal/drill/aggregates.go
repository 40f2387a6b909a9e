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
	last := monday(x.asOf)
	first := last.AddDate(0, 0, -7*(maxWeeks-1))
	var earliest time.Time
	for i := range x.users.Len() {
		u := x.users.At(i)
		if !v.keep(u) {
			continue
		}
		if t, ok := firstReached(u, stages); ok && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	if !earliest.IsZero() && monday(earliest).After(first) {
		first = monday(earliest)
	}
	out := &TrendsView{}
	for w := first; !w.After(last); w = w.AddDate(0, 0, 7) {
		out.Weeks = append(out.Weeks, w)
	}
	sizes := make([][]int64, len(stages))
	for i := range sizes {
		sizes[i] = make([]int64, len(out.Weeks))
	}
	cohorts := make([]Cohort, len(out.Weeks))
	reached := make([][]int64, len(out.Weeks))
	for i := range cohorts {
		cohorts[i].Week, reached[i] = out.Weeks[i], make([]int64, len(stages))
	}
	entered := make([]time.Time, len(stages))
	for i := range x.users.Len() {
		u := x.users.At(i)
		if !v.keep(u) {
			continue
		}
		for j, s := range stages {
			entered[j], _ = u.Entered(s)
		}
		for k, w := range out.Weeks {
			end := w.AddDate(0, 0, 7)
			if end.After(x.asOf) {
				end = x.asOf
			}
			if j := stageAt(entered, end); j >= 0 {
				sizes[j][k]++
			}
		}
		t, ok := firstReached(u, stages)
		if !ok {
			continue
		}
		k := sort.Search(len(out.Weeks), func(k int) bool { return out.Weeks[k].After(t) }) - 1
		if k < 0 {
			continue
		}
		cohorts[k].Users++
		for j := range stages {
			if !entered[j].IsZero() {
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

// stageAt is the index of the stage a user was in at t (the last entered
// by then), -1 for none.
func stageAt(entered []time.Time, t time.Time) int {
	for j := len(entered) - 1; j >= 0; j-- {
		if !entered[j].IsZero() && !entered[j].After(t) {
			return j
		}
	}
	return -1
}

func firstReached(u *journey.UserState, stages []string) (time.Time, bool) {
	var first time.Time
	for _, s := range stages {
		if t, ok := u.Entered(s); ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first, !first.IsZero()
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
		u := x.users.At(i)
		if !v.keep(u) {
			continue
		}
		a := x.aux[u.User]
		if a == nil {
			continue
		}
		if a.recovered > 0 {
			out.Recovered.add(a, a.recovered)
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
