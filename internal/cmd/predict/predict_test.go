package predict_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/cmd/predict"
	"github.com/cjm-dev/journey-operator/internal/cmd/run"
	"github.com/cjm-dev/journey-operator/internal/sampledata"
)

// `journey predict` on the sample data, after `journey run` loaded it: one
// row per user who has not churned, with risk, stage and top factors; the
// users in Trial (most of whom cancel at the trial's end) are the riskiest.
func TestPredictOnTheSampleData(t *testing.T) {
	dir := t.TempDir()
	m, err := sampledata.Generate(context.Background(), dir, sampledata.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "journey.db")
	var out bytes.Buffer
	if err := run.Run(context.Background(), []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--html", ""}, &out); err != nil {
		t.Fatalf("journey run: %v", err)
	}
	var rows []predict.Row
	out.Reset()
	if err := predict.Run(context.Background(), []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--output", "json"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 1000 {
		t.Fatalf("%d users scored", len(rows))
	}
	mean := map[string][2]float64{}
	for _, r := range rows {
		if r.Risk <= 0 || r.Risk >= 1 || r.Stage == "Churned" || len(r.TopFactors) > 3 || r.UserID == "" {
			t.Fatalf("row %+v", r)
		}
		x := mean[r.Stage]
		mean[r.Stage] = [2]float64{x[0] + r.Risk, x[1] + 1}
	}
	trial, engaged := mean["Trial"][0]/mean["Trial"][1], mean["Engaged"][0]/mean["Engaged"][1]
	if trial < 3*engaged {
		t.Errorf("mean risk in Trial %.3f, in Engaged %.3f: trials ending unpaid should stand out", trial, engaged)
	}

	out.Reset()
	if err := predict.Run(context.Background(), []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--top", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(records[0], ",") != "user_id,risk,stage,top_factors" || len(records) != len(rows)+1 {
		t.Fatalf("csv header %v, %d rows", records[0], len(records))
	}
	if _, err := strconv.ParseFloat(records[1][1], 64); err != nil || strings.Count(records[1][3], "=") > 1 {
		t.Fatalf("csv row %v", records[1])
	}
}

// user.churnRisk in a User-scoped alert reads the model's scores: on the
// sample data, an alert on risk above one half fires for exactly the users
// `journey predict` scores above it.
func TestChurnRiskInAnAlert(t *testing.T) {
	dir := t.TempDir()
	m, err := sampledata.Generate(context.Background(), dir, sampledata.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "journeymap-streaming.yaml")
	spec, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	alert := "  alerts:\n  - name: LikelyToChurn\n    scope: User\n    expression: user.churnRisk > 0.5\n    severity: info\n"
	if err := os.WriteFile(path, []byte(strings.Replace(string(spec), "  alerts:\n", alert, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "journey.db")
	var out bytes.Buffer
	if err := run.Run(context.Background(), []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--html", "", "--output", "json"}, &out); err != nil {
		t.Fatalf("journey run: %v", err)
	}
	var res run.Output
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	firing := int64(-1)
	for _, a := range res.Maps[0].Alerts {
		if a.Name == "LikelyToChurn" {
			firing = a.Firing
		}
	}
	out.Reset()
	if err := predict.Run(context.Background(), []string{"-f", dir, "--store", dsn, "--as-of", m.Config.AsOf, "--output", "json"}, &out); err != nil {
		t.Fatal(err)
	}
	var rows []predict.Row
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	above := int64(0)
	for _, r := range rows {
		if r.Risk > 0.5 {
			above++
		}
	}
	if above == 0 || firing != above {
		t.Fatalf("LikelyToChurn fires for %d users; %d are scored above 0.5", firing, above)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := sampledata.Generate(context.Background(), dir, sampledata.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-f DIR is required"},
		{[]string{"-f", dir, "--output", "xml"}, `--output "xml": want csv or json`},
		{[]string{"-f", dir, "--as-of", "yesterday"}, `--as-of "yesterday"`},
		{[]string{"-f", dir, "--map", "other"}, `no JourneyMap "other" in the folder (it holds default/streaming-journey)`},
		{[]string{"-f", dir, "--top", "-1"}, "--top -1"},
	} {
		err := predict.Run(context.Background(), c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
