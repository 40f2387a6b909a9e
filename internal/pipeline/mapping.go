package pipeline

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// mapRecord evaluates the mapping into c. A required field that fails or
// is null is an error naming it; an optional one maps to null. It runs on
// the workers: it writes only c.
func (p *Pipeline) mapRecord(c *candidate, r connector.Record, runID string) error {
	c.raw = r
	c.act.record = map[string]any(r)
	a := &c.act
	c.ev = store.Event{Source: p.id, Namespace: p.src.Namespace, Touchpoint: p.src.Spec.Touchpoint, System: p.src.Spec.System, RunID: runID}
	ev := &c.ev
	required := func(name string, prg *program) (any, error) {
		v, null, err := prg.eval(a, false)
		if err != nil {
			return nil, fmt.Errorf("spec.mapping.%s: %v", name, err)
		}
		if null {
			return nil, fmt.Errorf("spec.mapping.%s is null or empty", name)
		}
		return v, nil
	}
	for _, f := range [...]struct {
		name string
		prg  *program
		dst  *string
	}{{"eventID", p.eventID, &ev.EventID}, {"userID", p.userID, &ev.UserID}, {"type", p.typ, &ev.Type}} {
		v, err := required(f.name, f.prg)
		if err != nil {
			return err
		}
		*f.dst = text(v)
	}
	at, err := required("occurredAt", p.at)
	if err != nil {
		return err
	}
	if ev.OccurredAt, err = toTime(at); err != nil {
		return fmt.Errorf("spec.mapping.occurredAt: %v", err)
	}
	if v := optional(p.amount, a); v != nil {
		f, err := toFloat(v)
		if err != nil {
			return fmt.Errorf("spec.mapping.amount: %v", err)
		}
		ev.Amount = &f
	}
	if v := optional(p.currency, a); v != nil {
		ev.Currency = text(v)
	}
	ev.Attributes = make(map[string]any, len(p.attributes))
	for _, k := range p.spread {
		from, _ := r[k].(map[string]any)
		for n, v := range from {
			if v != nil {
				ev.Attributes[n] = v
			}
		}
	}
	for _, f := range p.attributes {
		if v := optional(f.prg, a); v != nil {
			ev.Attributes[f.name] = v
		}
	}
	c.act.event = EventValue{Ev: ev, Adapter: p.adapter}
	return nil
}

// optional evaluates an optional field: absent, null or failing is nil.
func optional(prg *program, a *activation) any {
	if prg == nil {
		return nil
	}
	v, null, err := prg.eval(a, true)
	if err != nil || null {
		return nil
	}
	return v
}

// native turns a CEL value into plain Go: lists and maps become []any and
// map[string]any so events serialise as JSON.
func native(v ref.Val) any {
	switch v.Type() {
	case types.ListType:
		if l, err := v.ConvertToNative(reflect.TypeFor[[]any]()); err == nil {
			return l
		}
	case types.MapType:
		if m, err := v.ConvertToNative(reflect.TypeFor[map[string]any]()); err == nil {
			return m
		}
	}
	return v.Value()
}

func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case int64:
		return time.Unix(t, 0).UTC(), nil
	case float64:
		return time.Unix(int64(t), 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want a timestamp, got %T", v)
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case int64:
		return float64(n), nil
	case uint64:
		return float64(n), nil
	case string:
		return strconv.ParseFloat(n, 64)
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// rawOf is what a held record keeps: the record as sent when the input
// has it (or can make it), else the record encoded.
func rawOf(sent []byte, sentFn func() []byte, r connector.Record) []byte {
	if sent == nil && sentFn != nil {
		sent = sentFn()
	}
	if sent != nil {
		return sent
	}
	return rawJSON(r)
}

func rawJSON(r connector.Record) []byte {
	b, err := json.Marshal(map[string]any(r))
	if err != nil {
		return []byte(fmt.Sprintf("%q", fmt.Sprint(r)))
	}
	return b
}

// OccurredAt maps only a record's occurredAt, for run-level prescans.
func (p *Pipeline) OccurredAt(r connector.Record) (time.Time, bool) {
	v, null, err := p.at.eval(&activation{record: map[string]any(r)}, false)
	if err != nil || null {
		return time.Time{}, false
	}
	t, err := toTime(v)
	return t, err == nil
}
