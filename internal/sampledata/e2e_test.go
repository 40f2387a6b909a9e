// The end-to-end test runs `journey run` (internal/cmd/run) over a generated
// folder and compares every source's summary with expected.json.

package sampledata

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/cmd/run"
)

func TestEndToEnd(t *testing.T) {
	// The default dataset, judged as of its own end (`journey run --as-of`),
	// so that only the planted late feed is late, whatever today is.
	cfg := DefaultConfig()
	dir, m := generate(t, cfg)
	store := "sqlite://" + filepath.Join(t.TempDir(), "journey.db")

	var out bytes.Buffer
	if err := run.Run(context.Background(), []string{"-f", dir, "--store", store, "--output", "json", "--as-of", m.Config.AsOf, "--html", t.TempDir()}, &out); err != nil {
		t.Fatalf("journey run: %v", err)
	}
	var res run.Output
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("journey run --output json: %v\n%s", err, out.String())
	}
	if len(res.Sources) != len(m.Sources) {
		t.Fatalf("journey run ran %d sources, expected.json lists %d", len(res.Sources), len(m.Sources))
	}
	for _, s := range res.Sources {
		want, ok := m.Sources[s.Name]
		if !ok {
			t.Errorf("journey run ran %s, which expected.json does not list", s.Name)
			continue
		}
		e := want.Expected
		checks := map[string]int64{}
		for name, c := range s.Checks {
			checks[name] = c.Failed
		}
		if s.Outcome != e.Outcome || s.Read != e.Read || s.Accepted != e.Accepted || s.Duplicates != e.Duplicates ||
			s.Quarantined != e.Quarantined || s.Rejected != e.Rejected || s.Warnings != e.Warnings || !maps.Equal(checks, e.Checks) {
			t.Errorf("%s: journey run reported\n  %s read=%d accepted=%d duplicates=%d quarantined=%d rejected=%d warnings=%d checks=%v (%s)\nexpected.json says\n  %s read=%d accepted=%d duplicates=%d quarantined=%d rejected=%d warnings=%d checks=%v",
				s.Name, s.Outcome, s.Read, s.Accepted, s.Duplicates, s.Quarantined, s.Rejected, s.Warnings, checks, s.Message,
				e.Outcome, e.Read, e.Accepted, e.Duplicates, e.Quarantined, e.Rejected, e.Warnings, e.Checks)
		}
		for _, c := range e.RunLevel {
			if !bytes.Contains([]byte(s.Message), []byte(c)) {
				t.Errorf("%s: message %q does not name the failing run-level check %s", s.Name, s.Message, c)
			}
		}
	}
	// CRM runs first: every other source is checked against it.
	if got := res.Sources[0].Name; got != SourceCRM {
		t.Errorf("first source run: %s, want %s", got, SourceCRM)
	}
	if names := slices.Sorted(maps.Keys(m.Sources)); len(names) != 6 {
		t.Errorf("sources %v", names)
	}

	// The map's churn model, trained on the data's own history and judged
	// on a later period, finds the planted drivers: it beats the map's own
	// rule (being in AtRisk) by a wide margin, and is calibrated.
	if len(res.Maps) != 1 || res.Maps[0].Prediction == nil || res.Maps[0].Prediction.HeldOut == nil {
		t.Fatalf("no churn model: %+v", res.Maps)
	}
	p := res.Maps[0].Prediction
	h := p.HeldOut
	auc, _ := strconv.ParseFloat(h.AUC, 64)
	base, _ := strconv.ParseFloat(h.BaselineAUC, 64)
	cal, _ := strconv.ParseFloat(h.CalibrationError, 64)
	t.Logf("churn model on the sample data: held-out AUC %s, the rule's %s, %d users, %d positives, lift %s, calibration error %s",
		h.AUC, h.BaselineAUC, h.Users, h.Positives, h.LiftTopDecile, h.CalibrationError)
	if auc < base+0.2 || auc < 0.8 || cal > 0.05 || h.Positives < 30 || p.Model != "logistic" || len(p.ByStage) == 0 {
		t.Errorf("churn model on the sample data: %+v", *p)
	}
}
