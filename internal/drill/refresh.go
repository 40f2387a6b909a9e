package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// Refresh reads the segments and revenue of the given users (nil: every
// user) from the store: the evaluator calls it with the users whose events
// changed. Every user is read in slices of the store at once, in no order
// (sparing the database a sort); a few users in their order. Either way
// each user's record keeps, of what it reads, the latest segment values and
// charge and the first charge and failure, so the order does not matter.
func (x *Index) Refresh(ctx context.Context, users []string) error {
	if users != nil && len(users) == 0 {
		return nil
	}
	x.building.Lock()
	defer x.building.Unlock()
	names := make([]string, len(x.sources))
	for i, s := range x.sources {
		names[i] = s.Name
	}
	q := store.EventQuery{Sources: names, Users: users, Lean: true}
	var fresh map[string]*userRead
	var err error
	if users == nil {
		fresh, err = x.readSliced(ctx, q)
	} else {
		r := x.newReader()
		err = x.store.ScanEvents(ctx, q, func(ev *store.Event, attrs []byte) error { r.fold(ev, attrs); return nil })
		fresh = r.users
	}
	if err != nil {
		return fmt.Errorf("reading the users' segments and revenue: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if users == nil {
		x.aux = make(map[string]*userAux, len(fresh))
	}
	for u, r := range fresh {
		r.aux.seg = make([]int32, len(x.segments))
		for i, v := range r.values {
			r.aux.seg[i] = -1
			if v != "" {
				r.aux.seg[i] = x.values[i].code(v)
			}
		}
		x.aux[u] = &r.aux
	}
	return nil
}

// readSliced folds every event, one reader per slice, then merges them.
func (x *Index) readSliced(ctx context.Context, q store.EventQuery) (map[string]*userRead, error) {
	n := runtime.GOMAXPROCS(0)
	readers := make([]*reader, n)
	for i := range readers {
		readers[i] = x.newReader()
	}
	err := x.store.ScanSlices(ctx, q, n, func(slice int, ev *store.Event, attrs []byte) error {
		readers[slice].fold(ev, attrs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := readers[0].users
	for _, r := range readers[1:] {
		for u, ur := range r.users {
			if have, ok := out[u]; ok {
				have.merge(ur)
			} else {
				out[u] = ur
			}
		}
	}
	return out, nil
}

// userRead is a user's record while reading: segment values with the
// (time, sequence) of the event that carried them.
type userRead struct {
	aux    userAux
	values []string
	at     []mark
	charge mark
}

// mark orders events: by time, then ingestion.
type mark struct {
	at  int64
	seq int64
}

func (m mark) after(o mark) bool { return m.at > o.at || (m.at == o.at && m.seq > o.seq) }

type reader struct {
	x      *Index
	users  map[string]*userRead
	intern map[string]string
}

func (x *Index) newReader() *reader {
	return &reader{x: x, users: map[string]*userRead{}, intern: map[string]string{}}
}

func (r *reader) fold(ev *store.Event, attrs []byte) {
	u := r.users[ev.UserID]
	if u == nil {
		u = &userRead{values: make([]string, len(r.x.segments)), at: make([]mark, len(r.x.segments))}
		r.users[strings.Clone(ev.UserID)] = u
	}
	m := mark{ev.OccurredAt.UnixNano(), ev.Seq}
	if len(attrs) > 0 {
		for i, s := range r.x.segments {
			if v, ok := attribute(attrs, s); ok && v != "" && (u.values[i] == "" || !u.at[i].after(m)) {
				u.values[i], u.at[i] = r.keep(v), m
			}
		}
	}
	if !r.x.financial[ev.Touchpoint] {
		return
	}
	a := &u.aux
	if failed(ev.Type) {
		if a.failedAt.IsZero() || ev.OccurredAt.Before(a.failedAt) {
			a.failedAt = ev.OccurredAt
		}
		return
	}
	if ev.Amount == nil || *ev.Amount <= 0 {
		return
	}
	if a.paidAt.IsZero() || ev.OccurredAt.Before(a.paidAt) {
		a.paidAt = ev.OccurredAt
	}
	if a.chargedAt.IsZero() || !u.charge.after(m) {
		a.revenue, a.currency, a.chargedAt, u.charge = *ev.Amount, r.keep(ev.Currency), ev.OccurredAt, m
	}
}

// merge folds another slice's record of the same user.
func (u *userRead) merge(o *userRead) {
	for i := range u.values {
		if o.values[i] != "" && (u.values[i] == "" || o.at[i].after(u.at[i])) {
			u.values[i], u.at[i] = o.values[i], o.at[i]
		}
	}
	a, b := &u.aux, &o.aux
	if !b.failedAt.IsZero() && (a.failedAt.IsZero() || b.failedAt.Before(a.failedAt)) {
		a.failedAt = b.failedAt
	}
	if !b.paidAt.IsZero() && (a.paidAt.IsZero() || b.paidAt.Before(a.paidAt)) {
		a.paidAt = b.paidAt
	}
	if !b.chargedAt.IsZero() && (a.chargedAt.IsZero() || o.charge.after(u.charge)) {
		a.revenue, a.currency, a.chargedAt, u.charge = b.revenue, b.currency, b.chargedAt, o.charge
	}
}

// keep interns a string the reader keeps.
func (r *reader) keep(s string) string {
	if v, ok := r.intern[s]; ok {
		return v
	}
	s = strings.Clone(s)
	r.intern[s] = s
	return s
}

// attribute reads a top-level attribute's value as text without decoding
// the whole object: attributes are flat maps of strings, numbers and
// booleans. A key seen twice (nested objects) falls back to decoding.
func attribute(attrs []byte, key string) (string, bool) {
	pat := []byte(`"` + key + `":`)
	i := bytes.Index(attrs, pat)
	if i < 0 {
		return "", false
	}
	if bytes.Count(attrs, pat) > 1 {
		var m map[string]any
		if json.Unmarshal(attrs, &m) != nil || m[key] == nil {
			return "", false
		}
		return fmt.Sprint(m[key]), true
	}
	rest := bytes.TrimLeft(attrs[i+len(pat):], " \t\r\n")
	if len(rest) == 0 {
		return "", false
	}
	if rest[0] == '"' {
		end := 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			return "", false
		}
		v, err := strconv.Unquote(string(rest[:end+1]))
		return v, err == nil
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return "", false
	}
	v := string(bytes.TrimSpace(rest[:end]))
	if v == "null" || strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
		return "", false
	}
	return v, true
}
