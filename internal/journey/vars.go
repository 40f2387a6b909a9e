package journey

import (
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// activation binds the event and user variables of one goroutine's
// evaluations. It is rebound for every event instead of building a map of
// variables per event: at millions of events, those maps and the
// conversions of the user value cost more than the expressions.
type activation struct {
	event   pipeline.EventValue
	user    *expr.User
	userVal ref.Val // user, converted once
	// kinds numbers the kinds of event seen; kind is the bound event's
	// (-1 until needed). results remembers, per stage decided by the kind
	// of event alone, its result by kind: 0 not yet known, 1 false, 2 true.
	kinds   map[eventKind]int
	kind    int
	results [][]uint8
	recent  recentKinds[eventKind]
}

// eventKind is what a condition that reads only these fields can tell
// events apart by.
type eventKind struct{ touchpoint, typ, source, system string }

func (e *Engine) newActivation() *activation {
	a := &activation{user: &expr.User{}, kinds: map[eventKind]int{}, results: make([][]uint8, len(e.stages))}
	a.userVal = e.env.UserValue(a.user)
	a.event.Adapter = e.env.Adapter()
	return a
}

// bind binds an event, and forgets the previous one's kind.
func (a *activation) bind(ev *store.Event) {
	a.event.Ev, a.kind = ev, -1
}

// kindOf numbers the bound event's kind.
func (a *activation) kindOf() int {
	if a.kind >= 0 {
		return a.kind
	}
	ev := a.event.Ev
	k := eventKind{ev.Touchpoint, ev.Type, ev.Source, ev.System}
	n, ok := a.recent.get(k)
	if !ok {
		if n, ok = a.kinds[k]; !ok {
			n = len(a.kinds)
			a.kinds[k] = n
		}
		a.recent.put(k, n)
	}
	a.kind = n
	return a.kind
}

// recentKinds are the last few kinds of event looked up. Readers hand over
// the same string for the same value, so comparing keys is mostly
// comparing pointers, cheaper than hashing them for a map.
type recentKinds[K comparable] struct {
	keys  [8]K
	kinds [8]int
	n     int
}

func (r *recentKinds[K]) get(k K) (int, bool) {
	for i := range min(r.n, len(r.keys)) {
		if r.keys[i] == k {
			return r.kinds[i], true
		}
	}
	return 0, false
}

func (r *recentKinds[K]) put(k K, kind int) {
	i := r.n % len(r.keys)
	r.keys[i], r.kinds[i] = k, kind
	r.n++
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		if a.event.Ev != nil {
			return &a.event, true
		}
	case "user":
		return a.userVal, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
