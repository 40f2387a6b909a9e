// Package run is `journey run -f DIR`: the local executor. It reads the
// TouchpointSources, ValidationRules, JourneyMaps and Secrets under DIR, runs
// each batch source once on the embedded store (or any store DSN), ordered
// so that a relationship check's touchpoint is ingested before the sources
// checked against it, then evaluates each JourneyMap, and prints a summary
// per source and the funnel and alerts per map.
package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/dashboard"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/predict"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// SourceResult is one source's line of `--output json`.
type SourceResult struct {
	Name        string                       `json:"name"`
	Namespace   string                       `json:"namespace"`
	Outcome     string                       `json:"outcome"`
	Message     string                       `json:"message,omitempty"`
	Read        int64                        `json:"read"`
	Accepted    int64                        `json:"accepted"`
	Duplicates  int64                        `json:"duplicates"`
	Quarantined int64                        `json:"quarantined"`
	Rejected    int64                        `json:"rejected"`
	Warnings    int64                        `json:"warnings"`
	Checks      map[string]ingest.CheckCount `json:"checks"`
	// Pending records wait for review after the run, the oldest held at
	// OldestPending.
	Pending       int64      `json:"pending"`
	OldestPending *time.Time `json:"oldestPending,omitempty"`
	finished      time.Time
}

// Output is the whole of `--output json`.
type Output struct {
	Sources []SourceResult `json:"sources"`
	Maps    []MapResult    `json:"maps"`
}

// MapResult is one JourneyMap's line of `--output json`.
type MapResult struct {
	Name        string           `json:"name"`
	Namespace   string           `json:"namespace"`
	Users       int64            `json:"users"`
	Stages      []StageResult    `json:"stages"`
	Conversions []ConversionRate `json:"conversions"`
	Alerts      []AlertResult    `json:"alerts"`
	// Prediction is the churn model's training (spec.prediction).
	Prediction *v1alpha1.PredictionStatus `json:"prediction,omitempty"`
	// Page is the journey map page written, if any.
	Page       string            `json:"page,omitempty"`
	Snapshot   *journey.Snapshot `json:"-"`
	prediction *predict.Report
}

// StageResult counts the users in a stage.
type StageResult struct {
	Name  string `json:"name"`
	Users int64  `json:"users"`
}

// ConversionRate is the conversion between consecutive stages.
type ConversionRate struct {
	From string  `json:"from"`
	To   string  `json:"to"`
	Rate float64 `json:"rate"`
}

// AlertResult counts what an alert fires for: users (User scope), or 0 or
// 1 (Journey scope).
type AlertResult struct {
	Name    string `json:"name"`
	Firing  int64  `json:"firing"`
	Pending int64  `json:"pending"`
}

