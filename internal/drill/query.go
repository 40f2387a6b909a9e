package drill

import (
	"container/heap"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// BadRequest is a drill-down asked for something that cannot be: the API
// answers 400 with its message.
type BadRequest struct{ msg string }

func (e *BadRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &BadRequest{fmt.Sprintf(format, args...)} }

// ErrNotReady: no evaluation has been published yet.
var ErrNotReady = errors.New("the journey has not been evaluated yet")

// filter keeps the users whose segment seg has the value value.
type filter struct {
	seg   int
	value string
}

// Filters are the `segment=plan=basic` parameters: all must hold.
type Filters []filter

// ParseFilters reads the segment parameters.
func (x *Index) ParseFilters(q url.Values) (Filters, error) {
	var out Filters
	for _, f := range q["segment"] {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" || value == "" {
			return nil, badf("segment %q: write it as name=value, e.g. plan=basic", f)
		}
		i := slices.Index(x.segments, name)
		if i < 0 {
			return nil, badf("segment %q is not one of the map's spec.segments (%s)", name, strings.Join(x.segments, ", "))
		}
		out = append(out, filter{seg: i, value: value})
	}
	return out, nil
}

// view is one request's look at the index, under its read lock.
type view struct {
	x *Index
	// mask says, by position in x.users, which users the filters keep;
	// nil: every user.
	mask []bool
}

// keepAt says whether the view keeps the user at position i.
func (v *view) keepAt(i int) bool { return v.mask == nil || v.mask[i] }

// keep says whether the view keeps u.
func (v *view) keep(u *journey.UserState) bool {
	if v.mask == nil {
		return true
	}
	i := v.x.users.IndexOf(u.User)
	return i >= 0 && v.mask[i]
}

// filter is keepAt for the engine's counts: nil when every user is kept.
func (v *view) filter() func(int) bool {
	if v.mask == nil {
		return nil
	}
	return v.keepAt
}

func (x *Index) view(f Filters) (*view, error) {
	if !x.ready {
		return nil, ErrNotReady
	}
	v := &view{x: x}
	if len(f) == 0 {
		return v, nil
	}
	codes := make([]int32, len(f))
	for i, c := range f {
		codes[i] = -2 // no user has it
		if k, ok := x.values[c.seg].index[c.value]; ok {
			codes[i] = k
		}
	}
	v.mask = make([]bool, x.users.Len())
	for i := range v.mask {
		a := x.aux[x.users.At(i).User]
		if a == nil {
			continue
		}
		v.mask[i] = true
		for k, c := range f {
			if a.seg[c.seg] != codes[k] {
				v.mask[i] = false
				break
			}
		}
	}
	return v, nil
}

// segCounter counts users by every segment's value.
type segCounter struct {
	x      *Index
	counts [][]int64 // per segment: per value code, then the users without one
}

func (x *Index) newSegCounter() *segCounter {
	c := &segCounter{x: x, counts: make([][]int64, len(x.segments))}
	for i := range c.counts {
		c.counts[i] = make([]int64, len(x.values[i].values)+1)
	}
	return c
}

func (c *segCounter) add(user string) {
	a := c.x.aux[user]
	for i, row := range c.counts {
		if a == nil || a.seg[i] < 0 {
			row[len(row)-1]++
		} else {
			row[a.seg[i]]++
		}
	}
}

// breakdowns are the counts, largest first; "" is users without a value.
func (c *segCounter) breakdowns() []Breakdown {
	out := make([]Breakdown, len(c.x.segments))
	for i, s := range c.x.segments {
		b := Breakdown{Segment: s, Values: []Count{}}
		for code, n := range c.counts[i] {
			if n == 0 {
				continue
			}
			v := ""
			if code < len(c.x.values[i].values) {
				v = c.x.values[i].values[code]
			}
			b.Values = append(b.Values, Count{Value: v, Users: n})
		}
		sort.Slice(b.Values, func(a, d int) bool {
			if b.Values[a].Users != b.Values[d].Users {
				return b.Values[a].Users > b.Values[d].Users
			}
			return b.Values[a].Value < b.Values[d].Value
		})
		out[i] = b
	}
	return out
}

// segmentValue is a user's value of segment i ("" none).
func (x *Index) segmentValue(user string, i int) string {
	a := x.aux[user]
	if a == nil || a.seg[i] < 0 {
		return ""
	}
	return x.values[i].values[a.seg[i]]
}

// Count is a value and how many users have it.
type Count struct {
	Value string `json:"value"`
	Users int64  `json:"users"`
}

// Breakdown is one segment's counts, largest first; "" is users without a
// value.
type Breakdown struct {
	Segment string  `json:"segment"`
	Values  []Count `json:"values"`
}

// UserRow is a user in a list.
type UserRow struct {
	ID        string            `json:"id"`
	Stage     string            `json:"stage"`
	EnteredAt time.Time         `json:"enteredAt"`
	Risk      *float64          `json:"risk,omitempty"`
	Segments  map[string]string `json:"segments,omitempty"`
}

func (x *Index) row(u *journey.UserState) UserRow {
	r := UserRow{ID: u.User, Stage: u.Stage(), EnteredAt: u.EnteredAt()}
	if risk, ok := x.risks[u.User]; ok {
		r.Risk = &risk
	}
	for i, s := range x.segments {
		if v := x.segmentValue(u.User, i); v != "" {
			if r.Segments == nil {
				r.Segments = map[string]string{}
			}
			r.Segments[s] = v
		}
	}
	return r
}

// Page is a page of users: the riskiest first when the churn model has
// scored them, else the most recent to enter their stage.
type Page struct {
	Total  int       `json:"total"`
	Offset int       `json:"offset"`
	Users  []UserRow `json:"users"`
}

func (x *Index) page(users []*journey.UserState, offset, limit int) Page {
	type ranked struct {
		u       *journey.UserState
		risk    float64
		scored  bool
		entered time.Time
	}
	before := func(a, b ranked) bool {
		if a.scored && b.scored && a.risk != b.risk {
			return a.risk > b.risk
		}
		if !a.entered.Equal(b.entered) {
			return a.entered.After(b.entered)
		}
		return a.u.User < b.u.User
	}
	// Only the first offset+limit in order are needed: keep them in a
	// bounded max-heap of the worst kept, instead of sorting every user.
	k := min(offset+limit, len(users))
	h := &rankHeap[ranked]{less: func(a, b ranked) bool { return before(b, a) }}
	for _, u := range users {
		r, ok := x.risks[u.User]
		item := ranked{u: u, risk: r, scored: ok, entered: u.EnteredAt()}
		if len(h.items) < k {
			heap.Push(h, item)
		} else if k > 0 && before(item, h.items[0]) {
			h.items[0] = item
			heap.Fix(h, 0)
		}
	}
	sorted := h.items
	sort.Slice(sorted, func(i, j int) bool { return before(sorted[i], sorted[j]) })
	p := Page{Total: len(users), Offset: offset, Users: []UserRow{}}
	for i := offset; i < len(sorted); i++ {
		p.Users = append(p.Users, x.row(sorted[i].u))
	}
	return p
}

// rankHeap is a heap of T under less.
type rankHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *rankHeap[T]) Len() int           { return len(h.items) }
func (h *rankHeap[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *rankHeap[T]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *rankHeap[T]) Push(v any)         { h.items = append(h.items, v.(T)) }
func (h *rankHeap[T]) Pop() any {
	v := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return v
}
