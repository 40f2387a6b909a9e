package drill

import (
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
	x    *Index
	keep func(*journey.UserState) bool
}

func (x *Index) view(f Filters) (*view, error) {
	if !x.ready {
		return nil, ErrNotReady
	}
	v := &view{x: x, keep: func(*journey.UserState) bool { return true }}
	if len(f) > 0 {
		codes := make([]int32, len(f))
		for i, c := range f {
			codes[i] = -2 // no user has it
			if k, ok := x.values[c.seg].index[c.value]; ok {
				codes[i] = k
			}
		}
		v.keep = func(u *journey.UserState) bool {
			a := x.aux[u.User]
			if a == nil {
				return false
			}
			for i, c := range f {
				if a.seg[c.seg] != codes[i] {
					return false
				}
			}
			return true
		}
	}
	return v, nil
}

func (v *view) users() *journey.Users { return v.x.users.Subset(v.keep) }

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

// breakdowns counts users by every segment.
func (x *Index) breakdowns(users []string) []Breakdown {
	out := make([]Breakdown, len(x.segments))
	for i, s := range x.segments {
		counts := map[string]int64{}
		for _, u := range users {
			counts[x.segmentValue(u, i)]++
		}
		b := Breakdown{Segment: s}
		for v, n := range counts {
			b.Values = append(b.Values, Count{Value: v, Users: n})
		}
		sort.Slice(b.Values, func(a, c int) bool {
			if b.Values[a].Users != b.Values[c].Users {
				return b.Values[a].Users > b.Values[c].Users
			}
			return b.Values[a].Value < b.Values[c].Value
		})
		out[i] = b
	}
	return out
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
	sort.Slice(users, func(i, j int) bool {
		ri, oki := x.risks[users[i].User]
		rj, okj := x.risks[users[j].User]
		if oki && okj && ri != rj {
			return ri > rj
		}
		if a, b := users[i].EnteredAt(), users[j].EnteredAt(); !a.Equal(b) {
			return a.After(b)
		}
		return users[i].User < users[j].User
	})
	p := Page{Total: len(users), Offset: offset, Users: []UserRow{}}
	for i := offset; i < len(users) && i < offset+limit; i++ {
		p.Users = append(p.Users, x.row(users[i]))
	}
	return p
}
