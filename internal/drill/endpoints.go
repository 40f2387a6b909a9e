package drill

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// StageRow is a stage of the journey, as the page shows it.
type StageRow struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Users       int64    `json:"users"`
	ChurnRate   float64  `json:"churnRate"`
	Expected    *float64 `json:"expectedChurn,omitempty"`
}

// AlertRow is an alert and how many users it fires for in the view.
type AlertRow struct {
	Name     string `json:"name"`
	Scope    string `json:"scope"`
	Severity string `json:"severity"`
	Firing   int64  `json:"firing"`
	Pending  int64  `json:"pending"`
}

// TransitionRow is how many users moved from one stage to another (From
// "": their first stage).
type TransitionRow struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Users int64  `json:"users"`
}

// FunnelRow is a step of the funnel: of the users who entered From, those
// who entered To within the conversion window.
type FunnelRow struct {
	From      string  `json:"from"`
	To        string  `json:"to"`
	Entered   int64   `json:"entered"`
	Converted int64   `json:"converted"`
	Dropped   int64   `json:"dropped"`
	Rate      float64 `json:"rate"`
	// MedianSeconds is the median time to convert, among the converted.
	MedianSeconds float64 `json:"medianSecondsToConvert"`
}

func rows(s journey.Snapshot) ([]TransitionRow, []FunnelRow) {
	ts, fs := []TransitionRow{}, []FunnelRow{}
	for _, t := range s.Transitions {
		ts = append(ts, TransitionRow{From: t.From, To: t.To, Users: t.Users})
	}
	for _, f := range s.Funnel {
		fs = append(fs, FunnelRow{From: f.From, To: f.To, Entered: f.Entered, Converted: f.Converted, Dropped: f.DropOff,
			Rate: f.Rate, MedianSeconds: f.MedianTimeToConvert.Seconds()})
	}
	return ts, fs
}

// JourneyView is the whole journey, for the users the filters keep.
type JourneyView struct {
	EvaluatedAt time.Time         `json:"evaluatedAt"`
	Segments    []string          `json:"segments"`
	Filters     map[string]string `json:"filters,omitempty"`
	Users       int64             `json:"users"`
	Stages      []StageRow        `json:"stages"`
	Transitions []TransitionRow   `json:"transitions"`
	Funnel      []FunnelRow       `json:"funnel"`
	Alerts      []AlertRow        `json:"alerts"`
	Breakdown   []Breakdown       `json:"breakdown"`
}

func (x *Index) filtersEcho(f Filters) map[string]string {
	if len(f) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, c := range f {
		m[x.segments[c.seg]] = c.value
	}
	return m
}

// expected is the mean risk of the users the churn model scored, nil
// when it scored none of them.
func (x *Index) expected(users []*journey.UserState) *float64 {
	var sum float64
	n := 0
	for _, u := range users {
		if r, ok := x.risks[u.User]; ok {
			sum, n = sum+r, n+1
		}
	}
	if n == 0 {
		return nil
	}
	m := sum / float64(n)
	return &m
}

