package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// VerifyOptions are what a verification checks besides the store itself.
type VerifyOptions struct {
	// Anchors are entry hashes recorded outside the store: a source's
	// status.lastRun.ledgerHash, a review's status.ledgerHash, an Event. A
	// chain rewritten consistently from end to end verifies on its own;
	// it no longer holds the anchors.
	Anchors []string
	// ChainOnly walks the chain and checks the anchors, without reading
	// the rows entries cover: cheap enough for every run to do.
	ChainOnly bool
}

// VerifyReport is what a verification found.
type VerifyReport struct {
	// Entries in the chain; Legacy of them from before entries covered
	// data, verified by their chain alone.
	Entries, Legacy int64
	// Rows whose entry's digest verified.
	Rows int64
	// Head is the newest entry's hash.
	Head string
	// Sources whose rows the ledger vouches for.
	Sources []string
	// Anchors found in the chain.
	Anchors int
	// Retired counts the rows retired by policy (see Store.Retire) whose
	// hashes the ledger keeps: their entries verified from them and the
	// rows still stored. Retirements is the number of retire entries.
	Retired     int64
	Retirements int
	// Unadopted counts the rows of sources that only legacy entries cover:
	// written before entries covered data, they are taken into the ledger
	// by the source's next entry.
	Unadopted map[string]int64
	// Problems found, the first (lowest entry) first; at most maxProblems.
	Problems []BrokenLinkError
}

const maxProblems = 20

func (r *VerifyReport) problem(seq int64, format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, BrokenLinkError{Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
}

// err is the first problem, or nil.
func (r *VerifyReport) err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i].Seq, r.Problems[j].Seq
		return a != 0 && (b == 0 || a < b)
	})
	first := r.Problems[0]
	if n := len(r.Problems) - 1; n > 0 {
		first.Reason += fmt.Sprintf(" (and %d more problem%s)", n, plural(n))
	}
	return &first
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ledgerScanner is what verification reads of a store: the chain, and the
// rows entries cover, as stored.
type ledgerScanner interface {
	head(ctx context.Context) (int64, string, error)
	// entries streams the chain up to seq upTo, in order.
	entries(ctx context.Context, upTo int64, fn func(*LedgerEntry) error) error
	// eventsByEntry, quarantineByEntry and reviewedByEntry stream the rows
	// that name an entry, grouped by it (ordered by entry).
	eventsByEntry(ctx context.Context, fn func(entry int64, r *digestEvent) error) error
	quarantineByEntry(ctx context.Context, fn func(entry int64, r *digestQuarantine) error) error
	reviewedByEntry(ctx context.Context, fn func(entry int64, r *digestReviewed) error) error
	// retiredRows streams what retire entries kept of retired rows.
	retiredRows(ctx context.Context, fn func(r *retiredRow) error) error
	// uncovered counts, per source, the events and quarantined records no
	// entry covers, with an example of each.
	uncovered(ctx context.Context) (map[string]uncoveredRows, error)
	// unreviewed returns quarantined records that are not pending and that
	// no review changed (at most a few), and their number.
	unreviewed(ctx context.Context) ([]QuarantineRecord, int64, error)
}

type uncoveredRows struct {
	events, quarantine int64
	exampleEvent       string
	exampleRecord      int64
}

