// Package expr is the one CEL environment of journey-operator. The controller
// compiles every expression of a spec with it to report mistakes as a Stalled
// condition, and the data plane compiles the very same expressions with it to
// run them, so what the controller accepts is exactly what runs.
//
// Variables, by where an expression appears:
//
//	mapping, incremental cursor     record (the raw record, dyn)
//	pagination                      body (the decoded response), records (the page's records)
//	checks                          event (the mapped event), record
//	stage enterWhen                 event, user
//	User-scoped alerts              user
//	Journey-scoped alerts           journey
//
// event is a map with the fields eventID, userID, occurredAt (timestamp), type,
// touchpoint, source, system, amount (double or null), currency (string or
// null) and attributes (map). Selecting another field of event is a compile
// error, so a typo is reported by the controller, not by the first record.
//
// user has the fields stage (string) and enteredAt (timestamp) and the helpers
//
//	user.count(touchpoint, type, window)              events of that type within window → int
//	user.sum(touchpoint, attribute, window)           sum of a numeric attribute within window → double
//	user.sumBetween(touchpoint, attribute, from, to)  the same between from and to ago (from > to) → double
//
// journey has the helpers journey.users(stage) → int and
// journey.conversion(fromStage, toStage) → double (0..1).
//
// The standard CEL library is there, plus the strings, math, lists, sets and
// encoders extensions and optional types, as in Kubernetes' own CEL.
package expr

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/decls"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// Context says where an expression appears, which decides the variables it
// sees and the type it must produce.
type Context int

const (
	// Mapping: spec.mapping fields and the incremental cursor, over record.
	Mapping Context = iota
	// Pagination: nextCursor and hasMore, over body and records.
	Pagination
	// PaginationCondition: hasMore, a bool over body and records.
	PaginationCondition
	// CheckValue: keys of unique, relationship, acceptedValues and notNull
	// items, over event and record.
	CheckValue
	// CheckCondition: a check's expression, a bool over event and record.
	CheckCondition
	// StageCondition: a stage's enterWhen, a bool over event and user.
	StageCondition
	// UserAlert: a User-scoped alert, a bool over user.
	UserAlert
	// JourneyAlert: a Journey-scoped alert, a bool over journey.
	JourneyAlert
)

// EventFields are the fields of the event variable.
var EventFields = []string{"eventID", "userID", "occurredAt", "type", "touchpoint", "source", "system", "amount", "currency", "attributes"}

// UserHistory answers the user helpers for one user; the data plane provides it.
type UserHistory interface {
	Count(touchpoint, eventType string, window time.Duration) int64
	Sum(touchpoint, attribute string, window time.Duration) float64
	SumBetween(touchpoint, attribute string, from, to time.Duration) float64
}

// JourneyStats answers the journey helpers; the data plane provides it.
type JourneyStats interface {
	Users(stage string) int64
	Conversion(from, to string) float64
}

// User is the value of the user variable.
type User struct {
	Stage     string    `cel:"stage"`
	EnteredAt time.Time `cel:"enteredAt"`
	// ChurnRisk is the probability, 0..1, that the user enters the map's
	// last stage within the prediction's horizon, as the churn model last
	// scored them (0 before it has).
	ChurnRisk float64 `cel:"churnRisk"`
	history   UserHistory
}

// NewUser binds a user's stage and history for evaluation.
func NewUser(stage string, enteredAt time.Time, h UserHistory) *User {
	return &User{Stage: stage, EnteredAt: enteredAt, history: h}
}

// Bind points u at another user's stage and history, so that one value,
// converted once by UserValue, serves every evaluation of a goroutine.
func (u *User) Bind(stage string, enteredAt time.Time, h UserHistory) {
	u.Stage, u.EnteredAt, u.history = stage, enteredAt, h
}

// Journey is the value of the journey variable.
type Journey struct {
	stats JourneyStats
}

// NewJourney binds journey-wide statistics for evaluation.
func NewJourney(s JourneyStats) *Journey { return &Journey{stats: s} }

const (
	userTypeName    = "expr.User"
	journeyTypeName = "expr.Journey"
)

// Env holds the compiled environments, one per Context. Build it once and
// share it: environments are immutable and safe for concurrent use.
type Env struct {
	envs map[Context]*cel.Env
}