// Run parses args and runs every batch source of the folder once.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	dir := fs.String("f", "", "folder of journey manifests (required)")
	dsn := fs.String("store", "", "store DSN; default: sqlite:///<working folder>/journey.db")
	output := fs.String("output", "text", "text or json")
	asOf := fs.String("as-of", "", "judge freshness as of this RFC 3339 time instead of now (to replay a dataset)")
	htmlDir := fs.String("html", ".", "folder to write each JourneyMap's page to (<namespace>-<name>.html); empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-f DIR is required: the folder of TouchpointSource and ValidationRule manifests")
	}
	judgeAt := time.Now
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			return fmt.Errorf("--as-of %q: want an RFC 3339 time such as 2026-10-31T00:00:00Z", *asOf)
		}
		judgeAt = func() time.Time { return t }
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", *output)
	}
	if *dsn == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		*dsn = "sqlite://" + filepath.Join(wd, "journey.db")
	}
	folder, err := local.Load(*dir)
	if err != nil {
		return err
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
	progress := term.IsTerminal(int(os.Stderr.Fd()))

	var out Output
	for _, src := range Order(folder) {
		cfg := render.SourceConfig(&src.TouchpointSource, runconfig.MatchingRules(&src.TouchpointSource, folder.Rules))
		_, hash, err := runconfig.Encode(cfg)
		if err != nil {
			return err
		}
		opts := ingest.Options{Store: st, Expr: env, BaseDir: src.Dir, AsOf: judgeAt, Secrets: local.Secrets{Folder: folder, Namespace: src.Namespace}}
		if progress {
			name := src.Name
			opts.Progress = func(read int64) { fmt.Fprintf(os.Stderr, "\r%s: %d records read", name, read) }
		}
		sum, runErr := ingest.Run(ctx, cfg, hash, opts)
		if progress {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		res := SourceResult{Name: src.Name, Namespace: src.Namespace, Outcome: string(sum.Outcome), Message: sum.Message,
			Read: sum.Read, Accepted: sum.Accepted, Duplicates: sum.Duplicates, Quarantined: sum.Quarantined,
			Rejected: sum.Rejected, Warnings: sum.Warnings, Checks: sum.Checks}
		if sum.CompletionTime != nil {
			res.finished = sum.CompletionTime.Time
		}
		if res.Checks == nil {
			res.Checks = map[string]ingest.CheckCount{}
		}
		if runErr != nil && res.Message == "" {
			res.Message = runErr.Error()
		}
		out.Sources = append(out.Sources, res)
	}
	pending, err := st.Pending(ctx, nil)
	if err != nil {
		return err
	}
	for i := range out.Sources {
		s := &out.Sources[i]
		if p, ok := pending[s.Namespace+"/"+s.Name]; ok {
			oldest := p.Oldest
			s.Pending, s.OldestPending = p.Pending, &oldest
		}
	}
	for _, m := range folder.Maps {
		res, err := evaluateMap(ctx, st, env, folder, m, judgeAt())
		if err != nil {
			return fmt.Errorf("JourneyMap %s/%s: %w", m.Namespace, m.Name, err)
		}
		res.Snapshot.Sources = sourceStates(folder, m, out.Sources)
		if *htmlDir != "" {
			if res.Page, err = writePage(*htmlDir, *res.Snapshot); err != nil {
				return err
			}
		}
		out.Maps = append(out.Maps, res)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printText(stdout, out)
	return nil
}

// evaluateMap evaluates a JourneyMap and summarises it for the output.
func evaluateMap(ctx context.Context, st store.Store, env *expr.Env, f *local.Folder, m v1alpha1.JourneyMap, asOf time.Time) (MapResult, error) {
	ev, err := EvaluateMap(ctx, st, env, f, m, asOf)
	if err != nil {
		return MapResult{}, err
	}
	snap := &ev.Snapshot
	res := MapResult{Name: m.Name, Namespace: m.Namespace, Users: snap.Users, Snapshot: snap,
		Stages: []StageResult{}, Conversions: []ConversionRate{}, Alerts: []AlertResult{}}
	for _, s := range snap.Stages {
		res.Stages = append(res.Stages, StageResult{s.Name, s.Users})
	}
	for _, c := range snap.Funnel {
		res.Conversions = append(res.Conversions, ConversionRate{c.From, c.To, c.Rate})
	}
	res.Prediction, res.prediction = predict.StatusOf(snap.Prediction), ev.Report
	for _, a := range snap.Alerts {
		res.Alerts = append(res.Alerts, AlertResult{a.Name, a.Firing, a.Pending})
	}
	return res, nil
}

// Evaluation is a JourneyMap evaluated once over its sources' events.
type Evaluation struct {
	Engine   *journey.Engine
	Users    *journey.Users
	Snapshot journey.Snapshot
	// Report is the churn model's training (nil without spec.prediction or
	// enough history), Risks its score of every user it scored.
	Report *predict.Report
	Risks  map[string]float64
	// Factors are each scored user's top factors, when asked for.
	Factors map[string][]predict.Factor
	// Sources are the map's sources.
	Sources []local.Source
}

// EvaluateMap evaluates a JourneyMap over its sources' events, trains its
// churn model, and replays the last alert `for` at the evaluation interval
// (see journey.Engine.Replay).
func EvaluateMap(ctx context.Context, st store.Store, env *expr.Env, f *local.Folder, m v1alpha1.JourneyMap, asOf time.Time) (*Evaluation, error) {
	return evaluate(ctx, st, env, f, m, asOf, 0)
}

// EvaluateMapExplained is EvaluateMap keeping each scored user's top k
// factors.
func EvaluateMapExplained(ctx context.Context, st store.Store, env *expr.Env, f *local.Folder, m v1alpha1.JourneyMap, asOf time.Time, k int) (*Evaluation, error) {
	return evaluate(ctx, st, env, f, m, asOf, k)
}

func evaluate(ctx context.Context, st store.Store, env *expr.Env, f *local.Folder, m v1alpha1.JourneyMap, asOf time.Time, k int) (*Evaluation, error) {
	eng, err := journey.NewEngine(env, m.Spec)
	if err != nil {
		return nil, err
	}
	selected, err := f.MapSources(m)
	if err != nil {
		return nil, err
	}
	var sources, touchpoints []string
	for _, s := range selected {
		sources = append(sources, s.Namespace+"/"+s.Name)
		touchpoints = append(touchpoints, s.Spec.Touchpoint)
	}
	upTo, err := st.LatestSeq(ctx, sources)
	if err != nil {
		return nil, err
	}
	users, err := eng.EvaluateStore(ctx, st, sources, upTo)
	if err != nil {
		return nil, err
	}
	ev := &Evaluation{Engine: eng, Users: users, Sources: selected}
	var prediction *journey.Prediction
	if spec, ok := predict.MapSpec(m.Spec, touchpoints, asOf); ok {
		h := predict.StoreHistory{Store: st, Sources: sources, Users: users, Stages: spec.Stages}
		risks := map[string]float64{}
		var factors map[string][]predict.Factor
		if k > 0 {
			factors = map[string][]predict.Factor{}
		}
		rep, err := predict.Run(ctx, h, spec, k, time.Now(), func(u predict.UserRisk) error {
			risks[u.User] = u.Risk
			if factors != nil {
				factors[u.User] = u.Factors
			}
			return nil
		})
		switch {
		case err == nil:
			ev.Report, ev.Risks, ev.Factors, prediction = rep, risks, factors, rep.Summary()
			if eng.ReadsChurnRisk() {
				eng.SetRisks(risks)
			}
		case errors.Is(err, predict.ErrNotEnoughHistory):
			prediction = &journey.Prediction{Message: err.Error(), Horizon: spec.Horizon}
		default:
			return nil, fmt.Errorf("churn prediction: %w", err)
		}
	}
	ev.Snapshot = eng.Replay(m.Namespace, m.Name, users, asOf)
	ev.Snapshot.Feedback = eng.Feedback(users)
	ev.Snapshot.Prediction = prediction
	return ev, nil
}

// sourceStates describes the map's sources with the runs just made.
func sourceStates(f *local.Folder, m v1alpha1.JourneyMap, results []SourceResult) []journey.SourceState {
	sel, err := validate.Selector(&m.Spec.SourceSelector)
	if err != nil {
		return nil
	}
	byName := map[string]SourceResult{}
	for _, r := range results {
		byName[r.Namespace+"/"+r.Name] = r
	}
	var out []journey.SourceState
	for _, s := range f.Sources {
		if s.Namespace != m.Namespace || !sel.Matches(labels.Set(s.Labels)) {
			continue
		}
		st := journey.SourceState{Name: s.Name, Touchpoint: s.Spec.Touchpoint, System: s.Spec.System, Financial: s.Spec.Financial}
		if r, ok := byName[s.Namespace+"/"+s.Name]; ok {
			ex := map[string]int64{}
			for c, n := range r.Checks {
				ex[c] = n.Failed
			}
			st.LastRun = &journey.RunState{Outcome: r.Outcome, Message: r.Message, FinishedAt: r.finished,
				Read: r.Read, Accepted: r.Accepted, Duplicates: r.Duplicates, Quarantined: r.Quarantined, Rejected: r.Rejected, Exceptions: ex}
			if r.OldestPending != nil {
				st.Pending, st.OldestPending = r.Pending, *r.OldestPending
			}
		}
		out = append(out, st)
	}
	return out
}

// writePage writes a map's page as one self-contained HTML file.
func writePage(dir string, s journey.Snapshot) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, s.Namespace+"-"+s.Name+".html")
	var buf bytes.Buffer
	if err := dashboard.Render(&buf, s); err != nil {
		return "", fmt.Errorf("rendering the journey map page: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func printText(w io.Writer, out Output) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SOURCE\tREAD\tACCEPTED\tDUPLICATES\tQUARANTINED\tREJECTED\tWARNINGS\tOUTCOME\t")
	for _, s := range out.Sources {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", s.Name, s.Read, s.Accepted, s.Duplicates, s.Quarantined, s.Rejected, s.Warnings, s.Outcome)
	}
	tw.Flush()
	for _, s := range out.Sources {
		if s.Message != "" && s.Outcome != "Succeeded" {
			fmt.Fprintf(w, "  %s: %s\n", s.Name, s.Message)
		}
		for _, c := range ingest.SortedChecks(s.Checks) {
			n := s.Checks[c].Failed
			fmt.Fprintf(w, "  %s: check %s failed %d %s\n", s.Name, c, n, plural(n, "time", "times"))
		}
	}
	var waiting []SourceResult
	for _, s := range out.Sources {
		if s.Pending > 0 {
			waiting = append(waiting, s)
		}
	}
	if len(waiting) > 0 {
		fmt.Fprintln(w, "\nPending review (journey quarantine list shows them; journey review releases or discards them):")
		for _, s := range waiting {
			fmt.Fprintf(w, "  %s: %d %s, the oldest held %s (waiting %s)\n", s.Name, s.Pending, plural(s.Pending, "record", "records"),
				s.OldestPending.UTC().Format(time.RFC3339), time.Since(*s.OldestPending).Round(time.Minute))
		}
	}
	for _, m := range out.Maps {
		fmt.Fprintf(w, "\nJourneyMap %s/%s: %d users\n", m.Namespace, m.Name, m.Users)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  STAGE\tUSERS\tCONVERTED TO NEXT\tENTERED\tCONVERTED\tDROP-OFF\tMEDIAN TIME\t")
		for i, st := range m.Snapshot.Stages {
			if i < len(m.Snapshot.Funnel) {
				f := m.Snapshot.Funnel[i]
				fmt.Fprintf(tw, "  %s\t%d\t%.0f%% to %s\t%d\t%d\t%d\t%s\t\n", st.Name, st.Users, 100*f.Rate, f.To, f.Entered, f.Converted, f.DropOff, f.MedianTimeToConvert.Round(time.Hour))
			} else {
				fmt.Fprintf(tw, "  %s\t%d\t\t\t\t\t\t\n", st.Name, st.Users)
			}
		}
		tw.Flush()
		printPrediction(w, m)
		for _, a := range m.Snapshot.Alerts {
			state := "ok"
			switch {
			case a.Firing > 0:
				state = fmt.Sprintf("FIRING for %d", a.Firing)
			case a.Pending > 0:
				state = fmt.Sprintf("pending for %d", a.Pending)
			}
			what := ""
			if a.Scope == string(v1alpha1.AlertScopeUser) && a.Firing > 0 {
				what = " users"
			}
			fmt.Fprintf(w, "  alert %s (%s, %s): %s%s\n", a.Name, a.Scope, a.Severity, state, what)
		}
		for _, f := range m.Snapshot.Feedback {
			fmt.Fprintf(w, "  survey %s (on entering %s): %d users entered, %d responded (%.0f%%)\n",
				f.Name, f.OnEnter, f.Sent, f.Responses, 100*f.ResponseRate)
		}
		if m.Page != "" {
			fmt.Fprintf(w, "  journey map page: %s\n", m.Page)
		}
	}
}

// Order returns the folder's batch sources so that every source of a
// touchpoint that a relationship check refers to runs before the sources
// checked against it; otherwise by namespace and name. Cycles fall back to
// name order.
func Order(f *local.Folder) []local.Source {
	var batch []local.Source
	for _, s := range f.Sources {
		if s.Spec.Batch != nil {
			batch = append(batch, s)
		}
	}
	sort.Slice(batch, func(i, j int) bool {
		if batch[i].Namespace != batch[j].Namespace {
			return batch[i].Namespace < batch[j].Namespace
		}
		return batch[i].Name < batch[j].Name
	})
	needs := make([]map[string]bool, len(batch)) // touchpoints each source is checked against
	for i, s := range batch {
		needs[i] = map[string]bool{}
		for _, r := range runconfig.MatchingRules(&s.TouchpointSource, f.Rules) {
			for _, c := range r.Spec.Checks {
				if c.Relationship != nil && c.Relationship.Touchpoint != s.Spec.Touchpoint {
					needs[i][s.Namespace+"/"+c.Relationship.Touchpoint] = true
				}
			}
		}
	}
	done := make([]bool, len(batch))
	var out []local.Source
	for len(out) < len(batch) {
		progressed := false
		for i, s := range batch {
			if done[i] || !ready(i, batch, needs, done) {
				continue
			}
			done[i], progressed = true, true
			out = append(out, s)
		}
		if !progressed { // a cycle: take the first left
			for i, s := range batch {
				if !done[i] {
					done[i] = true
					out = append(out, s)
					break
				}
			}
		}
	}
	return out
}

// ready: no source still to run provides a touchpoint source i needs.
func ready(i int, batch []local.Source, needs []map[string]bool, done []bool) bool {
	for j, other := range batch {
		if j != i && !done[j] && needs[i][other.Namespace+"/"+other.Spec.Touchpoint] {
			return false
		}
	}
	return true
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
