package journey

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// FeedbackTouchpoint is the touchpoint whose events count as survey
// responses: a user who has one after being surveyed responded.
const FeedbackTouchpoint = "feedback"

// UserState is one user's place in the journey, and what the engine keeps
// of their history to go on from there when newer events arrive. Times are
// unix nanoseconds.
type UserState struct {
	User string
	e    *Engine
	// stage is the index of the user's stage (-1 before any), entered at
	// enteredAt.
	stage     int
	enteredAt int64
	// entered[i] is when stage i's condition first held, for each stage
	// whose bit is set in reached.
	entered []int64
	reached uint64
	// path has a bit for every stage the user has been in. Stages only move
	// forward, so it spells the user's moves.
	path uint64
	// last is the newest event evaluated; responded the newest feedback
	// event (0 when none).
	last, responded int64
	// The history the helpers read: points when the map's helper calls
	// are bounded, else every event.
	points []point
	events []store.Event
}

// remembersBefore says whether the state holds anything of events before
// t: a stage entered, or history its helpers read.
func (u *UserState) remembersBefore(t int64) bool {
	if u.stage >= 0 && u.enteredAt < t {
		return true
	}
	for i, at := range u.entered {
		if u.reached&(1<<i) != 0 && at < t {
			return true
		}
	}
	for i := range u.points {
		if u.points[i].at < t {
			return true
		}
	}
	for i := range u.events {
		if u.events[i].OccurredAt.UnixNano() < t {
			return true
		}
	}
	return false
}

func (e *Engine) newUser(user string) UserState {
	return UserState{User: user, e: e, stage: -1, entered: make([]int64, len(e.stages))}
}

// Stage is the last stage, in spec order, whose enterWhen held at one of
// the user's events ("" when none did).
func (u *UserState) Stage() string {
	if u.stage < 0 {
		return ""
	}
	return u.e.stages[u.stage].name
}

// StageIndex is the user's stage's index in the map (-1: none).
func (u *UserState) StageIndex() int { return u.stage }

// EnteredIndex says when the stage at index i first held for the user, in
// Unix nanoseconds: Entered without looking the stage up.
func (u *UserState) EnteredIndex(i int) (int64, bool) {
	if u.reached&(1<<i) == 0 {
		return 0, false
	}
	return u.entered[i], true
}

// EnteredAt is when the user entered their stage.
func (u *UserState) EnteredAt() time.Time {
	if u.stage < 0 {
		return time.Time{}
	}
	return time.Unix(0, u.enteredAt).UTC()
}

// Entered says when the named stage's condition first held for the user.
func (u *UserState) Entered(stage string) (time.Time, bool) {
	i := u.e.stageIndex(stage)
	if i < 0 || u.reached&(1<<i) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, u.entered[i]).UTC(), true
}

// Move is a user's move between stages; From "" is their first stage.
type Move struct {
	From, To string
	At       time.Time
}

// Moves are the user's moves, in order. A user moves into a stage the first
// time its condition holds, or never: stages only move forward, so a stage
// whose condition held while the user was before it is where they moved.
func (u *UserState) Moves() []Move {
	var out []Move
	from := ""
	for p := u.path; p != 0; p &= p - 1 {
		j := bits.TrailingZeros64(p)
		to := u.e.stages[j].name
		out = append(out, Move{From: from, To: to, At: time.Unix(0, u.entered[j]).UTC()})
		from = to
	}
	return out
}

// RespondedSince says whether the user has a feedback event at or after t.
func (u *UserState) RespondedSince(t time.Time) bool {
	return u.responded != 0 && u.responded >= t.UnixNano()
}

// Users are a journey's users, in the order they were added. They are
// kept in chunks that are filled and never moved: a million users grow
// without copying them over, and a user's address stays valid.
type Users struct {
	e      *Engine
	chunks [][]UserState
	n      int
	index  map[string]int
}

// userChunk is how many users a chunk holds.
const userChunk = 1 << 12

// NewUsers is an empty set of users of the engine's map.
func (e *Engine) NewUsers() *Users {
	return &Users{e: e, index: map[string]int{}}
}

// Len is the number of users.
func (us *Users) Len() int { return us.n }

