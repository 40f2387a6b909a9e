package pipeline

import (
	"runtime"
	"sync"
)

// scratch is what Process works in for one batch and drops after it:
// reused from batch to batch, as a batch's worth of it is megabytes that
// the collector would otherwise sweep up every batch. A pipeline keeps one
// spare; a Process running beside another (the webhook receiver's
// requests) makes its own.
type scratch struct {
	slots   []candidate
	mapErrs []error
	found   []checked
}

// getScratch returns a scratch with n zeroed slots and errors.
func (p *Pipeline) getScratch(n int) *scratch {
	sc := p.spare.Swap(nil)
	if sc == nil {
		sc = &scratch{}
	}
	if cap(sc.slots) < n {
		sc.slots, sc.mapErrs = make([]candidate, n), make([]error, n)
	}
	sc.slots, sc.mapErrs = sc.slots[:n], sc.mapErrs[:n]
	return sc
}

// checked returns n zeroed check results.
func (sc *scratch) checked(n int) []checked {
	if cap(sc.found) < n {
		sc.found = make([]checked, n)
	}
	sc.found = sc.found[:n]
	return sc.found
}

// putScratch zeroes sc, so that it holds on to no record, and keeps it
// for the next batch.
func (p *Pipeline) putScratch(sc *scratch) {
	clear(sc.slots)
	clear(sc.mapErrs)
	clear(sc.found)
	p.spare.Store(sc)
}

// minPerWorker is the fewest records worth a goroutine of their own.
const minPerWorker = 64

// parallel calls fn for every i in [0, n), split in contiguous ranges over
// the pipeline's workers, and returns once all are done. fn must only
// touch what belongs to its i.
func (p *Pipeline) parallel(n int, fn func(i int)) {
	w := p.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	w = min(w, n/minPerWorker)
	if w <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for k := range w {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}
