package journey

import "time"

// EvaluateStoreHashed is EvaluateStore with the hash of user IDs given, to
// test users whose hashes collide.
var EvaluateStoreHashed = (*Engine).evaluateStore

// RemembersBefore and Last expose what a retirement test needs of a state.
func (u *UserState) RemembersBefore(t time.Time) bool { return u.remembersBefore(t.UnixNano()) }
func (u *UserState) Last() time.Time                  { return time.Unix(0, u.last).UTC() }