// verify walks the chain, then recomputes every covering entry from the
// rows that name it, and looks for rows no entry accounts for.
func verify(ctx context.Context, s ledgerScanner, o VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	headSeq, headHash, err := s.head(ctx)
	if err != nil {
		return rep, fmt.Errorf("read the ledger head: %w", err)
	}
	rep.Head = headHash
	var walk chainWalker
	byseq := map[int64]*LedgerEntry{}
	hashes := map[string]bool{}
	covered := map[string]bool{}
	legacy := map[string]bool{} // sources of legacy entries
	retires := map[int64]*LedgerEntry{}
	var chainErr error
	err = s.entries(ctx, headSeq, func(e *LedgerEntry) error {
		if chainErr != nil {
			return nil
		}
		if err := walk.next(*e); err != nil {
			chainErr = err
			return nil
		}
		rep.Entries++
		hashes[e.Hash] = true
		if !e.covers() {
			rep.Legacy++
			legacy[e.Source] = true
			return nil
		}
		c := *e
		if e.Kind == EntryRetire {
			retires[e.Seq] = &c
			return nil
		}
		byseq[e.Seq] = &c
		covered[e.Source] = true
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("read the ledger: %w", err)
	}
	if chainErr == nil {
		chainErr = walk.end(headSeq, headHash)
	}
	var broken *BrokenLinkError
	if errors.As(chainErr, &broken) {
		rep.Problems = append(rep.Problems, *broken)
	}

	if o.ChainOnly {
		rep.checkAnchors(o.Anchors, hashes)
		return rep, rep.err()
	}

	// Recompute each covering entry from its rows, section by section.
	sums := map[int64]*entrySummary{}
	orphans := map[int64]bool{}
	group := func(section int, init func(entry int64, acc *entryAccount)) (add func(entry int64) *entryAccount, flush func()) {
		var cur int64
		var acc *entryAccount
		flush = func() {
			if acc == nil {
				return
			}
			part := acc.summary()
			s := sums[cur]
			if s == nil {
				s = &entrySummary{}
				sums[cur] = s
			}
			s.count[section], s.hash[section], s.seen[section] = part.count[section], part.hash[section], true
			if section == sectionEvents {
				s.loaded.Set(&part.loaded)
				s.hasLoaded = part.hasLoaded
			}
			if section == sectionQuarantine {
				s.quarantined.Set(&part.quarantined)
				s.hasQ = part.hasQ
			}
			acc = nil
		}
		add = func(entry int64) *entryAccount {
			if acc != nil && entry != cur {
				flush()
			}
			if acc == nil {
				cur, acc = entry, &entryAccount{}
				if init != nil {
					init(entry, acc)
				}
			}
			return acc
		}
		return add, flush
	}
	known := func(entry int64) bool {
		if entry > headSeq {
			return false // committed after the head was read
		}
		if _, ok := byseq[entry]; !ok && chainErr == nil {
			orphans[entry] = true
			return false
		}
		return true
	}
	// Rows retired by policy count under their entries as the hashes
	// their retire entry kept.
	retired := map[int64][][32]byte{}  // by the entry that covered them
	keptBy := map[int64][]retiredRow{} // by the retire entry that kept them
	if err := s.retiredRows(ctx, func(r *retiredRow) error {
		keptBy[r.RetireEntry] = append(keptBy[r.RetireEntry], *r)
		if known(r.Entry) {
			retired[r.Entry] = append(retired[r.Entry], r.Hash)
		}
		return nil
	}); err != nil {
		return rep, fmt.Errorf("read retired rows: %w", err)
	}
	withRetired := func(entry int64, acc *entryAccount) {
		acc.events = append(acc.events, retired[entry]...)
		delete(retired, entry)
	}
	add, flush := group(sectionEvents, withRetired)
	if err := s.eventsByEntry(ctx, func(entry int64, r *digestEvent) error {
		if !known(entry) {
			return nil
		}
		return add(entry).addEvent(r)
	}); err != nil {
		return rep, fmt.Errorf("read events: %w", err)
	}
	flush()
	for _, entry := range sortedInts(retired) { // entries all of whose events are retired
		add(entry)
		flush()
	}
	rep.checkRetires(retires, keptBy, headSeq)
	add, flush = group(sectionQuarantine, nil)
	if err := s.quarantineByEntry(ctx, func(entry int64, r *digestQuarantine) error {
		if !known(entry) {
			return nil
		}
		return add(entry).addQuarantine(r)
	}); err != nil {
		return rep, fmt.Errorf("read quarantine: %w", err)
	}
	flush()
	add, flush = group(sectionReviewed, nil)
	if err := s.reviewedByEntry(ctx, func(entry int64, r *digestReviewed) error {
		if !known(entry) {
			return nil
		}
		add(entry).addReviewed(r)
		return nil
	}); err != nil {
		return rep, fmt.Errorf("read reviewed records: %w", err)
	}
	flush()

	for entry := range orphans {
		rep.problem(entry, "rows name this entry, which is not in the ledger: they were written behind the store's back")
	}
	seqs := make([]int64, 0, len(byseq))
	for seq := range byseq {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		e := byseq[seq]
		sum := sums[seq]
		if sum == nil {
			sum = &entrySummary{}
		}
		got := sum.digest()
		rows := sum.count[sectionEvents] + sum.count[sectionQuarantine] + sum.count[sectionReviewed]
		if got != e.Digest {
			rep.problem(seq, "its rows do not match its digest: it covers %d events, %d quarantined records and %d reviewed ones, "+
				"the store now holds %d, %d and %d under it: rows were edited, deleted or added after the commit (%s %s of %s)",
				e.Accepted, e.Quarantined, reviewedCount(e), sum.count[sectionEvents], sum.count[sectionQuarantine], sum.count[sectionReviewed],
				e.Kind, e.RunID, e.Source)
			continue
		}
		if sum.count[sectionEvents] != e.Accepted || sum.count[sectionQuarantine] != e.Quarantined {
			rep.problem(seq, "it counts %d events and %d quarantined records, its rows are %d and %d", e.Accepted, e.Quarantined,
				sum.count[sectionEvents], sum.count[sectionQuarantine])
			continue
		}
		rep.Rows += rows
	}

	unc, err := s.uncovered(ctx)
	if err != nil {
		return rep, fmt.Errorf("look for rows no entry covers: %w", err)
	}
	for _, src := range sortedKeys(unc) {
		u := unc[src]
		if !covered[src] {
			if !legacy[src] {
				continue // not a financial source: not the ledger's to vouch for
			}
			if rep.Unadopted == nil {
				rep.Unadopted = map[string]int64{}
			}
			rep.Unadopted[src] = u.events + u.quarantine
			continue
		}
		var what []string
		if u.events > 0 {
			what = append(what, fmt.Sprintf("%d event%s (e.g. %q)", u.events, plural(int(u.events)), u.exampleEvent))
		}
		if u.quarantine > 0 {
			what = append(what, fmt.Sprintf("%d quarantined record%s (e.g. record %d)", u.quarantine, plural(int(u.quarantine)), u.exampleRecord))
		}
		rep.problem(0, "source %s holds %s that no ledger entry covers: written behind the store's back (or while the source was not financial)",
			src, strings.Join(what, " and "))
	}
	// Sources no legacy row waits for are not reported as unadopted.
	for src := range rep.Unadopted {
		if rep.Unadopted[src] == 0 {
			delete(rep.Unadopted, src)
		}
	}

	examples, n, err := s.unreviewed(ctx)
	if err != nil {
		return rep, fmt.Errorf("look for status changes without a review: %w", err)
	}
	if n > 0 {
		q := examples[0]
		rep.problem(0, "%d quarantined record%s changed status without a review: record %d of %s is %s, yet no review entry records it",
			n, plural(int(n)), q.ID, q.Source, q.Status)
	}

	rep.checkAnchors(o.Anchors, hashes)
	for src := range covered {
		rep.Sources = append(rep.Sources, src)
	}
	sort.Strings(rep.Sources)
	return rep, rep.err()
}

// checkRetires recomputes each retire entry's digest from the rows it
// kept, and looks for kept rows that no retire entry accounts for.
func (r *VerifyReport) checkRetires(retires map[int64]*LedgerEntry, keptBy map[int64][]retiredRow, headSeq int64) {
	for _, seq := range sortedInts(keptBy) {
		if _, ok := retires[seq]; !ok && seq <= headSeq {
			r.problem(seq, "retired rows name this entry, which is not a retire entry in the ledger: they were written behind the store's back")
		}
	}
	for _, seq := range sortedInts(retires) {
		e, kept := retires[seq], keptBy[seq]
		r.Retirements++
		d, err := DecodeRetireDetail(e.Detail)
		switch {
		case err != nil:
			r.problem(seq, "its detail does not read as a retirement: %v", err)
		case retireDigest(kept) != e.Digest:
			r.problem(seq, "the retired rows it keeps do not match its digest: it kept %d, the store now holds %d: they were edited, deleted or added after the retirement",
				d.Covered, len(kept))
		default:
			r.Retired += int64(len(kept))
		}
	}
}

// checkAnchors finds each anchor among the chain's hashes.
func (r *VerifyReport) checkAnchors(anchors []string, hashes map[string]bool) {
	for _, a := range anchors {
		if hashes[a] {
			r.Anchors++
			continue
		}
		r.problem(0, "anchor %s is not in the chain: the ledger was rewritten after that entry was recorded outside the store (or the anchor is from another store)", a)
	}
}

// reviewedCount is how many records a review entry changed, from its
// detail; 0 for other entries.
func reviewedCount(e *LedgerEntry) int64 {
	if e.Kind != EntryReview {
		return 0
	}
	d, err := decodeReviewDetail(e.Detail)
	if err != nil {
		return -1
	}
	return d.Released + d.Duplicates + d.Discarded
}

func sortedInts[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
