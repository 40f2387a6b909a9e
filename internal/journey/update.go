package journey

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// recomputeChunk bounds how many users' events one query reads.
const recomputeChunk = 5_000

// Update evaluates the events ingested after seq after and up to upTo, and
// returns the users whose state changed, and how many late events it could
// not put in their place. A user's new events that are all newer than the
// ones evaluated go on from the user's state; a user with an older one (a
// late event) is evaluated again from all their events, unless some of
// those were retired by policy (the state remembers something before the
// store's retention horizon): evaluated again, the user would lose what
// the retired events made of them (stages entered, the funnel), so the
// late events go on from the state as if they had come in time.
func (e *Engine) Update(ctx context.Context, st store.Store, sources []string, us *Users, after, upTo int64) (changed []string, inPlace int, err error) {
	horizon, err := st.Horizon(ctx)
	if err != nil {
		return nil, 0, err
	}
	act := e.newActivation()
	var again []string
	q := e.query(sources)
	q.AfterSeq, q.UpToSeq = after, upTo
	err = e.scanByUser(ctx, st, q, func(events []store.Event, raws [][]byte) error {
		user := events[0].UserID
		u := us.Get(user)
		switch {
		case u == nil:
			u = us.Put(e.newUser(user))
		case events[0].OccurredAt.UnixNano() >= u.last:
		case !horizon.IsZero() && u.remembersBefore(horizon.UnixNano()):
			inPlace += len(events)
		default:
			// Same-time events go in ingestion order: a tie goes after.
			again = append(again, user)
			return nil
		}
		e.advance(u, events, raws, nil, act)
		changed = append(changed, user)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	for lo := 0; lo < len(again); lo += recomputeChunk {
		chunk := again[lo:min(lo+recomputeChunk, len(again))]
		q := e.query(sources)
		q.Users, q.UpToSeq = chunk, upTo
		err := e.scanByUser(ctx, st, q, func(events []store.Event, raws [][]byte) error {
			u := us.Put(e.newUser(events[0].UserID))
			e.advance(u, events, raws, nil, act)
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return append(changed, again...), inPlace, nil
}

// scanByUser streams the events q selects of the shard's users, one user's
// at a time, with what the engine reads of their attributes (see take).
func (e *Engine) scanByUser(ctx context.Context, st store.Store, q store.EventQuery, fn func([]store.Event, [][]byte) error) error {
	var cur []store.Event
	var raws [][]byte
	var seen string
	owned := true
	err := st.ScanEvents(ctx, q, func(ev *store.Event, attrs []byte) error {
		if e.shard.Count > 1 && ev.UserID != seen {
			seen, owned = ev.UserID, e.shard.Owns(ev.UserID)
		}
		if !owned {
			return nil
		}
		if len(cur) > 0 && cur[0].UserID != ev.UserID {
			if err := fn(cur, raws); err != nil {
				return err
			}
			cur, raws = nil, nil // an unbounded user's state keeps the events
		}
		c, raw := e.take(ev, attrs)
		if err := e.decode(&c, raw); err != nil {
			return err
		}
		cur, raws = append(cur, c), append(raws, raw)
		return nil
	})
	if err != nil || len(cur) == 0 {
		return err
	}
	return fn(cur, raws)
}

// query selects the sources' events with no more of them than the engine
// reads: no namespace or run ID, and attributes only where it reads them.
func (e *Engine) query(sources []string) store.EventQuery {
	q := store.EventQuery{Sources: sources, Lean: true}
	if !e.decodeAll && e.bounded {
		q.AttributesOf = []string{}
		for tp := range e.sumTouchpoints {
			q.AttributesOf = append(q.AttributesOf, tp)
		}
	}
	return q
}

// take copies an event as the store hands it over, with its attributes as
// read when the engine reads them (see attributes).
func (e *Engine) take(ev *store.Event, attrs []byte) (store.Event, []byte) {
	if decode, raw := e.attributes(ev.Touchpoint); len(attrs) > 0 && (decode || raw) {
		return *ev, bytes.Clone(attrs)
	}
	return *ev, nil
}

// decode decodes the attributes of an event taken, if the engine reads
// them whole.
func (e *Engine) decode(ev *store.Event, raw []byte) error {
	if decode, _ := e.attributes(ev.Touchpoint); !decode || raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, &ev.Attributes); err != nil {
		return fmt.Errorf("read event %s attributes: %w", ev.EventID, err)
	}
	return nil
}
