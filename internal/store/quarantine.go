package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Quarantine statuses.
const (
	QuarantinePending   = "Pending"
	QuarantineReleased  = "Released"
	QuarantineDiscarded = "Discarded"
)

// QuarantineRecord is a record held for review, with why.
type QuarantineRecord struct {
	ID     int64  // assigned by the store, increasing in commit order
	Source string // "" takes the batch's
	RunID  string
	// EventID is "" when the record could not be mapped.
	EventID string
	// Check that failed, or the checks, comma-separated; "mapping" or
	// "decode" when the record never became an event.
	Check  string
	Reason string
	// Raw is the record as read, JSON; kept byte for byte, so that a
	// record that failed to decode is kept too.
	Raw []byte
	// Event is the event the record mapped to, nil when it never became
	// one: what a release loads, exactly as the reviewer saw it.
	Event *Event
	// At defaults to the commit's time.
	At time.Time
	// Status defaults to QuarantinePending.
	Status string
	// Review is who decided on the record, when read back; nil while it is
	// pending.
	Review *ReviewMark
}

// ReviewMark says which review changed a record's status.
type ReviewMark struct {
	Seq      int64 // the review's ledger entry
	ID       string
	Reviewer string
	At       time.Time
	Reason   string
}

// checks are the names of the checks that held the record.
func (q *QuarantineRecord) checks() []string { return strings.Split(q.Check, ",") }

// heldEvent is how a quarantined record's event is kept: JSON, with the
// amount as exact decimal text.
type heldEvent struct {
	EventID    string         `json:"eventID"`
	UserID     string         `json:"userID"`
	Namespace  string         `json:"namespace"`
	Touchpoint string         `json:"touchpoint"`
	System     string         `json:"system"`
	Type       string         `json:"type"`
	OccurredAt string         `json:"occurredAt"`
	Amount     *string        `json:"amount,omitempty"`
	Currency   string         `json:"currency,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	RunID      string         `json:"runID"`
}

func encodeHeldEvent(e *eventRow) (string, error) {
	h := heldEvent{EventID: e.EventID, UserID: e.UserID, Namespace: e.Namespace, Touchpoint: e.Touchpoint, System: e.System,
		Type: e.Type, OccurredAt: fmtTime(e.OccurredAt), Amount: e.amount, Currency: e.Currency, Attributes: e.Attributes, RunID: e.RunID}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("event %q: %w", e.EventID, err)
	}
	return string(b), nil
}

func decodeHeldEvent(s string) (*heldEvent, error) {
	var h heldEvent
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("held event does not decode: %w", err)
	}
	if h.Amount != nil && !decimalRE.MatchString(*h.Amount) {
		return nil, fmt.Errorf("held event %q: amount %q is not a decimal number", h.EventID, *h.Amount)
	}
	return &h, nil
}

// event is the held event as an Event of source.
func (h *heldEvent) event(source string) (Event, error) {
	at, err := parseTime(h.OccurredAt)
	if err != nil {
		return Event{}, fmt.Errorf("held event %q: occurredAt: %w", h.EventID, err)
	}
	e := Event{Source: source, Namespace: h.Namespace, EventID: h.EventID, UserID: h.UserID, Touchpoint: h.Touchpoint,
		System: h.System, Type: h.Type, OccurredAt: at, Currency: h.Currency, Attributes: h.Attributes, RunID: h.RunID}
	if h.Amount != nil {
		f, err := strconv.ParseFloat(*h.Amount, 64)
		if err != nil {
			return Event{}, fmt.Errorf("held event %q: amount: %w", h.EventID, err)
		}
		e.Amount = &f
	}
	return e, nil
}

// QuarantineFilter selects quarantined records; zero fields select all.
type QuarantineFilter struct {
	Source string
	Status string
	// Check selects records one of whose checks it names.
	Check    string
	RunIDs   []string
	EventIDs []string
	// UserID selects the records whose held event is the user's.
	UserID string
	// From and To select records held at or after From and before To.
	From, To time.Time
	// AfterID and Limit page through the records, oldest first.
	AfterID int64
	Limit   int
}

// PendingSummary is what a source holds for review.
type PendingSummary struct {
	Pending int64
	// Oldest is when the oldest pending record was held (zero: none).
	Oldest time.Time
	// ByCheck counts pending records per check, most first; a record held
	// by several checks counts for each.
	ByCheck []CheckPending
}

// CheckPending is one check's pending records.
type CheckPending struct {
	Check   string
	Pending int64
	Oldest  time.Time
}

// pendingBuilder folds rows of (source, check_name, count, oldest) into
// summaries.
type pendingBuilder map[string]*PendingSummary

func (b pendingBuilder) add(source, checks string, n int64, oldest time.Time) {
	s := b[source]
	if s == nil {
		s = &PendingSummary{}
		b[source] = s
	}
	s.Pending += n
	if s.Oldest.IsZero() || oldest.Before(s.Oldest) {
		s.Oldest = oldest
	}
	for _, c := range strings.Split(checks, ",") {
		found := false
		for i := range s.ByCheck {
			if cp := &s.ByCheck[i]; cp.Check == c {
				cp.Pending += n
				if oldest.Before(cp.Oldest) {
					cp.Oldest = oldest
				}
				found = true
			}
		}
		if !found {
			s.ByCheck = append(s.ByCheck, CheckPending{Check: c, Pending: n, Oldest: oldest})
		}
	}
}

func (b pendingBuilder) done() map[string]PendingSummary {
	out := make(map[string]PendingSummary, len(b))
	for src, s := range b {
		sort.Slice(s.ByCheck, func(i, j int) bool {
			if s.ByCheck[i].Pending != s.ByCheck[j].Pending {
				return s.ByCheck[i].Pending > s.ByCheck[j].Pending
			}
			return s.ByCheck[i].Check < s.ByCheck[j].Check
		})
		out[src] = *s
	}
	return out
}

// decodeEvent sets r.Event from its stored JSON ("" for none).
func (r *QuarantineRecord) decodeEvent(js string) error {
	if js == "" {
		return nil
	}
	h, err := decodeHeldEvent(js)
	if err != nil {
		return fmt.Errorf("quarantined record %d: %w", r.ID, err)
	}
	e, err := h.event(r.Source)
	if err != nil {
		return fmt.Errorf("quarantined record %d: %w", r.ID, err)
	}
	r.Event = &e
	return nil
}

// reasonOf is a review entry's reason, from its detail.
func reasonOf(detail string) string {
	d, err := decodeReviewDetail(detail)
	if err != nil {
		return ""
	}
	return d.Reason
}

// userPattern is a LIKE pattern (escaped with \\) that finds a user's held
// events by their JSON.
func userPattern(user string) string {
	b, _ := json.Marshal(user)
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(string(b))
	return `%"userID":` + esc + `,%`
}
