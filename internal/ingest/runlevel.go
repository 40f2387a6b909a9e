package ingest

import (
	"fmt"
	"strings"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// runLevelFailure is one run-level check that failed: what it says of the
// feed (RunStale for freshness, RunVolumeAnomaly for volume) and why.
type runLevelFailure struct {
	outcome v1alpha1.RunOutcome
	msg     string
}

// runLevelFailures are the run-level checks a run failed, in check order.
type runLevelFailures []runLevelFailure

func (fs runLevelFailures) String() string {
	msgs := make([]string, len(fs))
	for i, f := range fs {
		msgs[i] = f.msg
	}
	return strings.Join(msgs, "; ")
}

// outcome of a run that committed what it read but failed these checks: a
// stale feed is named first, as it explains a low volume too.
func (fs runLevelFailures) outcome() v1alpha1.RunOutcome {
	for _, f := range fs {
		if f.outcome == v1alpha1.RunStale {
			return v1alpha1.RunStale
		}
	}
	return v1alpha1.RunVolumeAnomaly
}

// heldMessage says how many records a run held for review.
func heldMessage(n int64) string {
	noun := "records"
	if n == 1 {
		noun = "record"
	}
	return fmt.Sprintf("%d %s quarantined for review", n, noun)
}
