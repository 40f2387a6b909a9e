// Package pipeline turns raw records into journey events, one batch at a
// time: map (CEL from spec.mapping, compiled once), deduplicate on (source,
// eventID) against the store and the batch, run the checks, and sort each
// record by the strongest action of the checks it failed: Reject (counted,
// dropped) > Quarantine (kept with the raw record, check and reason) > Warn
// (counted, accepted). Run-level checks (freshness, volume) are the ingest
// package's: they judge a run, not a record.
package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Pseudo-check names for records that never became events.
const (
	CheckMapping = "mapping"
	CheckDecode  = "decode"
)

type field struct {
	name string
	prg  *program
}

type check struct {
	rule, name string
	id         string // rule/name: how the store names a unique check's keys
	action     v1alpha1.CheckAction
	message    string
	kind       string
	expr       *program // expression, or the key of unique/relationship/acceptedValues
	notNull    []field  // notNull items
	accepted   map[string]bool
	window     time.Duration // unique
	touchpoint string        // relationship
}

// Pipeline holds a source's compiled mapping and record-level checks.
type Pipeline struct {
	src                      runconfig.Source
	id                       string // namespace/name
	eventID, userID, at, typ *program
	amount, currency         *program
	attributes               []field
	checks                   []check
	uniqueChecks             int           // how many of checks are unique checks
	adapter                  types.Adapter // for the event variable
	spare                    atomic.Pointer[scratch]
	// RunChecks are the freshness and volume checks, for the ingest package.
	RunChecks []v1alpha1.Check
	// Workers is how many goroutines map and check a batch's records
	// (0: GOMAXPROCS). The result does not depend on it.
	Workers int
}

// SourceID is how the store names a source: namespace/name.
func SourceID(namespace, name string) string { return namespace + "/" + name }

// New compiles a source's configuration.
func New(env *expr.Env, src runconfig.Source) (*Pipeline, error) {
	p := &Pipeline{src: src, id: SourceID(src.Namespace, src.Name), adapter: env.Adapter()}
	m := src.Spec.Mapping
	compile := func(c expr.Context, fieldPath string, e v1alpha1.Expression) (*program, error) {
		if e == "" {
			return nil, nil
		}
		prg, err := newProgram(env, c, string(e))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldPath, err)
		}
		return prg, nil
	}
	var err error
	for _, f := range []struct {
		dst  **program
		path string
		e    v1alpha1.Expression
	}{
		{&p.eventID, "spec.mapping.eventID", m.EventID}, {&p.userID, "spec.mapping.userID", m.UserID},
		{&p.at, "spec.mapping.occurredAt", m.OccurredAt}, {&p.typ, "spec.mapping.type", m.Type},
		{&p.amount, "spec.mapping.amount", m.Amount}, {&p.currency, "spec.mapping.currency", m.Currency},
	} {
		if *f.dst, err = compile(expr.Mapping, f.path, f.e); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(m.Attributes))
	for n := range m.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		prg, err := compile(expr.Mapping, "spec.mapping.attributes."+n, m.Attributes[n])
		if err != nil {
			return nil, err
		}
		p.attributes = append(p.attributes, field{n, prg})
	}
	for _, r := range src.Rules {
		for _, c := range r.Checks {
			if c.Freshness != nil || c.Volume != nil {
				p.RunChecks = append(p.RunChecks, c)
				continue
			}
			ck, err := compileCheck(env, r.Name, c)
			if err != nil {
				return nil, err
			}
			p.checks = append(p.checks, ck)
			if ck.kind == "unique" {
				p.uniqueChecks++
			}
		}
	}
	return p, nil
}

