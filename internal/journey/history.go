package journey

import (
	"time"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// A point is one event as a series sees it: when, which series (an index
// into Engine.series), and for a sum series the attribute's value.
type point struct {
	at     int64 // unix nanoseconds
	series int32
	val    float64
}

// pointHistory answers the user helpers from a user's points as of a time.
// It is what the engine keeps when every helper call in the map's
// expressions names its touchpoint, type or attribute and window as
// constants: only the events those calls can see, only as far back as the
// longest window of each.
type pointHistory struct {
	e      *Engine
	points []point
	asOf   int64
}

func (h *pointHistory) Count(touchpoint, eventType string, window time.Duration) int64 {
	k := h.e.seriesIndex(touchpoint, eventType, "")
	lo := h.asOf - int64(window)
	var n int64
	for _, p := range h.points {
		if p.series == k && p.at > lo && p.at <= h.asOf {
			n++
		}
	}
	return n
}

func (h *pointHistory) Sum(touchpoint, attribute string, window time.Duration) float64 {
	return h.SumBetween(touchpoint, attribute, window, 0)
}

func (h *pointHistory) SumBetween(touchpoint, attribute string, from, to time.Duration) float64 {
	k := h.e.seriesIndex(touchpoint, "", attribute)
	lo, hi := h.asOf-int64(from), h.asOf-int64(to)
	var sum float64
	for _, p := range h.points {
		if p.series == k && p.at > lo && p.at <= hi {
			sum += p.val
		}
	}
	return sum
}

// eventHistory answers the user helpers from all of a user's events. It is
// what the engine keeps when some helper call's arguments are computed, so
// that no bound on what it may look at is known.
type eventHistory struct {
	events []store.Event
	asOf   time.Time
}

func (h *eventHistory) in(e *store.Event, from, to time.Duration) bool {
	return e.OccurredAt.After(h.asOf.Add(-from)) && !e.OccurredAt.After(h.asOf.Add(-to))
}

func (h *eventHistory) Count(touchpoint, eventType string, window time.Duration) int64 {
	var n int64
	for i := range h.events {
		e := &h.events[i]
		if e.Touchpoint == touchpoint && e.Type == eventType && h.in(e, window, 0) {
			n++
		}
	}
	return n
}

func (h *eventHistory) Sum(touchpoint, attribute string, window time.Duration) float64 {
	return h.SumBetween(touchpoint, attribute, window, 0)
}

func (h *eventHistory) SumBetween(touchpoint, attribute string, from, to time.Duration) float64 {
	var sum float64
	for i := range h.events {
		e := &h.events[i]
		if e.Touchpoint != touchpoint || !h.in(e, from, to) {
			continue
		}
		if v, ok := number(e.Attributes[attribute]); ok {
			sum += v
		}
	}
	return sum
}

// number reads a numeric attribute; anything else does not add up.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case int:
		return float64(v), true
	}
	return 0, false
}