func (x *Index) alertRows(keep func(string) bool) []AlertRow {
	out := []AlertRow{}
	for _, a := range x.snap.Alerts {
		r := AlertRow{Name: a.Name, Scope: a.Scope, Severity: a.Severity}
		if a.Scope == "Journey" {
			r.Firing, r.Pending = a.Firing, a.Pending // journey-wide: not per segment
		} else {
			for _, in := range a.Instances {
				if keep(in.User) {
					r.Firing++
				}
			}
			for _, in := range a.Waiting {
				if keep(in.User) {
					r.Pending++
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// Journey is the journey for the users the filters keep.
func (x *Index) Journey(f Filters) (*JourneyView, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	shape := x.engine.ShapeWhere(x.snap.Namespace, x.snap.Name, x.users, v.filter(), x.asOf)
	out := &JourneyView{EvaluatedAt: x.asOf, Segments: x.segments, Filters: x.filtersEcho(f), Users: shape.Users}
	out.Transitions, out.Funnel = rows(shape)
	risk := make([]riskSum, len(shape.Stages))
	counter := x.newSegCounter()
	for i := range x.users.Len() {
		if !v.keepAt(i) {
			continue
		}
		u := x.users.At(i)
		counter.add(u.User)
		if j := u.StageIndex(); j >= 0 {
			risk[j].add(x.risks, u.User)
		}
	}
	for j, s := range shape.Stages {
		out.Stages = append(out.Stages, StageRow{Name: s.Name, Description: s.Description, Users: s.Users, ChurnRate: s.ChurnRate,
			Expected: risk[j].mean()})
	}
	out.Alerts = x.alertRows(func(user string) bool {
		if len(f) == 0 {
			return true
		}
		u := x.users.Get(user)
		return u != nil && v.keep(u)
	})
	out.Breakdown = counter.breakdowns()
	return out, nil
}

// riskSum is the churn model's scores of some users.
type riskSum struct {
	sum float64
	n   int
}

func (r *riskSum) add(risks map[string]float64, user string) {
	if v, ok := risks[user]; ok {
		r.sum, r.n = r.sum+v, r.n+1
	}
}

// mean is their mean risk, nil when none was scored.
func (r *riskSum) mean() *float64 {
	if r.n == 0 {
		return nil
	}
	m := r.sum / float64(r.n)
	return &m
}

// StageView is one stage's users.
type StageView struct {
	Stage     string      `json:"stage"`
	Users     int64       `json:"users"`
	ChurnRate float64     `json:"churnRate"`
	Expected  *float64    `json:"expectedChurn,omitempty"`
	Breakdown []Breakdown `json:"breakdown"`
	Page      Page        `json:"page"`
}

func (x *Index) stageIndex(name string) (int, error) {
	i := slices.Index(x.engine.Stages(), name)
	if i < 0 {
		return 0, badf("stage %q is not one of the map's stages (%v)", name, x.engine.Stages())
	}
	return i, nil
}

// Stage is the users now in a stage.
func (x *Index) Stage(name string, f Filters, offset, limit int) (*StageView, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	j, err := x.stageIndex(name)
	if err != nil {
		return nil, err
	}
	last := len(x.engine.Stages()) - 1
	var list []*journey.UserState
	var risk riskSum
	var entered, churned int64
	counter := x.newSegCounter()
	for i := range x.users.Len() {
		if !v.keepAt(i) {
			continue
		}
		u := x.users.At(i)
		// Churn rate as the engine counts it: of those who ever entered
		// the stage, the share who entered the last one since.
		if at, ok := u.EnteredIndex(j); ok && j < last {
			entered++
			if end, ok := u.EnteredIndex(last); ok && end >= at {
				churned++
			}
		}
		if u.StageIndex() != j {
			continue
		}
		list = append(list, u)
		counter.add(u.User)
		risk.add(x.risks, u.User)
	}
	out := &StageView{Stage: name, Users: int64(len(list)), Expected: risk.mean(), Breakdown: counter.breakdowns()}
	if entered > 0 {
		out.ChurnRate = float64(churned) / float64(entered)
	}
	out.Page = x.page(list, offset, limit)
	return out, nil
}

// SegmentFlow is one segment value's conversions.
type SegmentFlow struct {
	Value     string `json:"value"`
	Converted int64  `json:"converted"`
	Dropped   int64  `json:"dropped"`
}

// FlowBreakdown is one segment's conversions by value.
type FlowBreakdown struct {
	Segment string        `json:"segment"`
	Values  []SegmentFlow `json:"values"`
}

// FlowView is who went on from one stage to another within the
// conversion window, and who did not.
type FlowView struct {
	From      string          `json:"from"`
	To        string          `json:"to"`
	Entered   int64           `json:"entered"`
	Converted int64           `json:"converted"`
	Dropped   int64           `json:"dropped"`
	Breakdown []FlowBreakdown `json:"breakdown"`
	// Outcome is the users the page lists: converted or dropped.
	Outcome string `json:"outcome"`
	Page    Page   `json:"page"`
}

// Flow is the conversion from one stage to another, as the funnel counts
// it: users who entered from, and of them those who entered to within the
// conversion window.
func (x *Index) Flow(from, to string, f Filters, outcome string, offset, limit int) (*FlowView, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	fi, err := x.stageIndex(from)
	if err != nil {
		return nil, err
	}
	ti, err := x.stageIndex(to)
	if err != nil {
		return nil, err
	}
	if outcome == "" {
		outcome = "dropped"
	}
	if outcome != "converted" && outcome != "dropped" {
		return nil, badf("outcome %q: want converted or dropped", outcome)
	}
	window := int64(x.engine.ConversionWindow())
	out := &FlowView{From: from, To: to, Outcome: outcome}
	conv, drop := x.newSegCounter(), x.newSegCounter()
	var listed []*journey.UserState
	for i := range x.users.Len() {
		if !v.keepAt(i) {
			continue
		}
		u := x.users.At(i)
		a, ok := u.EnteredIndex(fi)
		if !ok {
			continue
		}
		out.Entered++
		b, ok := u.EnteredIndex(ti)
		converted := ok && b >= a && b-a <= window
		if converted {
			out.Converted++
			conv.add(u.User)
		} else {
			out.Dropped++
			drop.add(u.User)
		}
		if converted == (outcome == "converted") {
			listed = append(listed, u)
		}
	}
	cb, db := conv.breakdowns(), drop.breakdowns()
	for k, s := range x.segments {
		b := FlowBreakdown{Segment: s, Values: []SegmentFlow{}}
		byValue := map[string]*SegmentFlow{}
		for _, side := range []struct {
			counts    []Count
			converted bool
		}{{cb[k].Values, true}, {db[k].Values, false}} {
			for _, c := range side.counts {
				sf := byValue[c.Value]
				if sf == nil {
					sf = &SegmentFlow{Value: c.Value}
					byValue[c.Value] = sf
				}
				if side.converted {
					sf.Converted += c.Users
				} else {
					sf.Dropped += c.Users
				}
			}
		}
		for _, sf := range byValue {
			b.Values = append(b.Values, *sf)
		}
		sort.Slice(b.Values, func(i, j int) bool {
			ti, tj := b.Values[i].Converted+b.Values[i].Dropped, b.Values[j].Converted+b.Values[j].Dropped
			if ti != tj {
				return ti > tj
			}
			return b.Values[i].Value < b.Values[j].Value
		})
		out.Breakdown = append(out.Breakdown, b)
	}
	out.Page = x.page(listed, offset, limit)
	return out, nil
}

// AlertView is the users an alert fires for, with the values its helper
// calls answered for each.
type AlertView struct {
	Name     string         `json:"name"`
	Scope    string         `json:"scope"`
	Severity string         `json:"severity"`
	Firing   int64          `json:"firing"`
	Pending  int64          `json:"pending"`
	Users    []AlertUserRow `json:"users"`
}

// AlertUserRow is one user an alert fires (or waits) for.
type AlertUserRow struct {
	UserRow
	Firing   bool                `json:"firing"`
	ActiveAt time.Time           `json:"activeAt"`
	Values   []journey.CallValue `json:"values"`
}

// Alert is an alert's users in the view.
func (x *Index) Alert(name string, f Filters) (*AlertView, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return nil, err
	}
	for _, a := range x.snap.Alerts {
		if a.Name != name {
			continue
		}
		out := &AlertView{Name: a.Name, Scope: a.Scope, Severity: a.Severity, Users: []AlertUserRow{}}
		if a.Scope == "Journey" {
			out.Firing, out.Pending = a.Firing, a.Pending
			return out, nil
		}
		for _, in := range append(slices.Clip(a.Instances), a.Waiting...) {
			u := x.users.Get(in.User)
			if u == nil || !v.keep(u) {
				continue
			}
			row := AlertUserRow{UserRow: x.row(u), Firing: !in.FiredAt.IsZero(), ActiveAt: in.ActiveAt}
			if row.Firing {
				out.Firing++
			} else {
				out.Pending++
			}
			if row.Values, err = x.engine.AlertValues(name, u, x.asOf); err != nil {
				return nil, err
			}
			out.Users = append(out.Users, row)
		}
		return out, nil
	}
	return nil, badf("no alert %q in the map", name)
}

// UserView is one user's timeline.
type UserView struct {
	UserRow
	Moves       []journey.Move  `json:"moves"`
	Revenue     *Money          `json:"revenue,omitempty"`
	Alerts      []AlertUserRow  `json:"alerts"`
	Events      []EventRow      `json:"events"`
	Truncated   bool            `json:"truncated,omitempty"`
	Quarantined []QuarantineRow `json:"quarantined"`
	Surveys     []EventRow      `json:"surveys"`
	Touchpoints map[string]int  `json:"touchpoints"`
	// Factors are what pushes the user's churn risk up the most.
	Factors []Factor `json:"factors,omitempty"`
}

// Money is an amount in a currency.
type Money struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency,omitempty"`
}

// EventRow is an event on a timeline.
type EventRow struct {
	At         time.Time       `json:"at"`
	Touchpoint string          `json:"touchpoint"`
	Type       string          `json:"type"`
	Amount     *float64        `json:"amount,omitempty"`
	Currency   string          `json:"currency,omitempty"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// QuarantineRow is a held record.
type QuarantineRow struct {
	ID      int64     `json:"id"`
	Source  string    `json:"source"`
	Check   string    `json:"check"`
	Reason  string    `json:"reason"`
	Status  string    `json:"status"`
	HeldAt  time.Time `json:"heldAt"`
	EventID string    `json:"eventID,omitempty"`
}

// maxTimeline bounds the events a user's timeline lists (the newest).
const maxTimeline = 500

// User is one user's timeline: events by touchpoint, stages entered,
// alerts, surveys and held records.
func (x *Index) User(ctx context.Context, id string) (*UserView, error) {
	x.mu.RLock()
	if !x.ready {
		x.mu.RUnlock()
		return nil, ErrNotReady
	}
	u := x.users.Get(id)
	if u == nil {
		x.mu.RUnlock()
		return nil, &NotFound{"user " + strconv.Quote(id)}
	}
	out := &UserView{UserRow: x.row(u), Moves: u.Moves(), Alerts: []AlertUserRow{}, Events: []EventRow{}, Surveys: []EventRow{},
		Quarantined: []QuarantineRow{}, Touchpoints: map[string]int{}}
	out.Factors = x.factors[id]
	if a := x.aux[id]; a != nil && a.revenue > 0 {
		out.Revenue = &Money{Amount: a.revenue, Currency: a.currency}
	}
	for _, al := range x.snap.Alerts {
		for _, in := range append(slices.Clip(al.Instances), al.Waiting...) {
			if in.User != id {
				continue
			}
			row := AlertUserRow{UserRow: out.UserRow, Firing: !in.FiredAt.IsZero(), ActiveAt: in.ActiveAt}
			row.Values, _ = x.engine.AlertValues(al.Name, u, x.asOf)
			row.ID = al.Name // the alert's name, on a user's page
			out.Alerts = append(out.Alerts, row)
		}
	}
	x.mu.RUnlock()

	names := make([]string, len(x.sources))
	for i, s := range x.sources {
		names[i] = s.Name
	}
	err := x.store.ScanEvents(ctx, store.EventQuery{Sources: names, Users: []string{id}}, func(ev *store.Event, attrs []byte) error {
		r := EventRow{At: ev.OccurredAt, Touchpoint: ev.Touchpoint, Type: ev.Type, Currency: ev.Currency}
		if ev.Amount != nil {
			a := *ev.Amount
			r.Amount = &a
		}
		if len(attrs) > 0 {
			r.Attributes = append(json.RawMessage(nil), attrs...)
		}
		out.Touchpoints[ev.Touchpoint]++
		if ev.Touchpoint == journey.FeedbackTouchpoint {
			out.Surveys = append(out.Surveys, r)
		}
		out.Events = append(out.Events, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out.Events) > maxTimeline {
		out.Events, out.Truncated = out.Events[len(out.Events)-maxTimeline:], true
	}
	for _, s := range x.sources {
		held, err := x.store.FindQuarantine(ctx, store.QuarantineFilter{Source: s.Name, UserID: id, Limit: 50})
		if err != nil {
			return nil, err
		}
		for _, q := range held {
			out.Quarantined = append(out.Quarantined, QuarantineRow{ID: q.ID, Source: q.Source, Check: q.Check, Reason: q.Reason,
				Status: q.Status, HeldAt: q.At, EventID: q.EventID})
		}
	}
	return out, nil
}

// NotFound is a drill-down for something that does not exist: 404.
type NotFound struct{ what string }

func (e *NotFound) Error() string { return e.what + " not found" }

// Snapshot is the journey as the filters' users see it, for the page: the
// stages, flows and funnel of those users, the User-scoped alerts counted
// over them; sources, surveys, the churn model and Journey-scoped alerts
// stay the whole journey's.
func (x *Index) Snapshot(f Filters) (journey.Snapshot, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	v, err := x.view(f)
	if err != nil {
		return journey.Snapshot{}, err
	}
	if len(f) == 0 {
		return x.snap, nil
	}
	s := x.engine.ShapeWhere(x.snap.Namespace, x.snap.Name, x.users, v.filter(), x.asOf)
	s.Feedback, s.Sources, s.Prediction = x.snap.Feedback, x.snap.Sources, x.snap.Prediction
	for _, a := range x.snap.Alerts {
		if a.Scope != "Journey" {
			a.Instances = x.keepInstances(a.Instances, v)
			a.Waiting = x.keepInstances(a.Waiting, v)
			a.Firing, a.Pending = int64(len(a.Instances)), int64(len(a.Waiting))
		}
		s.Alerts = append(s.Alerts, a)
	}
	return s, nil
}

func (x *Index) keepInstances(in []journey.AlertInstance, v *view) []journey.AlertInstance {
	var out []journey.AlertInstance
	for _, i := range in {
		if u := x.users.Get(i.User); u != nil && v.keep(u) {
			out = append(out, i)
		}
	}
	return out
}
