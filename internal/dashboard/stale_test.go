package dashboard

import (
	"regexp"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// A run that committed but found its feed stale (or its volume off) says
// so in the sources table and the header, instead of "Quarantined" with
// nothing held and "Sources failed 0".
func TestRenderNamesStaleFeeds(t *testing.T) {
	s := streamingSnapshot()
	fact := func(out, name string) string {
		t.Helper()
		m := regexp.MustCompile(`<dt>` + name + `</dt><dd class="([^"]*)">([^<]*)</dd>`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the header has no %q", name)
		}
		return m[1] + " " + m[2]
	}
	out := renderString(t, s)
	if got := fact(out, "Feeds stale"); got != " 0" {
		t.Errorf("no stale feed: header reads %q, want 0 and not hot", got)
	}
	if strings.Contains(out, "Volume anomalies") {
		t.Error("the header names volume anomalies when there are none")
	}

	s.Sources = append(s.Sources,
		journey.SourceState{Name: "support-tickets", Touchpoint: "support", System: "zendesk", LastRun: &journey.RunState{
			ID: "r-9001", Outcome: "Stale", Message: "run-level check failed: feed-fresh: newest event is 97h9m0s old, more than maxAge 26h0m0s",
			FinishedAt: s.EvaluatedAt, Read: 266, Accepted: 266}},
		journey.SourceState{Name: "survey-responses", Touchpoint: "feedback", System: "typeform", LastRun: &journey.RunState{
			ID: "r-9002", Outcome: "VolumeAnomaly", Message: "run-level check failed: feed-volume: read 3 records, 91% off the mean of the last 7 runs (33); maxChangePercent 80",
			FinishedAt: s.EvaluatedAt, Read: 3, Accepted: 3}})
	out = renderString(t, s)
	if got := fact(out, "Feeds stale"); got != "hot 1" {
		t.Errorf("header Feeds stale %q, want hot 1", got)
	}
	if got := fact(out, "Volume anomalies"); got != "hot 1" {
		t.Errorf("header Volume anomalies %q, want hot 1", got)
	}
	if got := fact(out, "Sources failed"); got != "hot 1" {
		t.Errorf("header Sources failed %q, want hot 1 (billing-zuora only)", got)
	}
	for _, want := range []string{
		`<span class="outcome out-warn">Stale</span>`, "newest event is 97h9m0s old, more than maxAge 26h0m0s",
		`<span class="outcome out-warn">VolumeAnomaly</span>`, "91% off the mean of the last 7 runs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the sources table does not show %q", want)
		}
	}
}
