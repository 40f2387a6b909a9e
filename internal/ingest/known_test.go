package ingest

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// usersStore knows some users and records what it was asked.
type usersStore struct {
	store.Store
	users map[string]bool // "namespace/touchpoint/user"
	asked [][]string
}

func (s *usersStore) KnownUsers(_ context.Context, namespace, touchpoint string, ids []string) (map[string]bool, error) {
	s.asked = append(s.asked, append([]string(nil), ids...))
	out := map[string]bool{}
	for _, id := range ids {
		if s.users[namespace+"/"+touchpoint+"/"+id] {
			out[id] = true
		}
	}
	return out, nil
}

func TestKnownUsersAsksOnlyAboutUnconfirmedUsers(t *testing.T) {
	st := &usersStore{users: map[string]bool{"media/crm/u1": true, "media/crm/u2": true, "other/crm/u3": true}}
	k := rememberKnownUsers(st)
	ctx := context.Background()
	lookup := func(namespace string, ids ...string) []string {
		t.Helper()
		m, err := k.KnownUsers(ctx, namespace, "crm", ids)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for id, ok := range m {
			if ok {
				out = append(out, id)
			}
		}
		sort.Strings(out)
		return out
	}
	if got := lookup("media", "u1", "u2", "u3"); !reflect.DeepEqual(got, []string{"u1", "u2"}) {
		t.Errorf("first lookup found %v", got)
	}
	// u3 arrives in media/crm: an unknown user is asked about again.
	st.users["media/crm/u3"] = true
	if got := lookup("media", "u1", "u2", "u3"); !reflect.DeepEqual(got, []string{"u1", "u2", "u3"}) {
		t.Errorf("second lookup found %v", got)
	}
	// Remembered per namespace and touchpoint.
	if got := lookup("other", "u1", "u3"); !reflect.DeepEqual(got, []string{"u3"}) {
		t.Errorf("lookup in another namespace found %v", got)
	}
	want := [][]string{{"u1", "u2", "u3"}, {"u3"}, {"u1", "u3"}}
	if !reflect.DeepEqual(st.asked, want) {
		t.Errorf("the store was asked %v, want %v", st.asked, want)
	}
	if got := lookup("media", "u1", "u2", "u3"); len(got) != 3 || len(st.asked) != 3 {
		t.Errorf("a lookup of confirmed users found %v and asked the store (%d lookups)", got, len(st.asked))
	}
}
