package receiver

import (
	"context"
	"math/big"
	"sync"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// Group commit. The store commits batches of events one at a time (the
// events lock keeps their sequence numbers visible in order), and a
// commit costs a handful of round trips whatever it holds, so one request
// a commit caps a receiver at a few hundred requests a second. Requests
// that arrive while a commit is under way wait for the next one and
// commit together, in one transaction: each is still answered only after
// its events are committed, and a group that fails is committed again one
// request at a time, so that one request's failure is its own.
//
// A financial source's group writes one ledger entry, covering every
// row the group commits: it counts every request's records read and
// rejected with their amounts, and the store counts what the commit
// inserted and the rest as duplicates (also an event two requests of the
// group carry), as a run's entry does. A request with records to hold in
// quarantine commits alone (what the store held of it is known only for
// a batch of its own).

// maxGroupEvents bounds the events of one group commit.
const maxGroupEvents = 5000

// groupTimeout bounds a group's commit, which goes on for the other
// requests when the one leading it is cancelled.
const groupTimeout = time.Minute

type pending struct {
	ctx  context.Context
	b    store.Batch
	out  store.CommitResult
	err  error
	done chan struct{}
}

// grouper gathers the batches of concurrent requests into group commits.
type grouper struct {
	st    store.Store
	mu    sync.Mutex
	queue []*pending
	busy  bool // a goroutine is committing the queue
}

// commit commits b, alone or with the batches of requests that arrive
// meanwhile, and says what became of b's own events.
func (g *grouper) commit(ctx context.Context, b store.Batch) (store.CommitResult, error) {
	p := &pending{ctx: ctx, b: b, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if lead {
		g.lead()
	}
	<-p.done
	return p.out, p.err
}

// lead commits the next group from the queue, then hands what queued
// meanwhile to a goroutine of its own, so that the request leading this
// group is answered at once.
func (g *grouper) lead() {
	g.mu.Lock()
	n, events := 0, 0
	for n < len(g.queue) && (n == 0 || events+len(g.queue[n].b.Events) <= maxGroupEvents) {
		events += len(g.queue[n].b.Events)
		n++
	}
	group := append([]*pending(nil), g.queue[:n]...)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	g.commitGroup(group)

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.queue, g.busy = nil, false
		return
	}
	go g.lead()
}

func (g *grouper) commitGroup(group []*pending) {
	defer func() {
		for _, p := range group {
			close(p.done)
		}
	}()
	if len(group) == 1 {
		p := group[0]
		p.out, p.err = g.st.Commit(p.ctx, p.b)
		return
	}
	ledger, ok := mergeLedger(group)
	if !ok {
		// An amount the store would refuse: each request on its own, to be
		// refused with the reason.
		for _, p := range group {
			p.out, p.err = g.st.Commit(p.ctx, p.b)
		}
		return
	}
	merged := store.Batch{Source: group[0].b.Source, ReportExisting: true, Ledger: ledger}
	// mine[i] are the IDs of group[i]'s events the merged batch holds; an
	// event an earlier request of the group holds too is that one's.
	mine := make([][]string, len(group))
	seen := make(map[string]bool, maxGroupEvents)
	for i, p := range group {
		for _, e := range p.b.Events {
			if seen[e.EventID] {
				continue
			}
			seen[e.EventID] = true
			merged.Events = append(merged.Events, e)
			mine[i] = append(mine[i], e.EventID)
		}
		merged.UniqueKeys = append(merged.UniqueKeys, p.b.UniqueKeys...)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	out, err := g.st.Commit(ctx, merged)
	if err != nil {
		// Nothing of the group was committed: each request on its own.
		for _, p := range group {
			p.out, p.err = g.st.Commit(p.ctx, p.b)
		}
		return
	}
	for i, p := range group {
		for _, id := range mine[i] {
			if !out.Existing[id] {
				p.out.Inserted++
			}
		}
	}
}

// mergeLedger is a group's ledger entry (nil when its requests write
// none); not ok when an amount is not a decimal number.
func mergeLedger(group []*pending) (*store.LedgerEntry, bool) {
	first := group[0].b.Ledger
	if first == nil {
		return nil, true
	}
	e := *first
	e.Read, e.Rejected = 0, 0
	var read, rejected big.Rat
	var amounts bool
	for _, p := range group {
		l := p.b.Ledger
		e.Read += l.Read
		e.Rejected += l.Rejected
		for _, a := range []struct {
			sum  *big.Rat
			text string
		}{{&read, l.AmountRead}, {&rejected, l.AmountRejected}} {
			if a.text == "" {
				continue
			}
			var r big.Rat
			if _, ok := r.SetString(a.text); !ok {
				return nil, false
			}
			a.sum.Add(a.sum, &r)
			amounts = true
		}
	}
	e.AmountRead, e.AmountRejected = "", ""
	if amounts {
		e.AmountRead, e.AmountRejected = store.FormatDecimal(&read), store.FormatDecimal(&rejected)
	}
	return &e, true
}
