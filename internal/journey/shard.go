package journey

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Shard is a part of a journey's users: those whose ID's hash, divided by
// Count, leaves Index. The hash is stable (XXH64), so every process of a
// sharded evaluation, and every restart, agrees on who owns a user.
type Shard struct{ Index, Count int }

// Unsharded is every user.
var Unsharded = Shard{Index: 0, Count: 1}

// UserHash is a user's hash, as shards and full evaluations split users.
func UserHash(user string) uint64 { return xxhash.Sum64String(user) }

// Owns says whether the user is the shard's.
func (s Shard) Owns(user string) bool { return s.Count <= 1 || s.owns(UserHash(user)) }

// owns takes a user's hash. The shard is chosen from the hash's high bits:
// a full evaluation splits its users into parts by the low ones.
func (s Shard) owns(h uint64) bool {
	return s.Count <= 1 || int((h>>32)%uint64(s.Count)) == s.Index
}

// Validate says what is wrong with a shard, if anything.
func (s Shard) Validate() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard %d of %d: a shard's index is from 0 to the number of shards - 1", s.Index, s.Count)
	}
	return nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// SetShard makes the engine evaluate the shard's users only: full
// evaluations and updates skip every other user's events. Not safe to
// call during an evaluation.
func (e *Engine) SetShard(s Shard) error {
	if err := s.Validate(); err != nil {
		return err
	}
	e.shard = s
	return nil
}

// Merges says whether the shard merges every shard's figures into the
// journey's (shard 0, or the only one).
func (s Shard) Merges() bool { return s.Index == 0 }
