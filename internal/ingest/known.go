package ingest

import (
	"context"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// maxKnownUsers bounds the users a run remembers, so that memory stays flat
// however many users the input names; past it, the memory starts afresh.
const maxKnownUsers = 200_000

// knownUsers remembers, for one run, the users the store has confirmed
// have an event of a touchpoint, and asks the store only about the others.
// A confirmed user stays confirmed for the run: events are deleted only by
// retiring months long past. Users found unknown are asked again each
// time, since their event may arrive later.
// A relationship check looks up every record's user, and most users recur
// batch after batch, so this saves most of those lookups. A run's batches
// are checked one at a time, so it needs no lock.
type knownUsers struct {
	store.Store
	known map[[3]string]struct{} // namespace, touchpoint, user
}

func rememberKnownUsers(st store.Store) *knownUsers {
	return &knownUsers{Store: st, known: map[[3]string]struct{}{}}
}

func (k *knownUsers) KnownUsers(ctx context.Context, namespace, touchpoint string, userIDs []string) (map[string]bool, error) {
	found := map[string]bool{}
	var ask []string
	for _, u := range userIDs {
		if _, ok := k.known[[3]string{namespace, touchpoint, u}]; ok {
			found[u] = true
		} else {
			ask = append(ask, u)
		}
	}
	if len(ask) == 0 {
		return found, nil
	}
	more, err := k.Store.KnownUsers(ctx, namespace, touchpoint, ask)
	if err != nil {
		return nil, err
	}
	if len(k.known)+len(more) > maxKnownUsers {
		clear(k.known)
	}
	for u, ok := range more {
		if ok {
			found[u] = true
			k.known[[3]string{namespace, touchpoint, u}] = struct{}{}
		}
	}
	return found, nil
}
