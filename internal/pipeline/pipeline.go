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
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/segment"
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
	spread                   []string // fields whose entries are attributes too (Segment's properties, traits)
	checks                   []check
	uniqueChecks             int           // how many of checks are unique checks
	adapter                  types.Adapter // for the event variable
	spare                    atomic.Pointer[scratch]
	horizon                  horizonCache
	// RunChecks are the freshness and volume checks, for the ingest package.
	RunChecks []v1alpha1.Check
	// Workers is how many goroutines map and check a batch's records
	// (0: GOMAXPROCS). The result does not depend on it.
	Workers int
}

// SourceID is how the store names a source: namespace/name.
func SourceID(namespace, name string) string { return namespace + "/" + name }

// New compiles a source's configuration. A Segment source's mapping
// takes segment's defaults for what it leaves out.
func New(env *expr.Env, src runconfig.Source) (*Pipeline, error) {
	p := &Pipeline{src: src, id: SourceID(src.Namespace, src.Name), adapter: env.Adapter()}
	m := src.Spec.Mapping
	if segment.Source(&src.Spec) {
		m = segment.Mapping(m)
		p.spread = segment.AttributesFrom
	}
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
	for _, f := range []struct {
		prg  *program
		path string
	}{{p.eventID, "eventID"}, {p.userID, "userID"}, {p.at, "occurredAt"}, {p.typ, "type"}} {
		if f.prg == nil {
			return nil, fmt.Errorf("spec.mapping.%s is required", f.path)
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
	// Raw, when set, is the record as the sender sent it, which a held
	// record keeps (and by which its redelivery is known) instead of
	// Record as mapped: the receiver adds to a Segment message what
	// differs from one delivery to the next (receivedAt).
	Raw []byte
	// Sent, when set and Raw is not, makes Raw when a held record needs it:
	// most records are not held, and need not be encoded again.
	Sent func() []byte
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
	sent     []byte        // Input.Raw
	sentFn   func() []byte // Input.Sent
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
			res.quarantine(p.id, runID, now, "", CheckMapping, err.Error(), rawOf(item.Raw, item.Sent, item.Record))
			res.Failed[CheckMapping]++
			continue
		}
		c := &slots[i]
		c.sent, c.sentFn = item.Raw, item.Sent
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
	if cands, err = p.holdRetired(ctx, st, runID, now, res, cands); err != nil {
		return nil, err
	}

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
			res.quarantine(p.id, runID, now, c.ev.EventID, strings.Join(names, ","), strings.Join(reasons, "; "), rawOf(c.sent, c.sentFn, c.raw))
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
