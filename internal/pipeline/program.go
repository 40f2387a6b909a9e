package pipeline

import (
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/cjm-dev/journey-operator/internal/expr"
)

// program is a compiled expression of a mapping or a check. Most of them
// only select a field of a variable (record.data.object.customer,
// event.userID): such a path is read straight from the maps when every step
// is a map[string]any that has the key and the value is null, a string, an
// int64, a float64 or a bool, which is exactly the value CEL would return
// then. Anything else (a missing key, another type, any other expression)
// CEL evaluates, so errors and conversions stay CEL's own.
type program struct {
	prg  cel.Program
	root string   // "record" or "event" when the expression is a field path
	path []string // the path's fields, outermost first
}

func newProgram(env *expr.Env, c expr.Context, src string) (*program, error) {
	prg, err := env.Program(c, src)
	if err != nil {
		return nil, err
	}
	p := &program{prg: prg}
	if checked, err := env.Compile(c, src); err == nil {
		p.root, p.path = fieldPath(checked.NativeRep().Expr())
	}
	return p, nil
}

// fieldPath returns the variable and fields of an expression that is only
// a chain of field selections from record or event (not has()).
func fieldPath(e ast.Expr) (string, []string) {
	var path []string
	for e.Kind() == ast.SelectKind {
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return "", nil
		}
		path = append(path, sel.FieldName())
		e = sel.Operand()
	}
	if e.Kind() != ast.IdentKind || len(path) == 0 {
		return "", nil
	}
	if root := e.AsIdent(); root == "record" || root == "event" {
		slices.Reverse(path)
		return root, path
	}
	return "", nil
}

// lookup reads a field path; ok is false where CEL must evaluate instead.
func (p *program) lookup(a *activation) (any, bool) {
	if p.path == nil {
		return nil, false
	}
	path, m := p.path, a.record
	if p.root == "event" {
		ev := &a.event
		if ev.Ev == nil {
			return nil, false
		}
		if path[0] != "attributes" {
			v, ok := ev.field(path[0])
			if !ok || len(path) > 1 {
				return nil, false
			}
			return plain(v)
		}
		if m, path = ev.Ev.Attributes, path[1:]; len(path) == 0 {
			return nil, false
		}
	}
	last := len(path) - 1
	for i, k := range path {
		v, found := m[k]
		if !found {
			return nil, false
		}
		if i == last {
			return plain(v)
		}
		if m, found = v.(map[string]any); !found {
			return nil, false
		}
	}
	return nil, false
}

// plain is v when CEL's value of it would be v itself.
func plain(v any) (any, bool) {
	switch v.(type) {
	case nil, string, int64, float64, bool:
		return v, true
	}
	return nil, false
}

// eval returns the expression's value as Go (CEL's Value(), or with
// asNative lists and maps as []any and map[string]any) and whether it is
// null (null or the empty string).
func (p *program) eval(a *activation, asNative bool) (any, bool, error) {
	if v, ok := p.lookup(a); ok {
		if v == nil || v == "" {
			return nil, true, nil
		}
		return v, false, nil
	}
	out, _, err := p.prg.Eval(a)
	if err != nil {
		return nil, false, err
	}
	if isNull(out) {
		return nil, true, nil
	}
	if asNative {
		return native(out), false, nil
	}
	return out.Value(), false, nil
}

// cond evaluates a condition: true only if it is the bool true.
func (p *program) cond(a *activation) (bool, error) {
	if v, ok := p.lookup(a); ok {
		return v == true, nil
	}
	out, _, err := p.prg.Eval(a)
	if err != nil {
		return false, err
	}
	return out == types.True, nil
}

// activation holds the variables of one record: record, and once it is
// mapped, event. It spares CEL a map and its wrapper per evaluation.
type activation struct {
	record map[string]any
	event  EventValue // bound (Ev set) once mapped
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "record":
		return a.record, true
	case "event":
		return &a.event, a.event.Ev != nil
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