// NewEnv builds the environments.
func NewEnv() (*Env, error) {
	base, err := cel.NewEnv(
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Math(),
		ext.Lists(),
		ext.Sets(),
		ext.Encoders(),
		ext.NativeTypes(reflect.TypeFor[User](), reflect.TypeFor[Journey](), ext.ParseStructTags(true)),
		userFunctions(),
		journeyFunctions(),
	)
	if err != nil {
		return nil, fmt.Errorf("building the CEL base environment: %w", err)
	}
	dyn := cel.DynType
	event := cel.MapType(cel.StringType, dyn)
	user := cel.ObjectType(userTypeName)
	journey := cel.ObjectType(journeyTypeName)
	vars := map[Context][]cel.EnvOption{
		Mapping:             {cel.Variable("record", dyn)},
		Pagination:          {cel.Variable("body", dyn), cel.Variable("records", cel.ListType(dyn))},
		PaginationCondition: {cel.Variable("body", dyn), cel.Variable("records", cel.ListType(dyn))},
		CheckValue:          {cel.Variable("event", event), cel.Variable("record", dyn)},
		CheckCondition:      {cel.Variable("event", event), cel.Variable("record", dyn)},
		StageCondition:      {cel.Variable("event", event), cel.Variable("user", user)},
		UserAlert:           {cel.Variable("user", user)},
		JourneyAlert:        {cel.Variable("journey", journey)},
	}
	e := &Env{envs: map[Context]*cel.Env{}}
	for c, opts := range vars {
		env, err := base.Extend(opts...)
		if err != nil {
			return nil, fmt.Errorf("building the CEL environment for %s: %w", c, err)
		}
		e.envs[c] = env
	}
	return e, nil
}

func (c Context) String() string {
	switch c {
	case Mapping:
		return "mapping"
	case Pagination:
		return "pagination"
	case PaginationCondition:
		return "pagination condition"
	case CheckValue:
		return "check value"
	case CheckCondition:
		return "check condition"
	case StageCondition:
		return "stage condition"
	case UserAlert:
		return "User-scoped alert"
	case JourneyAlert:
		return "Journey-scoped alert"
	}
	return fmt.Sprintf("Context(%d)", int(c))
}

// wantsBool reports whether expressions of the context are conditions.
func (c Context) wantsBool() bool {
	switch c {
	case PaginationCondition, CheckCondition, StageCondition, UserAlert, JourneyAlert:
		return true
	}
	return false
}

// Compile type-checks src for its context and returns the checked AST. The
// error reads well in a condition message: the compiler's first lines, with
// the offending column marked.
func (e *Env) Compile(c Context, src string) (*cel.Ast, error) {
	env, ok := e.envs[c]
	if !ok {
		return nil, fmt.Errorf("unknown expression context %d", int(c))
	}
	checked, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", oneLine(iss.Err().Error()))
	}
	if c.wantsBool() {
		if t := checked.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			return nil, fmt.Errorf("must be a condition (bool), but is %s", t)
		}
	}
	if err := checkEventFields(checked); err != nil {
		return nil, err
	}
	return checked, nil
}

// UserValue converts u to its CEL value once; Bind changes what it holds
// between evaluations. Converting a user for every evaluation costs more
// than most expressions do.
func (e *Env) UserValue(u *User) ref.Val {
	return e.envs[StageCondition].CELTypeAdapter().NativeToValue(u)
}

// Adapter converts Go values to CEL values in the evaluation environments.
func (e *Env) Adapter() types.Adapter { return e.envs[StageCondition].CELTypeAdapter() }

// Program compiles src and plans it for evaluation.
func (e *Env) Program(c Context, src string) (cel.Program, error) {
	checked, err := e.Compile(c, src)
	if err != nil {
		return nil, err
	}
	prg, err := e.envs[c].Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	return prg, nil
}

// checkEventFields refuses event.<field> for a field events do not have.
func checkEventFields(checked *cel.Ast) error {
	known := map[string]bool{}
	for _, f := range EventFields {
		known[f] = true
	}
	var unknown []string
	ast.PostOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.SelectKind {
			return
		}
		sel := x.AsSelect()
		op := sel.Operand()
		if op.Kind() == ast.IdentKind && op.AsIdent() == "event" && !known[sel.FieldName()] {
			unknown = append(unknown, sel.FieldName())
		}
	}))
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("event has no field %q; its fields are %s (raw fields are under record)",
		unknown[0], strings.Join(EventFields, ", "))
}

// oneLine folds the compiler's multi-line report (message, source line,
// caret) into one line for a condition message.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.Trim(l, ".^ ") == "" || strings.HasPrefix(l, "|") {
			continue
		}
		l = strings.TrimPrefix(l, "ERROR: ")
		l = strings.ReplaceAll(l, " (in container '')", "")
		if m := positionPrefix.FindStringSubmatch(l); m != nil {
			l = strings.TrimPrefix(l, m[0]) + " (column " + m[1] + ")"
		}
		out = append(out, l)
	}
	return strings.Join(out, "; ")
}

