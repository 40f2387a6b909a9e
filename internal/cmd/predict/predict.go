// Package predict is `journey predict -f DIR`: trains a JourneyMap's churn
// model on a store's history and writes one row per user who has not
// reached the map's last stage: user_id, risk, stage, top_factors.
package predict

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/local"
	predictor "github.com/cjm-dev/journey-operator/internal/predict"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// Row is one user's line of the output.
type Row struct {
	UserID     string   `json:"user_id"`
	Risk       float64  `json:"risk"`
	Stage      string   `json:"stage"`
	TopFactors []Factor `json:"top_factors"`
}

// Factor is a feature pushing the user's risk up.
type Factor struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
	Push    float64 `json:"push"`
}

// Run parses args and writes the predictions.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	dir := fs.String("f", "", "folder of journey manifests (required): the JourneyMap and its sources")
	dsn := fs.String("store", "", "store DSN; default: sqlite:///<working folder>/journey.db, as journey run writes")
	mapName := fs.String("map", "", "the JourneyMap, as name or namespace/name; needed when the folder has several")
	asOf := fs.String("as-of", "", "predict as of this RFC 3339 time (default: now); the model trains on the two horizons before it")
	output := fs.String("output", "csv", "csv or json")
	top := fs.Int("top", 3, "factors per user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return errors.New("-f DIR is required: the folder with the JourneyMap and its sources")
	case *output != "csv" && *output != "json":
		return fmt.Errorf("--output %q: want csv or json", *output)
	case *top < 0:
		return fmt.Errorf("--top %d: want 0 or more", *top)
	}
	at := time.Now()
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			return fmt.Errorf("--as-of %q: want an RFC 3339 time such as 2026-10-31T00:00:00Z", *asOf)
		}
		at = t
	}
	folder, err := local.Load(*dir)
	if err != nil {
		return err
	}
	m, err := folder.Map(*mapName)
	if err != nil {
		return err
	}
	sources, err := folder.MapSources(m)
	if err != nil {
		return err
	}
	var ids, touchpoints []string
	for _, s := range sources {
		ids = append(ids, s.Namespace+"/"+s.Name)
		touchpoints = append(touchpoints, s.Spec.Touchpoint)
	}
	spec, ok := predictor.MapSpec(m.Spec, touchpoints, at)
	if !ok {
		return fmt.Errorf("JourneyMap %s/%s has no spec.prediction: add one (e.g. prediction: {horizon: 720h}) to predict churn", m.Namespace, m.Name)
	}
	if *dsn == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		*dsn = "sqlite://" + filepath.Join(wd, "journey.db")
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	env, err := expr.NewEnv()
	if err != nil {
		return err
	}
	eng, err := journey.NewEngine(env, m.Spec)
	if err != nil {
		return err
	}
	upTo, err := st.LatestSeq(ctx, ids)
	if err != nil {
		return err
	}
	users, err := eng.EvaluateStore(ctx, st, ids, upTo)
	if err != nil {
		return err
	}
	h := predictor.StoreHistory{Store: st, Sources: ids, Users: users, Stages: spec.Stages}

	var rows []Row
	rep, err := predictor.Run(ctx, h, spec, *top, time.Now(), func(u predictor.UserRisk) error {
		r := Row{UserID: u.User, Risk: u.Risk, Stage: u.Stage, TopFactors: []Factor{}}
		for _, f := range u.Factors {
			r.TopFactors = append(r.TopFactors, Factor{Feature: f.Feature, Value: f.Value, Push: f.Push})
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return err
	}
	h0 := rep.HeldOut
	fmt.Fprintf(os.Stderr, "journey predict: %s/%s, %d users scored; held-out AUC %s (the map's rule %s) on %d users, %d churned\n",
		m.Namespace, m.Name, rep.Scored, predictor.Figure(h0.AUC), predictor.Figure(h0.BaselineAUC), h0.Users, h0.Positives)
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	w := csv.NewWriter(stdout)
	if err := w.Write([]string{"user_id", "risk", "stage", "top_factors"}); err != nil {
		return err
	}
	for _, r := range rows {
		var fs []string
		for _, f := range r.TopFactors {
			fs = append(fs, fmt.Sprintf("%s=%s", f.Feature, strconv.FormatFloat(f.Value, 'g', 4, 64)))
		}
		if err := w.Write([]string{r.UserID, strconv.FormatFloat(r.Risk, 'f', 4, 64), r.Stage, strings.Join(fs, "; ")}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
