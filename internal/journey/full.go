package journey

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"golang.org/x/sync/errgroup"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// A full evaluation reads every event of the sources once, in no order
// (store.ScanSlices: the database does not sort), keeps of each event only
// what the engine reads, and orders each user's events itself. The users
// are split into parts by a hash of their ID; readers put each event into
// its user's part, then workers sort and evaluate one part at a time.
//
// Sorting ten million events by user in the database took most of a full
// evaluation, with nothing else to do meanwhile; here the reading is spread
// over the cores and the sorting over parts small enough for the caches.

// fullParts is how many parts the users are split into.
const fullParts = 64

// compactEvent is an event as a full evaluation keeps it until its user is
// evaluated. Users are told apart by a hash of their ID first, so neither
// reading nor sorting looks the ID up in a map.
type compactEvent struct {
	at, seq int64
	user    uint64 // hash of the user's ID, which is at the start of data
	kind    uint16 // index in the evaluation's kinds
	flags   uint16
	data    uint32 // offset in its part's data of the rest: see fullEval.keep
}

const (
	hasAmount = 1 << iota
	hasValues
	hasAttributes
)

// eventKey is the fields with few distinct values, kept once per kind.
type eventKey struct{ source, touchpoint, system, typ, currency string }

// userPart is the users of one part and their events, in blocks that are
// filled and never moved: growing one slice would copy it over and over.
// An event's data is in one block: compactEvent.data is the block's index
// times dataBlock plus the offset in the block.
type userPart struct {
	mu     sync.Mutex
	events [][]compactEvent
	data   [][]byte
	states []UserState
}

const (
	eventBlock = 1 << 13
	dataBlock  = 1 << 20
	maxBlocks  = 1 << 12 // of data, in a uint32 with the offset
)

// put adds an event with its data.
func (p *userPart) put(c compactEvent, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := len(p.data) - 1
	if last < 0 || len(p.data[last])+len(data) > dataBlock {
		if len(p.data) == maxBlocks {
			return fmt.Errorf("a full evaluation keeps at most %d GiB of event data per part of the users: too many events", maxBlocks*dataBlock>>30)
		}
		// An event's data starts within dataBlock of its block's start; a
		// larger one has a block of its own.
		p.data = append(p.data, make([]byte, 0, max(dataBlock, len(data))))
		last++
	}
	c.data = uint32(last*dataBlock + len(p.data[last]))
	p.data[last] = append(p.data[last], data...)
	if n := len(p.events); n == 0 || len(p.events[n-1]) == eventBlock {
		p.events = append(p.events, make([]compactEvent, 0, eventBlock))
	}
	n := len(p.events) - 1
	p.events[n] = append(p.events[n], c)
	return nil
}

// dataOf is an event's data.
func (p *userPart) dataOf(c *compactEvent) []byte {
	return p.data[c.data/dataBlock][c.data%dataBlock:]
}

// fullEval is one full evaluation's reading state.
type fullEval struct {
	e     *Engine
	hash  func(user string) uint64
	parts [fullParts]userPart

	kindMu sync.Mutex
	kinds  map[eventKey]uint16
	keys   []eventKey

	// What is kept besides the kind: see keep.
	eventID, amount bool
	// valueSeries are, per touchpoint, the sum series whose numbers are
	// taken from its events' attributes as read.
	valueSeries map[string][]int
}

// EvaluateStore evaluates every user of the sources' events in the store
// ingested up to sequence upTo (see store.LatestSeq).
func (e *Engine) EvaluateStore(ctx context.Context, st store.Store, sources []string, upTo int64) (*Users, error) {
	seed := maphash.MakeSeed()
	return e.evaluateStore(ctx, st, sources, upTo, func(user string) uint64 { return maphash.String(seed, user) })
}

