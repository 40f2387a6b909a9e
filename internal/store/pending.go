package store

import (
	"context"
	"time"
)

// WithPending returns a view of st whose write-path lookups (ExistingEvents,
// HeldInQuarantine, ExistingKeys, KnownUsers) answer as if b were already
// committed. An ingest checks its next batch while the previous one is
// still being committed: the view lets deduplication, unique and
// relationship checks see that batch either way, before and after its
// commit lands. Everything else goes to st unchanged. b must not change
// while the view is in use.
func WithPending(st Store, b Batch) Store {
	v := &pendingView{Store: st}
	source := func(s string) string {
		if s == "" {
			return b.Source
		}
		return s
	}
	for _, e := range b.Events {
		v.events = append(v.events, pendingEvent{source(e.Source), e.EventID, e.Namespace, e.Touchpoint, e.UserID})
	}
	for _, q := range b.Quarantine {
		// A commit stores a record Pending unless it says otherwise.
		if q.Status == "" || q.Status == QuarantinePending {
			v.held = append(v.held, pendingHash{source(q.Source), RecordHash(q.Raw)})
		}
	}
	for _, k := range b.UniqueKeys {
		k.Source = source(k.Source)
		k.OccurredAt = normTime(k.OccurredAt)
		v.keys = append(v.keys, k)
	}
	return v
}

type pendingEvent struct{ source, id, namespace, touchpoint, user string }

type pendingHash struct{ source, hash string }

type pendingView struct {
	Store
	events []pendingEvent
	held   []pendingHash
	keys   []UniqueKey
}

// union asks st, then adds what the pending batch holds among want.
func union(found map[string]bool, want []string, pending func(add func(string))) map[string]bool {
	if len(want) == 0 {
		return found
	}
	asked := make(map[string]bool, len(want))
	for _, w := range want {
		asked[w] = true
	}
	pending(func(s string) {
		if asked[s] {
			found[s] = true
		}
	})
	return found
}

func (v *pendingView) ExistingEvents(ctx context.Context, source string, ids []string) (map[string]bool, error) {
	found, err := v.Store.ExistingEvents(ctx, source, ids)
	if err != nil {
		return nil, err
	}
	return union(found, ids, func(add func(string)) {
		for _, e := range v.events {
			if e.source == source {
				add(e.id)
			}
		}
	}), nil
}

func (v *pendingView) HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error) {
	found, err := v.Store.HeldInQuarantine(ctx, source, hashes)
	if err != nil {
		return nil, err
	}
	return union(found, hashes, func(add func(string)) {
		for _, h := range v.held {
			if h.source == source {
				add(h.hash)
			}
		}
	}), nil
}

func (v *pendingView) ExistingKeys(ctx context.Context, source, check string, keys []string, since time.Time) (map[string]bool, error) {
	found, err := v.Store.ExistingKeys(ctx, source, check, keys, since)
	if err != nil {
		return nil, err
	}
	since = normTime(since)
	return union(found, keys, func(add func(string)) {
		for _, k := range v.keys {
			if k.Source == source && k.Check == check && !k.OccurredAt.Before(since) {
				add(k.Key)
			}
		}
	}), nil
}

func (v *pendingView) KnownUsers(ctx context.Context, namespace, touchpoint string, userIDs []string) (map[string]bool, error) {
	found, err := v.Store.KnownUsers(ctx, namespace, touchpoint, userIDs)
	if err != nil {
		return nil, err
	}
	return union(found, userIDs, func(add func(string)) {
		for _, e := range v.events {
			if e.namespace == namespace && e.touchpoint == touchpoint {
				add(e.user)
			}
		}
	}), nil
}
