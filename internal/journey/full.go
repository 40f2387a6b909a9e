package journey

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
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
// its user's part (in a scratch file, see spill.go), then workers sort and
// evaluate one part at a time.
//
// Sorting ten million events by user in the database took most of a full
// evaluation, with nothing else to do meanwhile; here the reading is spread
// over the cores and the sorting over parts small enough for the caches.

// compactEvent is an event as a full evaluation keeps it until its user is
// evaluated. Users are told apart by a hash of their ID first, so neither
// reading nor sorting looks the ID up in a map.
type compactEvent struct {
	at, seq int64
	user    uint64 // hash of the user's ID, which is at the start of data
	kind    uint16 // index in the evaluation's kinds
	flags   uint16
	data    uint32 // offset of the rest in its part's records: see fullEval.keep
}

const (
	hasAmount = 1 << iota
	hasValues
	hasAttributes
)

// eventKey is the fields with few distinct values, kept once per kind.
type eventKey struct{ source, touchpoint, system, typ, currency string }

// fullEval is one full evaluation's reading state.
type fullEval struct {
	e    *Engine
	hash func(user string) uint64
	// parts are the users by their hash's low bits, partBits of them.
	parts    []userPart
	partBits int
	spill    *spill

	kindMu sync.Mutex
	kinds  map[eventKey]uint16
	keys   []eventKey

	// What is kept besides the kind: see keep.
	eventID, amount bool
	// valueSeries are, per touchpoint, the sum series whose numbers are
	// taken from its events' attributes as read.
	valueSeries map[string][]int
}

// EvaluateStore evaluates every user (of the engine's shard) of the
// sources' events in the store ingested up to sequence upTo (see
// store.LatestSeq).
func (e *Engine) EvaluateStore(ctx context.Context, st store.Store, sources []string, upTo int64) (*Users, error) {
	return e.evaluateStore(ctx, st, sources, upTo, UserHash)
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
	var err error
	parts := spillParts(upTo)
	f.parts, f.partBits = make([]userPart, parts), bits.TrailingZeros(uint(parts))
	if f.spill, err = newSpill(parts); err != nil {
		return nil, err
	}
	defer f.spill.Close()
	workers := max(1, runtime.GOMAXPROCS(0))
	q := e.query(sources)
	q.UpToSeq = upTo
	// A slice more than cores: a reader and the database process serving
	// it each wait on the other at times, and the spare one fills in.
	readers := make([]fullReader, workers+1)
	err = st.ScanSlices(ctx, q, len(readers), func(slice int, ev *store.Event, attrs []byte) error {
		return f.keep(&readers[slice], ev, attrs)
	})
	if err != nil {
		return nil, err
	}
	for i := range f.parts {
		if err := f.parts[i].flush(f.spill); err != nil {
			return nil, err
		}
		f.parts[i].buf = nil
	}

	us := &Users{e: e}
	var usMu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	next := make(chan *userPart, len(f.parts))
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
				usMu.Lock()
				for _, u := range w.states {
					us.append(u)
				}
				usMu.Unlock()
				clear(w.states)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	us.reindex()
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
	if !f.e.shard.owns(user) {
		return nil
	}
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
	return f.parts[user&uint64(len(f.parts)-1)].put(f.spill, &c, d)
}

// fullWorker evaluates parts, one at a time, with buffers it reuses.
type fullWorker struct {
	f       *fullEval
	act     *activation
	records []byte
	read    []compactEvent
	sorted  []compactEvent
	start   []int
	events  []store.Event
	vals    [][]float64
	values  []float64
	// states are the part's users evaluated.
	states []UserState
}

// evaluate reads a part's events back, sorts them by user, time and
// ingestion, and evaluates each user's.
func (w *fullWorker) evaluate(p *userPart) error {
	e := w.f.e
	var err error
	if w.records, err = p.load(w.f.spill, w.records); err != nil {
		return err
	}
	data := w.records
	if w.read, err = readRecords(data, w.read[:0]); err != nil {
		return err
	}
	n := len(w.read)
	// Into buckets by more bits of the users' hashes (the low ones chose
	// the part), each then sorted by user, time and ingestion: a few users
	// each, so the sorts are short. Two users with the same hash (which 64
	// bits make very unlikely) are told apart below.
	buckets := 1
	for buckets < n/16 {
		buckets <<= 1
	}
	shift := w.f.partBits
	bucket := func(c *compactEvent) int { return int(c.user >> shift & uint64(buckets-1)) }
	start := slices.Grow(w.start[:0], buckets+1)[:buckets+1]
	clear(start)
	w.start = start
	for i := range w.read {
		start[bucket(&w.read[i])+1]++
	}
	for k := range buckets {
		start[k+1] += start[k]
	}
	events := slices.Grow(w.sorted[:0], n)[:n]
	w.sorted = events
	next := slices.Clone(start[:buckets])
	for i := range w.read {
		k := bucket(&w.read[i])
		events[next[k]] = w.read[i]
		next[k]++
	}
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
	dataOf := func(c *compactEvent) []byte { return data[c.data:] }
	userOf := func(c *compactEvent) []byte {
		d := dataOf(c)
		n, m := binary.Uvarint(d)
		return d[m : m+int(n)]
	}
	w.states = w.states[:0]
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
		if err := w.expand(dataOf, events[lo:hi], user); err != nil {
			return err
		}
		u := e.newUser(user)
		e.advance(&u, w.events, nil, w.vals, w.act)
		w.states = append(w.states, u)
		lo = hi
	}
	return nil
}

// expand makes a user's kept events whole again, as far as the engine
// reads them (see keep).
func (w *fullWorker) expand(dataOf func(*compactEvent) []byte, kept []compactEvent, user string) error {
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
		d := dataOf(&c)
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