func compileCheck(env *expr.Env, rule string, c v1alpha1.Check) (check, error) {
	ck := check{rule: rule, name: c.Name, id: rule + "/" + c.Name, action: c.Action, message: c.Message}
	if ck.action == "" {
		ck.action = v1alpha1.ActionQuarantine
	}
	where := fmt.Sprintf("ValidationRule %s check %s", rule, c.Name)
	prog := func(ctx expr.Context, e v1alpha1.Expression) (*program, error) {
		prg, err := newProgram(env, ctx, string(e))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return prg, nil
	}
	var err error
	switch {
	case c.Expression != "":
		ck.kind = "expression"
		ck.expr, err = prog(expr.CheckCondition, c.Expression)
	case c.Unique != nil:
		ck.kind = "unique"
		ck.expr, err = prog(expr.CheckValue, c.Unique.Key)
		if c.Unique.Window != nil {
			ck.window = c.Unique.Window.Duration
		}
	case c.Relationship != nil:
		ck.kind = "relationship"
		ck.touchpoint = c.Relationship.Touchpoint
		ck.expr, err = prog(expr.CheckValue, c.Relationship.Key)
	case c.AcceptedValues != nil:
		ck.kind = "acceptedValues"
		ck.accepted = map[string]bool{}
		for _, v := range c.AcceptedValues.Values {
			ck.accepted[v] = true
		}
		ck.expr, err = prog(expr.CheckValue, c.AcceptedValues.Key)
	case len(c.NotNull) > 0:
		ck.kind = "notNull"
		for _, e := range c.NotNull {
			prg, perr := prog(expr.CheckValue, e)
			if perr != nil {
				return ck, perr
			}
			ck.notNull = append(ck.notNull, field{string(e), prg})
		}
	default:
		return ck, fmt.Errorf("%s: no kind of check set", where)
	}
	return ck, err
}

// Input is one record as the connector returned it: a record, or bytes that
// could not be decoded.
type Input struct {
	Record connector.Record
	// Undecodable is set instead of Record for a record that could not be decoded.
	Undecodable *connector.DecodeError
}

// Result is what a batch comes to.
type Result struct {
	Events                                            []store.Event
	Quarantine                                        []store.QuarantineRecord
	UniqueKeys                                        []store.UniqueKey
	Read, Duplicates, Quarantined, Rejected, Warnings int64
	// Failed counts failures per check name.
	Failed map[string]int64
	// AmountRead sums the amounts of every mapped record; AmountLoaded those
	// of the accepted events, AmountRejected those of the rejected records.
	AmountRead, AmountLoaded, AmountRejected *big.Rat
	Currencies                               map[string]bool
	// Newest is the latest occurredAt among mapped records.
	Newest time.Time
}

type candidate struct {
	raw      connector.Record
	ev       store.Event
	act      activation
	failures []failure
}

type failure struct {
	check  *check
	reason string
}

// checked is what one check finds of one record on its own, before the
// parts of unique and relationship checks that compare it with the store
// and the rest of the batch.
type checked struct {
	fails    []string // reasons, in order
	key      string   // unique, relationship: the record's key
	hasKey   bool
	accepted bool // unique: the key is recorded for this record
}

// scratch is what Process works in for one batch and drops after it:
// reused from batch to batch, as a batch's worth of it is megabytes that
// the collector would otherwise sweep up every batch. A pipeline keeps one
// spare; a Process running beside another (the webhook receiver's
// requests) makes its own.
type scratch struct {
	slots   []candidate
	mapErrs []error
	found   []checked
}

// getScratch returns a scratch with n zeroed slots and errors.
func (p *Pipeline) getScratch(n int) *scratch {
	sc := p.spare.Swap(nil)
	if sc == nil {
		sc = &scratch{}
	}
	if cap(sc.slots) < n {
		sc.slots, sc.mapErrs = make([]candidate, n), make([]error, n)
	}
	sc.slots, sc.mapErrs = sc.slots[:n], sc.mapErrs[:n]
	return sc
}

// checked returns n zeroed check results.
func (sc *scratch) checked(n int) []checked {
	if cap(sc.found) < n {
		sc.found = make([]checked, n)
	}
	sc.found = sc.found[:n]
	return sc.found
}

// putScratch zeroes sc, so that it holds on to no record, and keeps it
// for the next batch.
func (p *Pipeline) putScratch(sc *scratch) {
	clear(sc.slots)
	clear(sc.mapErrs)
	clear(sc.found)
	p.spare.Store(sc)
}

// minPerWorker is the fewest records worth a goroutine of their own.
const minPerWorker = 64

