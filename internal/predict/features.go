// Package predict trains a churn model on a journey map's own history and
// scores its users: the probability that a user who has not reached the
// map's last stage enters it within a horizon. The model is a regularised
// logistic regression over features of the journey itself (stage and time
// in it, recency, frequency and trend per touchpoint, sums of numeric
// attributes, counts of event types, segments), trained with a time split
// (features as of T, the label whether the last stage was entered in
// (T, T+horizon]) and judged on a later, held-out period against the map's
// own rule: being in the stage before the last.
package predict

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Event is what features read of an event.
type Event struct {
	Touchpoint, Type string
	At               time.Time
	Amount           *float64
	// Attributes as JSON (nil: none).
	Attributes []byte
}

// Windows the features look back over.
const (
	window      = 30 * 24 * time.Hour // frequency, sums, type counts
	trendWindow = 14 * 24 * time.Hour // recent half against the half before
	shortWindow = 7 * 24 * time.Hour  // numeric attributes' recent change
	// recencyCap is the recency of a touchpoint never seen, in days.
	recencyCap = 60.0
	// maxTypes and maxSegmentValues bound the dictionary: past them, types
	// are not counted and values fall into "other".
	maxTypes         = 48
	maxSegmentValues = 12
	maxAttributes    = 16
)

// Dictionary names the features: one column each, assigned on first sight.
type Dictionary struct {
	Names []string
	index map[string]int
	// bounded counts of what was admitted
	types, attributes int
	segmentValues     map[string]int
}

// NewDictionary starts an empty dictionary.
func NewDictionary() *Dictionary {
	return &Dictionary{index: map[string]int{}, segmentValues: map[string]int{}}
}

func (d *Dictionary) column(name string, grow bool) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	if !grow {
		return -1
	}
	d.index[name] = len(d.Names)
	d.Names = append(d.Names, name)
	return len(d.Names) - 1
}

// Sparse is a row of features: columns and values.
type Sparse struct {
	Cols []int32
	Vals []float32
}

func (s *Sparse) set(col int, v float64) {
	if col < 0 || v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.Cols = append(s.Cols, int32(col))
	s.Vals = append(s.Vals, float32(v))
}

// Extractor computes a user's features as of a cutoff from their events
// (in time order), looking at no event after it.
type Extractor struct {
	Dict        *Dictionary
	Touchpoints []string
	Segments    []string
	// Grow admits new columns (training); scoring uses the columns there are.
	Grow bool
	// scratch
	seen map[string]bool
}

// Features computes the row of one user as of cut, given the stage the user
// was in then ("" when none) and when they entered it.
func (x *Extractor) Features(events []Event, cut time.Time, stage string, enteredAt time.Time) Sparse {
	d := x.Dict
	var row Sparse
	col := func(name string) int { return d.column(name, x.Grow) }
	admitted := func(name string, counter *int, limit int) int {
		if i := d.column(name, false); i >= 0 {
			return i
		}
		if !x.Grow || *counter >= limit {
			return -1
		}
		*counter++
		return d.column(name, true)
	}

	// Only events up to the cutoff: nothing after it may leak in.
	n := sort.Search(len(events), func(i int) bool { return events[i].At.After(cut) })
	events = events[:n]
	if len(events) == 0 {
		return row
	}
	days := func(d time.Duration) float64 { return d.Hours() / 24 }
	row.set(col("tenure: days since the first event (log)"), math.Log1p(days(cut.Sub(events[0].At))))
	if stage != "" {
		row.set(col("stage: "+stage), 1)
		row.set(col("stage: days in it (log)"), math.Log1p(days(cut.Sub(enteredAt))))
	}

	type tpAgg struct {
		count30, recent, before int
		last                    time.Time
		amount                  float64
		hasAmount               bool
	}
	tps := map[string]*tpAgg{}
	typeCounts := map[string]int{}
	type attrAgg struct{ sum30, sumShort, sumPrev float64 }
	attrs := map[string]*attrAgg{}
	segments := map[string]string{}
	for i := range events {
		e := &events[i]
		age := cut.Sub(e.At)
		a := tps[e.Touchpoint]
		if a == nil {
			a = &tpAgg{}
			tps[e.Touchpoint] = a
		}
		a.last = e.At
		if age <= window {
			a.count30++
			typeCounts[e.Touchpoint+": "+e.Type]++
			if e.Amount != nil {
				a.amount += *e.Amount
				a.hasAmount = true
			}
		}
		if age <= trendWindow/2 {
			a.recent++
		} else if age <= trendWindow {
			a.before++
		}
		if len(e.Attributes) == 0 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(e.Attributes, &m) != nil {
			continue
		}
		for _, s := range x.Segments {
			if v, ok := m[s]; ok && v != nil {
				segments[s] = fmt.Sprint(v)
			}
		}
		if age > window {
			continue
		}
		for k, v := range m {
			f, ok := v.(float64)
			if !ok {
				continue
			}
			key := e.Touchpoint + ": " + k
			ag := attrs[key]
			if ag == nil {
				ag = &attrAgg{}
				attrs[key] = ag
			}
			ag.sum30 += f
			if age <= shortWindow {
				ag.sumShort += f
			} else if age <= 2*shortWindow {
				ag.sumPrev += f
			}
		}
	}
	for _, tp := range x.Touchpoints {
		a := tps[tp]
		recency := recencyCap
		if a != nil {
			recency = math.Min(recencyCap, days(cut.Sub(a.last)))
		}
		row.set(col(tp+": days since the last event"), recency)
		if a == nil {
			continue
		}
		row.set(col(tp+": events, last 30d (log)"), math.Log1p(float64(a.count30)))
		row.set(col(tp+": events, last 7d against the 7 before (log ratio)"), math.Log1p(float64(a.recent))-math.Log1p(float64(a.before)))
		if a.hasAmount {
			row.set(col(tp+": amount, last 30d (signed log)"), signedLog(a.amount))
		}
	}
	for _, k := range sortedKeys(typeCounts) {
		row.set(admitted(k+" events, last 30d (log)", &d.types, maxTypes), math.Log1p(float64(typeCounts[k])))
	}
	for _, k := range sortedKeys(attrs) {
		ag := attrs[k]
		row.set(admitted(k+", last 30d (signed log)", &d.attributes, maxAttributes), signedLog(ag.sum30))
		row.set(admitted(k+", last 7d against the 7 before (log ratio)", &d.attributes, maxAttributes),
			signedLog(ag.sumShort)-signedLog(ag.sumPrev))
	}
	for _, s := range x.Segments {
		v, ok := segments[s]
		if !ok {
			continue
		}
		name := s + " = " + v
		c := d.column(name, false)
		if c < 0 && x.Grow {
			if d.segmentValues[s] < maxSegmentValues {
				d.segmentValues[s]++
				c = d.column(name, true)
			} else {
				c = d.column(s+" = other", true)
			}
		}
		if c < 0 {
			c = d.column(s+" = other", false)
		}
		row.set(c, 1)
	}
	return row
}

// Segment is a user's value of a segment attribute as of cut ("" when the
// user has none).
func Segment(events []Event, cut time.Time, attribute string) string {
	v := ""
	for i := range events {
		if events[i].At.After(cut) {
			break
		}
		if len(events[i].Attributes) == 0 || !strings.Contains(string(events[i].Attributes), `"`+attribute+`"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(events[i].Attributes, &m) == nil {
			if x, ok := m[attribute]; ok && x != nil {
				v = fmt.Sprint(x)
			}
		}
	}
	return v
}

func signedLog(v float64) float64 {
	if v < 0 {
		return -math.Log1p(-v)
	}
	return math.Log1p(v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