// evaluateStore is EvaluateStore with the hash of user IDs given.
func (e *Engine) evaluateStore(ctx context.Context, st store.Store, sources []string, upTo int64, hash func(string) uint64) (*Users, error) {
	f := &fullEval{e: e, hash: hash, kinds: map[eventKey]uint16{}, valueSeries: map[string][]int{}}
	f.eventID = e.allEventFields || e.eventFields["eventID"]
	f.amount = e.allEventFields || e.eventFields["amount"]
	if e.bounded && !e.decodeAll {
		for i, s := range e.series {
			if s.Attribute != "" {
				f.valueSeries[s.Touchpoint] = append(f.valueSeries[s.Touchpoint], i)
			}
		}
	}
	if upTo <= 0 {
		return e.NewUsers(), nil
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	q := e.query(sources)
	q.UpToSeq = upTo
	// A slice more than cores: a reader and the database process serving
	// it each wait on the other at times, and the spare one fills in.
	readers := make([]fullReader, workers+1)
	err := st.ScanSlices(ctx, q, len(readers), func(slice int, ev *store.Event, attrs []byte) error {
		return f.keep(&readers[slice], ev, attrs)
	})
	if err != nil {
		return nil, err
	}

	g, ctx := errgroup.WithContext(ctx)
	next := make(chan *userPart, fullParts)
	for i := range f.parts {
		next <- &f.parts[i]
	}
	close(next)
	for range workers {
		g.Go(func() error {
			w := &fullWorker{f: f, act: e.newActivation()}
			for p := range next {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := w.evaluate(p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n := 0
	for i := range f.parts {
		n += len(f.parts[i].states)
	}
	us := &Users{e: e, list: make([]UserState, 0, n), index: make(map[string]int, n)}
	for i := range f.parts {
		for _, u := range f.parts[i].states {
			us.index[u.User] = len(us.list)
			us.list = append(us.list, u)
		}
		f.parts[i].states = nil
	}
	return us, nil
}

// fullReader is one reader's state: recently seen kinds, and a buffer.
type fullReader struct {
	kinds recentKinds[eventKey]
	data  []byte
}

// kind numbers the event's kind.
func (f *fullEval) kind(r *fullReader, ev *store.Event) (uint16, error) {
	key := eventKey{ev.Source, ev.Touchpoint, ev.System, ev.Type, ev.Currency}
	if kind, ok := r.kinds.get(key); ok {
		return uint16(kind), nil
	}
	f.kindMu.Lock()
	defer f.kindMu.Unlock()
	kind, ok := f.kinds[key]
	if !ok {
		if len(f.keys) > math.MaxUint16 {
			return 0, fmt.Errorf("more than %d kinds of event (source, touchpoint, system, type, currency)", math.MaxUint16+1)
		}
		kind = uint16(len(f.keys))
		f.kinds[key] = kind
		f.keys = append(f.keys, key)
	}
	r.kinds.put(key, int(kind))
	return kind, nil
}

// keep puts an event into its user's part. Besides the kind and the times,
// a part's data holds, in this order: the user ID; the amount and the
// numbers of the touchpoint's sum series (NaN when there is none) when
// read; the event ID and the attributes as read when read.
func (f *fullEval) keep(r *fullReader, ev *store.Event, attrs []byte) error {
	kind, err := f.kind(r, ev)
	if err != nil {
		return err
	}
	user := f.hash(ev.UserID)
	c := compactEvent{at: ev.OccurredAt.UnixNano(), seq: ev.Seq, user: user, kind: kind}
	d := binary.AppendUvarint(r.data[:0], uint64(len(ev.UserID)))
	d = append(d, ev.UserID...)
	if f.amount && ev.Amount != nil {
		c.flags |= hasAmount
		d = binary.LittleEndian.AppendUint64(d, math.Float64bits(*ev.Amount))
	}
	if series := f.valueSeries[ev.Touchpoint]; len(series) > 0 {
		c.flags |= hasValues
		for _, i := range series {
			v := math.NaN()
			if r := gjson.GetBytes(attrs, f.e.paths[i]); r.Type == gjson.Number {
				v = r.Num
			}
			d = binary.LittleEndian.AppendUint64(d, math.Float64bits(v))
		}
	}
	if f.eventID {
		d = binary.AppendUvarint(d, uint64(len(ev.EventID)))
		d = append(d, ev.EventID...)
	}
	if decode, _ := f.e.attributes(ev.Touchpoint); decode && len(attrs) > 0 {
		c.flags |= hasAttributes
		d = binary.AppendUvarint(d, uint64(len(attrs)))
		d = append(d, attrs...)
	}
	r.data = d
	return f.parts[user%fullParts].put(c, d)
}

// fullWorker evaluates parts, one at a time, with buffers it reuses.
type fullWorker struct {
	f      *fullEval
	act    *activation
	events []store.Event
	vals   [][]float64
	values []float64
}

// evaluate sorts a part's events by user, time and ingestion, evaluates
// each user's, and lets the events go.
func (w *fullWorker) evaluate(p *userPart) error {
	e := w.f.e
	n := 0
	for _, b := range p.events {
		n += len(b)
	}
	// Into buckets by more bits of the users' hashes (the low ones chose
	// the part), each then sorted by user, time and ingestion: a few users
	// each, so the sorts are short. Two users with the same hash (which 64
	// bits make very unlikely) are told apart below.
	buckets := 1
	for buckets < n/16 {
		buckets <<= 1
	}
	bucket := func(c *compactEvent) int { return int(c.user / fullParts & uint64(buckets-1)) }
	start := make([]int, buckets+1)
	for _, b := range p.events {
		for i := range b {
			start[bucket(&b[i])+1]++
		}
	}
	for k := range buckets {
		start[k+1] += start[k]
	}
	events := make([]compactEvent, n)
	next := slices.Clone(start[:buckets])
	for i, b := range p.events {
		for j := range b {
			k := bucket(&b[j])
			events[next[k]] = b[j]
			next[k]++
		}
		p.events[i] = nil
	}
	p.events = nil
	for k := range buckets {
		slices.SortFunc(events[start[k]:start[k+1]], func(a, b compactEvent) int {
			if c := cmp.Compare(a.user, b.user); c != 0 {
				return c
			}
			if c := cmp.Compare(a.at, b.at); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
	}
	userOf := func(c *compactEvent) []byte {
		d := p.dataOf(c)
		n, m := binary.Uvarint(d)
		return d[m : m+int(n)]
	}
	p.states = make([]UserState, 0, n/4)
	for lo := 0; lo < len(events); {
		hi := lo + 1
		id := userOf(&events[lo])
		same := true
		for hi < len(events) && events[hi].user == events[lo].user {
			same = same && bytes.Equal(userOf(&events[hi]), id)
			hi++
		}
		if !same {
			end := hi
			slices.SortStableFunc(events[lo:end], func(a, b compactEvent) int { return bytes.Compare(userOf(&a), userOf(&b)) })
			id = userOf(&events[lo])
			for hi = lo + 1; hi < end && bytes.Equal(userOf(&events[hi]), id); hi++ {
			}
		}
		user := string(id)
		if err := w.expand(p, events[lo:hi], user); err != nil {
			return err
		}
		u := e.newUser(user)
		e.advance(&u, w.events, nil, w.vals, w.act)
		p.states = append(p.states, u)
		lo = hi
	}
	p.data = nil
	return nil
}

// expand makes a user's kept events whole again, as far as the engine
// reads them (see keep).
func (w *fullWorker) expand(p *userPart, kept []compactEvent, user string) error {
	f := w.f
	// An unbounded user's state keeps its events: those need their own.
	if !f.e.bounded {
		w.events = nil
	}
	w.events, w.vals = w.events[:0], w.vals[:0]
	// Room for every series number first, so that the slices taken of
	// values stay valid.
	need := 0
	for _, c := range kept {
		if c.flags&hasValues != 0 {
			need += len(f.valueSeries[f.keys[c.kind].touchpoint])
		}
	}
	w.values = slices.Grow(w.values[:0], need)
	for _, c := range kept {
		k := f.keys[c.kind]
		ev := store.Event{Source: k.source, Touchpoint: k.touchpoint, System: k.system, Type: k.typ, Currency: k.currency,
			UserID: user, OccurredAt: time.Unix(0, c.at).UTC(), Seq: c.seq}
		d := p.dataOf(&c)
		n, m := binary.Uvarint(d)
		d = d[m+int(n):] // the user ID
		if c.flags&hasAmount != 0 {
			amount := math.Float64frombits(binary.LittleEndian.Uint64(d))
			ev.Amount, d = &amount, d[8:]
		}
		var vals []float64
		if c.flags&hasValues != 0 {
			start := len(w.values)
			for range f.valueSeries[k.touchpoint] {
				w.values = append(w.values, math.Float64frombits(binary.LittleEndian.Uint64(d)))
				d = d[8:]
			}
			vals = w.values[start:len(w.values):len(w.values)]
		}
		if f.eventID {
			n, m := binary.Uvarint(d)
			ev.EventID, d = string(d[m:m+int(n)]), d[m+int(n):]
		}
		if c.flags&hasAttributes != 0 {
			n, m := binary.Uvarint(d)
			if err := f.e.decode(&ev, d[m:m+int(n)]); err != nil {
				return err
			}
		}
		w.events, w.vals = append(w.events, ev), append(w.vals, vals)
	}
	return nil
}