// At is the i-th user, 0 <= i < Len().
func (us *Users) At(i int) *UserState { return &us.chunks[i/userChunk][i%userChunk] }

// IndexOf is the user's position, as At takes it (-1: no such user).
func (us *Users) IndexOf(user string) int {
	if i, ok := us.index[user]; ok {
		return i
	}
	return -1
}

// Get is the named user, or nil.
func (us *Users) Get(user string) *UserState {
	if i, ok := us.index[user]; ok {
		return us.At(i)
	}
	return nil
}

// Put adds or replaces a user.
func (us *Users) Put(u UserState) *UserState {
	if i, ok := us.index[u.User]; ok {
		p := us.At(i)
		*p = u
		return p
	}
	us.index[u.User] = us.n
	return us.append(u)
}

// append adds a user without indexing them (see reindex).
func (us *Users) append(u UserState) *UserState {
	if us.n%userChunk == 0 {
		us.chunks = append(us.chunks, make([]UserState, 0, userChunk))
	}
	c := &us.chunks[len(us.chunks)-1]
	*c = append(*c, u)
	us.n++
	return &(*c)[len(*c)-1]
}

// reindex indexes every user by ID, in one map of the right size.
func (us *Users) reindex() {
	us.index = make(map[string]int, us.n)
	for i := range us.n {
		us.index[us.At(i).User] = i
	}
}

// stateVersion is the first byte of an encoded state; a different one
// is not read, and the evaluator recomputes.
const stateVersion = 1

// MarshalState encodes a user's state for the store. Only bounded maps'
// states are complete without the events: see Engine.Persistent.
func (u *UserState) MarshalState() []byte {
	b := make([]byte, 0, 64+len(u.points)*14)
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, int64(u.stage))
	b = binary.AppendVarint(b, u.enteredAt)
	b = binary.AppendUvarint(b, u.reached)
	b = binary.AppendUvarint(b, u.path)
	b = binary.AppendVarint(b, u.last)
	b = binary.AppendVarint(b, u.responded)
	for i := range u.entered {
		if u.reached&(1<<i) != 0 {
			b = binary.AppendVarint(b, u.entered[i])
		}
	}
	b = binary.AppendUvarint(b, uint64(len(u.points)))
	prev := int64(0)
	for _, p := range u.points {
		b = binary.AppendVarint(b, p.at-prev)
		prev = p.at
		b = binary.AppendUvarint(b, uint64(p.series))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.val))
	}
	return b
}

var errState = errors.New("malformed user state")

// UnmarshalState decodes a state MarshalState encoded for this engine.
func (e *Engine) UnmarshalState(user string, b []byte) (UserState, error) {
	if len(b) == 0 || b[0] != stateVersion {
		return UserState{}, fmt.Errorf("user %s: %w (version)", user, errState)
	}
	r := stateReader{b: b[1:]}
	u := e.newUser(user)
	u.stage = int(r.varint())
	u.enteredAt = r.varint()
	u.reached = r.uvarint()
	u.path = r.uvarint()
	u.last = r.varint()
	u.responded = r.varint()
	for i := range u.entered {
		if u.reached&(1<<i) != 0 {
			u.entered[i] = r.varint()
		}
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return UserState{}, fmt.Errorf("user %s: %w (points)", user, errState)
	}
	u.points = make([]point, 0, n)
	prev := int64(0)
	for range n {
		prev += r.varint()
		p := point{at: prev, series: int32(r.uvarint())}
		p.val = math.Float64frombits(r.uint64())
		u.points = append(u.points, p)
	}
	if r.err || u.stage < -1 || u.stage >= len(e.stages) || u.reached>>len(e.stages) != 0 || u.path>>len(e.stages) != 0 {
		return UserState{}, fmt.Errorf("user %s: %w", user, errState)
	}
	for _, p := range u.points {
		if p.series < 0 || int(p.series) >= len(e.series) {
			return UserState{}, fmt.Errorf("user %s: %w (series)", user, errState)
		}
	}
	return u, nil
}

type stateReader struct {
	b   []byte
	err bool
}

func (r *stateReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) uint64() uint64 {
	if len(r.b) < 8 {
		r.err, r.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}
