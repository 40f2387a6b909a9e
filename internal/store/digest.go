package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
)

// A ledger entry's digest covers exactly the rows its transaction
// committed, as the database holds them: the events it inserted, the
// records it put in quarantine, and the quarantined records whose status it
// changed (a review). Each row is hashed on its own, from its columns as
// read back (so that what the commit hashed is what a later verification
// reads), and the entry's digest hashes the sorted row hashes of each kind
// with their counts: the order rows are read in does not matter, and a
// row edited, deleted, added or moved to another entry changes it.

// digestVersion is hashed into every digest, so that a future change of
// what rows hash is told apart.
const digestVersion = "journey-ledger-digest-v1"

// rowHasher hashes one row's fields, each length-prefixed so that no two
// rows hash alike by shifting text between fields; NULL differs from "".
type rowHasher struct{ buf []byte }

func (h *rowHasher) reset(kind byte) { h.buf = append(h.buf[:0], kind) }

func (h *rowHasher) str(s string) {
	h.buf = binary.AppendUvarint(h.buf, uint64(len(s))+1)
	h.buf = append(h.buf, s...)
}

func (h *rowHasher) null() { h.buf = binary.AppendUvarint(h.buf, 0) }

func (h *rowHasher) opt(s *string) {
	if s == nil {
		h.null()
		return
	}
	h.str(*s)
}

func (h *rowHasher) int(n int64) { h.str(strconv.FormatInt(n, 10)) }

func (h *rowHasher) sum() [32]byte { return sha256.Sum256(h.buf) }

// eventRow is an event as read back for a digest: its columns as text,
// times as fmtTime writes them.
type digestEvent struct {
	Source, EventID, Namespace, UserID, Touchpoint, System, Type, OccurredAt string
	Amount                                                                   *string
	Currency                                                                 string
	Attributes                                                               *string
	RunID, IngestedAt                                                        string
}

// digestQuarantine is a quarantined record as read back for its insert's
// digest: everything but its status, which a review may change later.
type digestQuarantine struct {
	ID                                    int64
	Source, RunID, EventID, Check, Reason string
	Raw                                   []byte
	RawNull                               bool
	At                                    string
	// Event is the held event as JSON (heldEvent), "" when the record never
	// became one.
	Event string
}

// digestReviewed is a quarantined record as a review left it.
type digestReviewed struct {
	ID     int64
	Status string
}

// entryAccount gathers what an entry covers: the rows' hashes, counts and
// amounts.
type entryAccount struct {
	h                              rowHasher
	events, quarantine, reviewed   [][32]byte
	loaded, quarantined            big.Rat
	hasLoaded, hasQuarantinedTotal bool
}

func (a *entryAccount) addEvent(r *digestEvent) error {
	h := &a.h
	h.reset('e')
	for _, s := range []string{r.Source, r.EventID, r.Namespace, r.UserID, r.Touchpoint, r.System, r.Type, r.OccurredAt} {
		h.str(s)
	}
	h.opt(r.Amount)
	h.str(r.Currency)
	h.opt(r.Attributes)
	h.str(r.RunID)
	h.str(r.IngestedAt)
	a.events = append(a.events, h.sum())
	if r.Amount != nil {
		if err := addDecimal(&a.loaded, *r.Amount); err != nil {
			return fmt.Errorf("event %q of %s: %w", r.EventID, r.Source, err)
		}
		a.hasLoaded = true
	}
	return nil
}

func (a *entryAccount) addQuarantine(r *digestQuarantine) error {
	h := &a.h
	h.reset('q')
	h.int(r.ID)
	for _, s := range []string{r.Source, r.RunID, r.EventID, r.Check, r.Reason} {
		h.str(s)
	}
	if r.RawNull {
		h.null()
	} else {
		sum := sha256.Sum256(r.Raw)
		h.str(hex.EncodeToString(sum[:]))
	}
	h.str(r.At)
	h.str(r.Event)
	a.quarantine = append(a.quarantine, h.sum())
	if r.Event != "" {
		ev, err := decodeHeldEvent(r.Event)
		if err != nil {
			return fmt.Errorf("quarantined record %d: %w", r.ID, err)
		}
		if ev.Amount != nil {
			if err := addDecimal(&a.quarantined, *ev.Amount); err != nil {
				return fmt.Errorf("quarantined record %d: %w", r.ID, err)
			}
			a.hasQuarantinedTotal = true
		}
	}
	return nil
}