// parallel calls fn for every i in [0, n), split in contiguous ranges over
// the pipeline's workers, and returns once all are done. fn must only
// touch what belongs to its i.
func (p *Pipeline) parallel(n int, fn func(i int)) {
	w := p.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	w = min(w, n/minPerWorker)
	if w <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for k := range w {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Process maps, deduplicates and checks one batch. It reads from the store
// (existing events, unique keys, known users) but writes nothing.
//
// Mapping and the checks that judge a record on its own run on the
// pipeline's workers, each record's results kept in its own slot;
// everything that depends on the order of records (deduplication, unique
// keys, relationships, the sorting into the result) runs after, in order,
// so the result is the same with any number of workers.
func (p *Pipeline) Process(ctx context.Context, st store.Store, runID string, now time.Time, in []Input) (*Result, error) {
	res := &Result{Failed: map[string]int64{}, Currencies: map[string]bool{}}
	var amountRead, amountLoaded, amountRejected decimalSum
	sc := p.getScratch(len(in))
	defer p.putScratch(sc)
	slots, mapErrs := sc.slots, sc.mapErrs
	p.parallel(len(in), func(i int) {
		if in[i].Undecodable == nil {
			mapErrs[i] = p.mapRecord(&slots[i], in[i].Record, runID)
		}
	})
	cands := make([]*candidate, 0, len(in))
	for i, item := range in {
		res.Read++
		if item.Undecodable != nil {
			res.quarantine(p.id, runID, now, "", CheckDecode, item.Undecodable.Reason, item.Undecodable.Raw)
			res.Failed[CheckDecode]++
			continue
		}
		if err := mapErrs[i]; err != nil {
			res.quarantine(p.id, runID, now, "", CheckMapping, err.Error(), rawJSON(item.Record))
			res.Failed[CheckMapping]++
			continue
		}
		c := &slots[i]
		if c.ev.Amount != nil {
			amountRead.add(*c.ev.Amount)
		}
		if c.ev.OccurredAt.After(res.Newest) {
			res.Newest = c.ev.OccurredAt
		}
		cands = append(cands, c)
	}

	// Deduplicate: against the store, then within the batch.
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.ev.EventID
	}
	existing, err := st.ExistingEvents(ctx, p.id, ids)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(cands))
	fresh := cands[:0]
	for _, c := range cands {
		if existing[c.ev.EventID] || seen[c.ev.EventID] {
			res.Duplicates++
			continue
		}
		seen[c.ev.EventID] = true
		fresh = append(fresh, c)
	}
	cands = fresh

	nc := len(p.checks)
	found := sc.checked(len(cands) * nc)
	p.parallel(len(cands), func(i int) {
		for j := range p.checks {
			p.checkRecord(&p.checks[j], cands[i], &found[i*nc+j])
		}
	})
	for j := range p.checks {
		if err := p.runCheck(ctx, st, j, cands, found); err != nil {
			return nil, err
		}
	}

	res.Events = make([]store.Event, 0, len(cands))
	if p.uniqueChecks > 0 {
		res.UniqueKeys = make([]store.UniqueKey, 0, len(cands)*p.uniqueChecks)
	}
	for i, c := range cands {
		action, reasons, names := strongest(c.failures)
		for _, n := range names {
			res.Failed[n]++
		}
		switch action {
		case v1alpha1.ActionReject:
			res.Rejected++
			if c.ev.Amount != nil {
				amountRejected.add(*c.ev.Amount)
			}
			continue
		case v1alpha1.ActionQuarantine:
			res.quarantine(p.id, runID, now, c.ev.EventID, strings.Join(names, ","), strings.Join(reasons, "; "), rawJSON(c.raw))
			// The event as mapped is kept with the record: a release loads
			// exactly what the reviewer saw.
			held := c.ev
			res.Quarantine[len(res.Quarantine)-1].Event = &held
			continue
		case v1alpha1.ActionWarn:
			res.Warnings++
		}
		res.Events = append(res.Events, c.ev)
		if c.ev.Amount != nil {
			amountLoaded.add(*c.ev.Amount)
		}
		if c.ev.Currency != "" {
			res.Currencies[c.ev.Currency] = true
		}
		for j := range p.checks {
			ck := &p.checks[j]
			if k := &found[i*nc+j]; ck.kind == "unique" && k.accepted {
				res.UniqueKeys = append(res.UniqueKeys, store.UniqueKey{Source: p.id, Check: ck.id, Key: k.key, EventID: c.ev.EventID, OccurredAt: c.ev.OccurredAt})
			}
		}
	}
	if err := p.dropHeld(ctx, st, res); err != nil {
		return nil, err
	}
	res.AmountRead, res.AmountLoaded, res.AmountRejected = amountRead.rat(), amountLoaded.rat(), amountRejected.rat()
	return res, nil
}