// positionPrefix is cel-go's "<input>:line:column: " location.
var positionPrefix = regexp.MustCompile(`^<input>:\d+:(\d+): `)

func userFunctions() cel.EnvOption {
	user := cel.ObjectType(userTypeName)
	s, d := cel.StringType, cel.DurationType
	// The checker has typed the arguments, but a dyn one (an attribute, say)
	// may be anything at run time: args reads them without the generic
	// per-call type guards, which cost more than the helpers themselves.
	return cel.Lib(funcLib{
		cel.Function("count", cel.MemberOverload("user_count_string_string_duration",
			[]*cel.Type{user, s, s, d}, cel.IntType,
			cel.FunctionBinding(func(a ...ref.Val) ref.Val {
				u, tp, typ, w, _, err := userArgs(a)
				if err != nil {
					return err
				}
				return types.Int(u.history.Count(tp, typ, w))
			})), decls.DisableTypeGuards(true)),
		cel.Function("sum", cel.MemberOverload("user_sum_string_string_duration",
			[]*cel.Type{user, s, s, d}, cel.DoubleType,
			cel.FunctionBinding(func(a ...ref.Val) ref.Val {
				u, tp, attr, w, _, err := userArgs(a)
				if err != nil {
					return err
				}
				return types.Double(u.history.Sum(tp, attr, w))
			})), decls.DisableTypeGuards(true)),
		cel.Function("sumBetween", cel.MemberOverload("user_sumBetween_string_string_duration_duration",
			[]*cel.Type{user, s, s, d, d}, cel.DoubleType,
			cel.FunctionBinding(func(a ...ref.Val) ref.Val {
				u, tp, attr, from, to, err := userArgs(a)
				if err != nil {
					return err
				}
				return types.Double(u.history.SumBetween(tp, attr, from, to))
			})), decls.DisableTypeGuards(true)),
	})
}

// userArgs reads a user helper's arguments: the user, two strings and one
// or two durations.
func userArgs(a []ref.Val) (u *User, s1, s2 string, d1, d2 time.Duration, err ref.Val) {
	u, ok := a[0].Value().(*User)
	if !ok || u.history == nil {
		return nil, "", "", 0, 0, types.NewErr("user is not bound to a history")
	}
	x, ok1 := a[1].(types.String)
	y, ok2 := a[2].(types.String)
	w, ok3 := a[3].(types.Duration)
	if !ok1 || !ok2 || !ok3 {
		return nil, "", "", 0, 0, types.NewErr("user helper: want (string, string, duration), got (%s, %s, %s)", a[1].Type(), a[2].Type(), a[3].Type())
	}
	if len(a) > 4 {
		v, ok := a[4].(types.Duration)
		if !ok {
			return nil, "", "", 0, 0, types.NewErr("user helper: want a duration, got %s", a[4].Type())
		}
		d2 = v.Duration
	}
	return u, string(x), string(y), w.Duration, d2, nil
}

func journeyFunctions() cel.EnvOption {
	journey := cel.ObjectType(journeyTypeName)
	s := cel.StringType
	return cel.Lib(funcLib{
		cel.Function("users", cel.MemberOverload("journey_users_string",
			[]*cel.Type{journey, s}, cel.IntType,
			cel.BinaryBinding(func(j, stage ref.Val) ref.Val {
				jy, err := journeyOf(j)
				if err != nil {
					return types.NewErr("%v", err)
				}
				return types.Int(jy.stats.Users(str(stage)))
			}))),
		cel.Function("conversion", cel.MemberOverload("journey_conversion_string_string",
			[]*cel.Type{journey, s, s}, cel.DoubleType,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				jy, err := journeyOf(args[0])
				if err != nil {
					return types.NewErr("%v", err)
				}
				return types.Double(jy.stats.Conversion(str(args[1]), str(args[2])))
			}))),
	})
}

// funcLib turns a list of function declarations into a cel.Library.
type funcLib []cel.EnvOption

func (l funcLib) CompileOptions() []cel.EnvOption   { return l }
func (funcLib) ProgramOptions() []cel.ProgramOption { return nil }

func journeyOf(v ref.Val) (*Journey, error) {
	if j, ok := v.Value().(*Journey); ok && j.stats != nil {
		return j, nil
	}
	return nil, fmt.Errorf("journey is not bound")
}

func str(v ref.Val) string { s, _ := v.Value().(string); return s }