func (a *entryAccount) addReviewed(r *digestReviewed) {
	h := &a.h
	h.reset('r')
	h.int(r.ID)
	h.str(r.Status)
	a.reviewed = append(a.reviewed, h.sum())
}

// section kinds, in digest order.
const (
	sectionEvents = iota
	sectionQuarantine
	sectionReviewed
	sections
)

var sectionNames = [sections]string{"events", "quarantine", "reviewed"}

// entrySummary is what an entry's rows come to: per section a count and a
// hash over the sorted row hashes, and the amounts.
type entrySummary struct {
	count               [sections]int64
	hash                [sections][32]byte
	seen                [sections]bool
	loaded, quarantined big.Rat
	hasLoaded, hasQ     bool
}

func sectionHash(name string, hashes [][32]byte) [32]byte {
	slices.SortFunc(hashes, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	d := sha256.New()
	fmt.Fprintf(d, "%s %d\n", name, len(hashes))
	for _, h := range hashes {
		d.Write(h[:])
	}
	var out [32]byte
	d.Sum(out[:0])
	return out
}

// summary sorts and hashes each section's rows.
func (a *entryAccount) summary() entrySummary {
	var s entrySummary
	for i, hashes := range [sections][][32]byte{a.events, a.quarantine, a.reviewed} {
		s.count[i] = int64(len(hashes))
		s.hash[i] = sectionHash(sectionNames[i], hashes)
		s.seen[i] = true
	}
	s.loaded.Set(&a.loaded)
	s.quarantined.Set(&a.quarantined)
	s.hasLoaded, s.hasQ = a.hasLoaded, a.hasQuarantinedTotal
	return s
}

// digest is the entry's digest; a section no row reached hashes as empty.
func (s *entrySummary) digest() string {
	d := sha256.New()
	d.Write([]byte(digestVersion))
	for i := range sections {
		h := s.hash[i]
		if !s.seen[i] {
			h = sectionHash(sectionNames[i], nil)
		}
		d.Write(h[:])
	}
	return "sha256:" + hex.EncodeToString(d.Sum(nil))
}

// fill completes e from the rows its transaction committed: the counts and
// amounts inserted, what of the read records that leaves as duplicates,
// and the digest.
func (a *entryAccount) fill(e *LedgerEntry) error {
	sum := a.summary()
	e.Accepted = int64(len(a.events))
	e.Quarantined = int64(len(a.quarantine))
	e.AmountLoaded, e.AmountQuarantined = "", ""
	if a.hasLoaded {
		e.AmountLoaded = FormatDecimal(&a.loaded)
	}
	if a.hasQuarantinedTotal {
		e.AmountQuarantined = FormatDecimal(&a.quarantined)
	}
	if e.Kind == EntryBatch || e.Kind == EntryRun {
		e.Duplicates = e.Read - e.Accepted - e.Quarantined - e.Rejected
		if e.Duplicates < 0 {
			return fmt.Errorf("ledger entry of run %q: %d read, yet %d inserted, %d quarantined and %d rejected", e.RunID, e.Read, e.Accepted, e.Quarantined, e.Rejected)
		}
		if e.AmountRead != "" || e.AmountRejected != "" || a.hasLoaded || a.hasQuarantinedTotal {
			var dup, rejected big.Rat
			if err := addDecimal(&dup, e.AmountRead); err != nil {
				return fmt.Errorf("ledger entry of run %q: amountRead: %w", e.RunID, err)
			}
			if err := addDecimal(&rejected, e.AmountRejected); err != nil {
				return fmt.Errorf("ledger entry of run %q: amountRejected: %w", e.RunID, err)
			}
			dup.Sub(&dup, &rejected)
			dup.Sub(&dup, &a.loaded)
			dup.Sub(&dup, &a.quarantined)
			e.AmountDuplicates = FormatDecimal(&dup)
		}
	}
	e.Digest = sum.digest()
	return nil
}