// dropHeld turns records already held in quarantine (an exact redelivery, or
// a rerun over the same input) into duplicates: a record is held for review
// once. A corrected record has other bytes and is judged again.
func (p *Pipeline) dropHeld(ctx context.Context, st store.Store, res *Result) error {
	if len(res.Quarantine) == 0 {
		return nil
	}
	hashes := make([]string, len(res.Quarantine))
	for i, q := range res.Quarantine {
		hashes[i] = store.RecordHash(q.Raw)
	}
	held, err := st.HeldInQuarantine(ctx, p.id, hashes)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	kept := res.Quarantine[:0]
	for i, q := range res.Quarantine {
		if held[hashes[i]] || seen[hashes[i]] {
			res.Quarantined--
			res.Duplicates++
			for _, name := range strings.Split(q.Check, ",") {
				res.Failed[name]--
				if res.Failed[name] == 0 {
					delete(res.Failed, name)
				}
			}
			continue
		}
		seen[hashes[i]] = true
		kept = append(kept, q)
	}
	res.Quarantine = kept
	return nil
}

func (r *Result) quarantine(source, runID string, at time.Time, eventID, check, reason string, raw []byte) {
	r.Quarantined++
	r.Quarantine = append(r.Quarantine, store.QuarantineRecord{
		Source: source, RunID: runID, EventID: eventID, Check: check, Reason: reason, Raw: raw, At: at, Status: store.QuarantinePending,
	})
}

// strongest returns the strongest action among failures, their reasons and
// the names of the failed checks.
func strongest(fs []failure) (v1alpha1.CheckAction, []string, []string) {
	var best v1alpha1.CheckAction
	if len(fs) == 0 {
		return best, nil, nil
	}
	var reasons, names []string
	for _, f := range fs {
		if rank(f.check.action) > rank(best) {
			best = f.check.action
		}
		names = append(names, f.check.name)
		reasons = append(reasons, f.check.name+": "+f.reason)
	}
	return best, reasons, names
}

func rank(a v1alpha1.CheckAction) int {
	switch a {
	case v1alpha1.ActionWarn:
		return 1
	case v1alpha1.ActionQuarantine:
		return 2
	case v1alpha1.ActionReject:
		return 3
	}
	return 0
}

// checkRecord evaluates what one check can judge of one record on its own:
// an expression, notNull, acceptedValues, or the key of a unique or
// relationship check. It runs on the workers: it writes only out.
func (p *Pipeline) checkRecord(ck *check, c *candidate, out *checked) {
	a := &c.act
	switch ck.kind {
	case "expression":
		ok, err := ck.expr.cond(a)
		switch {
		case err != nil:
			out.fails = append(out.fails, "could not be evaluated: "+err.Error())
		case !ok:
			out.fails = append(out.fails, "evaluated to false")
		}
	case "notNull":
		for _, f := range ck.notNull {
			if _, null, err := f.prg.eval(a, false); err != nil || null {
				out.fails = append(out.fails, f.name+" is null")
			}
		}
	case "acceptedValues":
		v, null, err := ck.expr.eval(a, false)
		if err != nil || null {
			return // null is notNull's to judge
		}
		if s := text(v); !ck.accepted[s] {
			out.fails = append(out.fails, fmt.Sprintf("%q is not an accepted value", s))
		}
	case "unique":
		v, null, err := ck.expr.eval(a, false)
		if err != nil || null {
			return // a record without a business key is not a duplicate of one
		}
		out.key, out.hasKey = text(v), true
	case "relationship":
		v, null, err := ck.expr.eval(a, false)
		if err != nil || null {
			out.fails = append(out.fails, "no key to look up")
			return
		}
		out.key, out.hasKey = text(v), true
	}
}

