// Package ingest is `journey ingest`: one batch run of one source, from the
// configuration file the controller renders into the CronJob's ConfigMap.
// It prints the run summary as JSON and writes it to the termination
// message, where the controller reads it into status.lastRun.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/ingest"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// ErrRunFailed makes the process exit non-zero after a failed run, so the
// Job records it as failed too.
var ErrRunFailed = errors.New("the run failed")

// Run parses args and runs one ingest.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	config := fs.String("config", runconfig.Path(), "the source's run configuration (config.json)")
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN: sqlite:///path.db or postgres://...; default $"+runconfig.StoreDSNEnv)
	secrets := fs.String("secrets-dir", runconfig.SecretsDir, "where referenced Secrets are mounted")
	termLog := fs.String("termination-log", "/dev/termination-log", "file the summary is written to for the controller; skipped if absent")
	batch := fs.Int("batch-size", ingest.DefaultBatchSize, "records per committed batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sum, err := run(ctx, *config, *dsn, *secrets, *batch)
	if sum.Outcome == "" {
		// Failed before the run started (no configuration, no store): the
		// controller still gets a summary that says why.
		sum.Outcome, sum.Message = v1alpha1.RunFailed, err.Error()
	}
	out, merr := json.Marshal(sum)
	if merr != nil {
		return merr
	}
	fmt.Fprintln(stdout, string(out))
	if _, serr := os.Stat(*termLog); serr == nil {
		if werr := os.WriteFile(*termLog, TerminationMessage(sum), 0o644); werr != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", *termLog, werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "journey ingest:", err)
		return ErrRunFailed
	}
	return nil
}

// run reads the configuration, opens the store and runs the ingest.
func run(ctx context.Context, config, dsn, secrets string, batch int) (ingest.Summary, error) {
	raw, err := os.ReadFile(config)
	if err != nil {
		return ingest.Summary{}, fmt.Errorf("reading the run configuration: %w", err)
	}
	var cfg runconfig.Source
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return ingest.Summary{}, fmt.Errorf("%s: %w", config, err)
	}
	_, hash, err := runconfig.Encode(cfg)
	if err != nil {
		return ingest.Summary{}, err
	}
	if dsn == "" {
		return ingest.Summary{}, fmt.Errorf("no store: the %s environment variable (from the store Secret) is empty", runconfig.StoreDSNEnv)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return ingest.Summary{}, err
	}
	defer st.Close()
	env, err := expr.NewEnv()
	if err != nil {
		return ingest.Summary{}, err
	}
	return ingest.Run(ctx, cfg, hash, ingest.Options{
		Store: st, Expr: env, Secrets: local.MountedSecrets{Dir: secrets}, BatchSize: batch,
	})
}

// maxTerminationMessage is what the kubelet keeps of a termination message.
const maxTerminationMessage = 4096

// TerminationMessage is what the controller reads of a run: the summary
// and what the source holds for review, without the per-check counts, and
// without the pending records' break-down should it not fit.
func TerminationMessage(sum ingest.Summary) []byte {
	msg := runconfig.RunReport{RunSummary: sum.RunSummary, Quarantine: sum.Quarantine}
	out, _ := json.Marshal(msg)
	if len(out) > maxTerminationMessage && msg.Quarantine != nil {
		q := *msg.Quarantine
		q.ByCheck = nil
		msg.Quarantine = &q
		out, _ = json.Marshal(msg)
	}
	if len(out) > maxTerminationMessage {
		msg.Quarantine = nil
		out, _ = json.Marshal(msg)
	}
	return out
}
