package store

import (
	"sort"
	"strings"
	"time"
)

// CheckDiscrepancies is what one check of one source held for review: in
// all, and by what became of them.
type CheckDiscrepancies struct {
	Source, Check                       string
	Found, Pending, Released, Discarded int64
}

// Resolution is a reviewed record: held at Held, reviewed at Reviewed.
type Resolution struct {
	Source         string
	Held, Reviewed time.Time
}

// Discrepancies is the sources' exceptions and how fast they are resolved.
type Discrepancies struct {
	// ByCheck, by source then check. A record held by several checks
	// counts for each.
	ByCheck []CheckDiscrepancies
	// Pending and Reviewed count records, each once.
	Pending, Reviewed int64
	// Resolutions are the newest reviewed records, at most
	// MaxResolutions, newest review first.
	Resolutions []Resolution
}

// MaxResolutions bounds the reviewed records Discrepancies reads back.
const MaxResolutions = 10000

type discrepancyBuilder struct {
	checks            map[[2]string]*CheckDiscrepancies
	pending, reviewed int64
}

func (b *discrepancyBuilder) add(source, checks, status string, n int64) {
	if status == QuarantinePending {
		b.pending += n
	} else {
		b.reviewed += n
	}
	if b.checks == nil {
		b.checks = map[[2]string]*CheckDiscrepancies{}
	}
	for _, c := range strings.Split(checks, ",") {
		d := b.checks[[2]string{source, c}]
		if d == nil {
			d = &CheckDiscrepancies{Source: source, Check: c}
			b.checks[[2]string{source, c}] = d
		}
		d.Found += n
		switch status {
		case QuarantinePending:
			d.Pending += n
		case QuarantineReleased:
			d.Released += n
		case QuarantineDiscarded:
			d.Discarded += n
		}
	}
}

func (b *discrepancyBuilder) done() Discrepancies {
	out := make([]CheckDiscrepancies, 0, len(b.checks))
	for _, d := range b.checks {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Check < out[j].Check
	})
	return Discrepancies{ByCheck: out, Pending: b.pending, Reviewed: b.reviewed}
}
