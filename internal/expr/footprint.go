package expr

import (
	"fmt"
	"time"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// Footprint is what a stage condition or User-scoped alert reads, found by
// walking its checked AST. The journey engine uses it to keep no more of a
// user's history than the expressions can look at.
type Footprint struct {
	// Event is true when the expression reads the event variable;
	// EventFields lists the fields it selects, and AllEventFields is true
	// when it uses event whole (in a comprehension, say).
	Event          bool
	EventFields    map[string]bool
	AllEventFields bool
	// User is true when the expression reads the user variable;
	// ChurnRisk when it reads user.churnRisk.
	User, ChurnRisk bool
	// Series are the user helper calls, when every one of them has constant
	// arguments (Bounded). A helper call with a computed touchpoint, type,
	// attribute or window leaves Bounded false and Series incomplete.
	Series  []Series
	Bounded bool
}

// Series is what one user helper call looks at: events of Touchpoint, of
// Type (count) or with the numeric attribute Attribute (sum, sumBetween),
// back to Window before the time the helper answers for.
type Series struct {
	Touchpoint, Type, Attribute string
	Window                      time.Duration
}

// Footprint compiles src for its context and reports what it reads.
func (e *Env) Footprint(c Context, src string) (Footprint, error) {
	checked, err := e.Compile(c, src)
	if err != nil {
		return Footprint{}, err
	}
	f := Footprint{EventFields: map[string]bool{}, Bounded: true}
	selected := map[int64]bool{} // ident nodes that are the operand of a select
	ast.PostOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		switch x.Kind() {
		case ast.SelectKind:
			sel := x.AsSelect()
			if op := sel.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "event" {
				f.EventFields[sel.FieldName()] = true
				selected[op.ID()] = true
			}
			if op := sel.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "user" && sel.FieldName() == "churnRisk" {
				f.ChurnRisk = true
			}
		case ast.IdentKind:
			switch x.AsIdent() {
			case "event":
				f.Event = true
			case "user":
				f.User = true
			}
		case ast.CallKind:
			call := x.AsCall()
			if !call.IsMemberFunction() || call.Target().Kind() != ast.IdentKind || call.Target().AsIdent() != "user" {
				return
			}
			s, ok := series(call.FunctionName(), call.Args())
			if !ok {
				f.Bounded = false
				return
			}
			f.Series = append(f.Series, s)
		}
	}))
	// event used other than through a field select: every field counts.
	ast.PostOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.IdentKind && x.AsIdent() == "event" && !selected[x.ID()] {
			f.AllEventFields = true
		}
	}))
	return f, nil
}

// series reads a helper call's constant arguments.
func series(fn string, args []ast.Expr) (Series, bool) {
	switch fn {
	case "count", "sum":
		if len(args) != 3 {
			return Series{}, false
		}
		tp, ok1 := constString(args[0])
		name, ok2 := constString(args[1])
		w, ok3 := constDuration(args[2])
		if !ok1 || !ok2 || !ok3 {
			return Series{}, false
		}
		if fn == "count" {
			return Series{Touchpoint: tp, Type: name, Window: w}, true
		}
		return Series{Touchpoint: tp, Attribute: name, Window: w}, true
	case "sumBetween":
		if len(args) != 4 {
			return Series{}, false
		}
		tp, ok1 := constString(args[0])
		name, ok2 := constString(args[1])
		from, ok3 := constDuration(args[2])
		to, ok4 := constDuration(args[3])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return Series{}, false
		}
		return Series{Touchpoint: tp, Attribute: name, Window: max(from, to)}, true
	}
	return Series{}, false
}

func constString(x ast.Expr) (string, bool) {
	if x.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().(types.String)
	return string(s), ok
}

// constDuration reads duration("...") or a folded duration constant.
func constDuration(x ast.Expr) (time.Duration, bool) {
	switch x.Kind() {
	case ast.LiteralKind:
		if d, ok := x.AsLiteral().(types.Duration); ok {
			return d.Duration, true
		}
	case ast.CallKind:
		call := x.AsCall()
		if call.FunctionName() != "duration" || call.IsMemberFunction() || len(call.Args()) != 1 {
			return 0, false
		}
		s, ok := constString(call.Args()[0])
		if !ok {
			return 0, false
		}
		d := types.String(s).ConvertToType(types.DurationType)
		if dv, ok := d.(types.Duration); ok {
			return dv.Duration, true
		}
	}
	return 0, false
}

// String names a series for messages.
func (s Series) String() string {
	if s.Type != "" {
		return fmt.Sprintf("count(%q, %q, %s)", s.Touchpoint, s.Type, s.Window)
	}
	return fmt.Sprintf("sum(%q, %q, %s)", s.Touchpoint, s.Attribute, s.Window)
}

// HelperCall is one user helper call with constant arguments, as an alert
// or condition spells it: what a person reads as "the value it compared".
type HelperCall struct {
	// Text is the call as written, e.g. user.sum("playback", "minutes", duration("168h")).
	Text             string
	Function         string // count, sum or sumBetween
	Touchpoint, Name string // Name: the event type (count) or the attribute
	Window, From, To time.Duration
}

// HelperCalls lists src's user helper calls whose arguments are constants,
// in the order they appear.
func (e *Env) HelperCalls(c Context, src string) ([]HelperCall, error) {
	checked, err := e.Compile(c, src)
	if err != nil {
		return nil, err
	}
	var out []HelperCall
	ast.PreOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.CallKind {
			return
		}
		call := x.AsCall()
		if !call.IsMemberFunction() || call.Target().Kind() != ast.IdentKind || call.Target().AsIdent() != "user" {
			return
		}
		args := call.Args()
		h := HelperCall{Function: call.FunctionName()}
		var ok1, ok2, ok3, ok4 bool
		switch h.Function {
		case "count", "sum":
			if len(args) != 3 {
				return
			}
			h.Touchpoint, ok1 = constString(args[0])
			h.Name, ok2 = constString(args[1])
			h.Window, ok3 = constDuration(args[2])
			ok4 = true
			h.Text = fmt.Sprintf("user.%s(%q, %q, duration(%q))", h.Function, h.Touchpoint, h.Name, shortDuration(h.Window))
		case "sumBetween":
			if len(args) != 4 {
				return
			}
			h.Touchpoint, ok1 = constString(args[0])
			h.Name, ok2 = constString(args[1])
			h.From, ok3 = constDuration(args[2])
			h.To, ok4 = constDuration(args[3])
			h.Text = fmt.Sprintf("user.sumBetween(%q, %q, duration(%q), duration(%q))", h.Touchpoint, h.Name, shortDuration(h.From), shortDuration(h.To))
		default:
			return
		}
		if ok1 && ok2 && ok3 && ok4 {
			out = append(out, h)
		}
	}))
	return out, nil
}

// shortDuration writes whole hours as specs do ("168h").
func shortDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