// runCheck records the failures of check j over the batch's candidates,
// from what checkRecord found of each (found[i*len(p.checks)+j] for
// candidate i), looking unique keys and relationships up in the store and
// the batch.
func (p *Pipeline) runCheck(ctx context.Context, st store.Store, j int, cands []*candidate, found []checked) error {
	ck := &p.checks[j]
	nc := len(p.checks)
	fail := func(c *candidate, reason string) {
		if ck.message != "" {
			reason = ck.message + " (" + reason + ")"
		}
		c.failures = append(c.failures, failure{ck, reason})
	}
	switch ck.kind {
	case "expression", "notNull", "acceptedValues":
		for i, c := range cands {
			for _, r := range found[i*nc+j].fails {
				fail(c, r)
			}
		}
	case "unique":
		var all []string
		since := time.Time{}
		for i, c := range cands {
			k := &found[i*nc+j]
			if !k.hasKey {
				continue
			}
			all = append(all, k.key)
			if ck.window > 0 {
				if s := c.ev.OccurredAt.Add(-ck.window); since.IsZero() || s.Before(since) {
					since = s
				}
			}
		}
		stored, err := st.ExistingKeys(ctx, p.id, ck.id, all, since)
		if err != nil {
			return err
		}
		inBatch := make(map[string]bool, len(all))
		for i, c := range cands {
			k := &found[i*nc+j]
			if !k.hasKey {
				continue
			}
			if stored[k.key] || inBatch[k.key] {
				fail(c, fmt.Sprintf("key %q seen before", k.key))
				continue
			}
			inBatch[k.key] = true
			k.accepted = true
		}
	case "relationship":
		var all []string
		for i, c := range cands {
			k := &found[i*nc+j]
			for _, r := range k.fails {
				fail(c, r)
			}
			if k.hasKey {
				all = append(all, k.key)
			}
		}
		known, err := st.KnownUsers(ctx, p.src.Namespace, ck.touchpoint, all)
		if err != nil {
			return err
		}
		// Events of this batch count too when they are of that touchpoint.
		if p.src.Spec.Touchpoint == ck.touchpoint {
			for _, c := range cands {
				known[c.ev.UserID] = true
			}
		}
		for i, c := range cands {
			if k := &found[i*nc+j]; k.hasKey && !known[k.key] {
				fail(c, fmt.Sprintf("%q has no %s event", k.key, ck.touchpoint))
			}
		}
	}
	return nil
}

// text is a value as fmt.Sprint prints it; strings, the usual case, as
// they are.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func isNull(v ref.Val) bool {
	if v == nil || v == types.NullValue {
		return true
	}
	if s, ok := v.Value().(string); ok && s == "" {
		return true
	}
	return false
}

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

// decimalSum adds floats as their shortest decimals ("0.1", not the
// binary fraction nearest to it), exactly. It keeps the sum as an integer
// count of 10^-scale: adding a big.Rat per record spent most of its time
// reducing fractions.
type decimalSum struct {
	units, term big.Int
	scale       int
}

func (d *decimalSum) add(f float64) {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	digits, frac := s, 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		digits, frac = s[:i]+s[i+1:], len(s)-i-1
	}
	if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
		d.term.SetInt64(n)
	} else {
		d.term.SetString(digits, 10) // beyond int64: 1e300 is a valid amount
	}
	if frac > d.scale {
		d.units.Mul(&d.units, pow10(frac-d.scale))
		d.scale = frac
	} else if frac < d.scale {
		d.term.Mul(&d.term, pow10(d.scale-frac))
	}
	d.units.Add(&d.units, &d.term)
}

// rat is the sum.
func (d *decimalSum) rat() *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).Set(&d.units), new(big.Int).Set(pow10(d.scale)))
}

// pow10 is 10^n; read-only for n < len(powers10).
func pow10(n int) *big.Int {
	if n < len(powers10) {
		return powers10[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

var powers10 = func() (p [20]*big.Int) {
	for i := range p {
		p[i] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(i)), nil)
	}
	return p
}()

// Decimal formats a total exactly, with at least two decimals.
func Decimal(r *big.Rat) string { return store.FormatDecimal(r) }

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
