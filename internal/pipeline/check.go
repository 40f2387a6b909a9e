package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/store"
)

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
