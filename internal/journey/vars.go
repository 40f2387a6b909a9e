package journey

import (
	"reflect"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
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
	event   eventValue
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
	a.event.adapter = e.env.Adapter()
	return a
}

// bind binds an event, and forgets the previous one's kind.
func (a *activation) bind(ev *store.Event) {
	a.event.ev, a.kind = ev, -1
}

// kindOf numbers the bound event's kind.
func (a *activation) kindOf() int {
	if a.kind >= 0 {
		return a.kind
	}
	ev := a.event.ev
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
		if a.event.ev != nil {
			return &a.event, true
		}
	case "user":
		return a.userVal, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// eventValue is the event variable: a CEL map whose fields are read from
// the event when an expression selects them, which is all most conditions
// do. Anything else (iterating it, comparing it whole) goes through the
// same map the pipeline builds (pipeline.EventVars).
type eventValue struct {
	ev      *store.Event
	adapter types.Adapter
}

var _ traits.Mapper = (*eventValue)(nil)

func (v *eventValue) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return v.full().Find(key)
	}
	ev := v.ev
	switch k {
	case "eventID":
		return types.String(ev.EventID), true
	case "userID":
		return types.String(ev.UserID), true
	case "occurredAt":
		return types.Timestamp{Time: ev.OccurredAt}, true
	case "type":
		return types.String(ev.Type), true
	case "touchpoint":
		return types.String(ev.Touchpoint), true
	case "source":
		name := ev.Source
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		return types.String(name), true
	case "system":
		return types.String(ev.System), true
	case "amount":
		if ev.Amount == nil {
			return types.NullValue, true
		}
		return types.Double(*ev.Amount), true
	case "currency":
		if ev.Currency == "" {
			return types.NullValue, true
		}
		return types.String(ev.Currency), true
	case "attributes":
		attrs := ev.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		return v.adapter.NativeToValue(attrs), true
	}
	return nil, false
}

func (v *eventValue) Get(key ref.Val) ref.Val {
	if out, ok := v.Find(key); ok {
		return out
	}
	return v.full().Get(key)
}

func (v *eventValue) full() traits.Mapper {
	return v.adapter.NativeToValue(pipeline.EventVars(*v.ev)).(traits.Mapper)
}

func (v *eventValue) Contains(key ref.Val) ref.Val                { return v.full().Contains(key) }
func (v *eventValue) Iterator() traits.Iterator                   { return v.full().Iterator() }
func (v *eventValue) Size() ref.Val                               { return v.full().Size() }
func (v *eventValue) Equal(other ref.Val) ref.Val                 { return v.full().Equal(other) }
func (v *eventValue) Type() ref.Type                              { return types.MapType }
func (v *eventValue) Value() any                                  { return pipeline.EventVars(*v.ev) }
func (v *eventValue) ConvertToType(t ref.Type) ref.Val            { return v.full().ConvertToType(t) }
func (v *eventValue) ConvertToNative(t reflect.Type) (any, error) { return v.full().ConvertToNative(t) }
