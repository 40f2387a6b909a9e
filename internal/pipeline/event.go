package pipeline

import (
	"reflect"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// EventValue is the event variable of checks and stage conditions: a CEL
// map whose fields are read from the event when an expression selects
// them, which is all most expressions do. Anything else (iterating it,
// comparing it whole) goes through the map EventVars builds. Bind it to an
// event (Ev) and an adapter (the expr.Env's) before use.
type EventValue struct {
	Ev      *store.Event
	Adapter types.Adapter
}

var _ traits.Mapper = (*EventValue)(nil)

// field is a field of the event as Go, as EventVars has it; ok is false for
// attributes and for a field events do not have.
func (v *EventValue) field(name string) (value any, ok bool) {
	if name == "attributes" {
		return nil, false
	}
	f, ok := v.Find(types.String(name))
	switch {
	case !ok:
		return nil, false
	case f == types.NullValue:
		return nil, true
	}
	return f.Value(), true
}

// Find reads a field straight from the event, as CEL values: stage
// conditions select fields of millions of events, so nothing here goes
// through an interface or a map.
func (v *EventValue) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return v.full().Find(key)
	}
	ev := v.Ev
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
		return types.String(sourceName(ev.Source)), true
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
		return v.Adapter.NativeToValue(attrs), true
	}
	return nil, false
}

func (v *EventValue) Get(key ref.Val) ref.Val {
	if out, ok := v.Find(key); ok {
		return out
	}
	return v.full().Get(key)
}

func (v *EventValue) full() traits.Mapper {
	return v.Adapter.NativeToValue(EventVars(*v.Ev)).(traits.Mapper)
}

func (v *EventValue) Contains(key ref.Val) ref.Val                { return v.full().Contains(key) }
func (v *EventValue) Iterator() traits.Iterator                   { return v.full().Iterator() }
func (v *EventValue) Size() ref.Val                               { return v.full().Size() }
func (v *EventValue) Equal(other ref.Val) ref.Val                 { return v.full().Equal(other) }
func (v *EventValue) Type() ref.Type                              { return types.MapType }
func (v *EventValue) Value() any                                  { return EventVars(*v.Ev) }
func (v *EventValue) ConvertToType(t ref.Type) ref.Val            { return v.full().ConvertToType(t) }
func (v *EventValue) ConvertToNative(t reflect.Type) (any, error) { return v.full().ConvertToNative(t) }

// EventVars is the event variable as a Go map: the fields of
// expr.EventFields, with null for an absent amount or currency.
func EventVars(ev store.Event) map[string]any {
	var amount, currency any
	if ev.Amount != nil {
		amount = *ev.Amount
	}
	if ev.Currency != "" {
		currency = ev.Currency
	}
	attrs := ev.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return map[string]any{
		"eventID": ev.EventID, "userID": ev.UserID, "occurredAt": ev.OccurredAt, "type": ev.Type,
		"touchpoint": ev.Touchpoint, "source": sourceName(ev.Source), "system": ev.System,
		"amount": amount, "currency": currency, "attributes": attrs,
	}
}

// sourceName is a source's name without its namespace.
func sourceName(source string) string {
	if i := strings.LastIndex(source, "/"); i >= 0 {
		return source[i+1:]
	}
	return source
}
