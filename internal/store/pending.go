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
// commit lands. Everything else goes to st unchanged.
func WithPending(st Store, b Batch) Store {
	v := &pendingView{Store: st,
		events: make(map[[2]string]bool, len(b.Events)),
		users:  map[[3]string]bool{},
		held:   map[[2]string]bool{},
		keys:   make(map[[3]string]time.Time, len(b.UniqueKeys)),
	}
	source := func(s string) string {
		if s == "" {
			return b.Source
		}
		return s
	}
	for _, e := range b.Events {
		v.events[[2]string{source(e.Source), e.EventID}] = true
		v.users[[3]string{e.Namespace, e.Touchpoint, e.UserID}] = true
	}
	for _, q := range b.Quarantine {
		// A record is held once, whatever its status.
		v.held[[2]string{source(q.Source), RecordHash(q.Raw)}] = true
	}
	// A key keeps its latest occurrence, as the store does.
	for _, k := range b.UniqueKeys {
		id := [3]string{source(k.Source), k.Check, k.Key}
		if at, ok := v.keys[id]; !ok || normTime(k.OccurredAt).After(at) {
			v.keys[id] = normTime(k.OccurredAt)
		}
	}
	return v
}

type pendingView struct {
	Store
	events map[[2]string]bool      // source, event ID
	users  map[[3]string]bool      // namespace, touchpoint, user
	held   map[[2]string]bool      // source, record hash
	keys   map[[3]string]time.Time // source, check, key: latest occurrence
}

// union adds to found, the store's answer, the items of want the pending
// batch has.
func union(found map[string]bool, want []string, pending func(string) bool) map[string]bool {
	for _, w := range want {
		if pending(w) {
			found[w] = true
		}
	}
	return found
}

func (v *pendingView) ExistingEvents(ctx context.Context, source string, ids []string) (map[string]bool, error) {
	found, err := v.Store.ExistingEvents(ctx, source, ids)
	if err != nil {
		return nil, err
	}
	return union(found, ids, func(id string) bool { return v.events[[2]string{source, id}] }), nil
}

func (v *pendingView) HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error) {
	found, err := v.Store.HeldInQuarantine(ctx, source, hashes)
	if err != nil {
		return nil, err
	}
	return union(found, hashes, func(h string) bool { return v.held[[2]string{source, h}] }), nil
}

func (v *pendingView) ExistingKeys(ctx context.Context, source, check string, keys []string, since time.Time) (map[string]bool, error) {
	found, err := v.Store.ExistingKeys(ctx, source, check, keys, since)
	if err != nil {
		return nil, err
	}
	since = normTime(since)
	return union(found, keys, func(k string) bool {
		at, ok := v.keys[[3]string{source, check, k}]
		return ok && !at.Before(since)
	}), nil
}

func (v *pendingView) KnownUsers(ctx context.Context, namespace, touchpoint string, userIDs []string) (map[string]bool, error) {
	found, err := v.Store.KnownUsers(ctx, namespace, touchpoint, userIDs)
	if err != nil {
		return nil, err
	}
	return union(found, userIDs, func(u string) bool { return v.users[[3]string{namespace, touchpoint, u}] }), nil
}
