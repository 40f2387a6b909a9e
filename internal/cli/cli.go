// Package cli is the `journey` command line: one binary for the operator
// (`journey manager`) and the data plane it schedules (ingest, receive) or
// runs locally (run, lint). main.go only calls Main; tests call it too, to
// run the very command a pod runs.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	auditcmd "github.com/cjm-dev/journey-operator/internal/cmd/audit"
	consumecmd "github.com/cjm-dev/journey-operator/internal/cmd/consume"
	evaluatecmd "github.com/cjm-dev/journey-operator/internal/cmd/evaluate"
	ingestcmd "github.com/cjm-dev/journey-operator/internal/cmd/ingest"
	lintcmd "github.com/cjm-dev/journey-operator/internal/cmd/lint"
	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	predictcmd "github.com/cjm-dev/journey-operator/internal/cmd/predict"
	quarantinecmd "github.com/cjm-dev/journey-operator/internal/cmd/quarantine"
	receivecmd "github.com/cjm-dev/journey-operator/internal/cmd/receive"
	retaincmd "github.com/cjm-dev/journey-operator/internal/cmd/retain"
	reviewcmd "github.com/cjm-dev/journey-operator/internal/cmd/review"
	runcmd "github.com/cjm-dev/journey-operator/internal/cmd/run"
	sampledatacmd "github.com/cjm-dev/journey-operator/internal/cmd/sampledata"
	servecmd "github.com/cjm-dev/journey-operator/internal/cmd/serve"
)

// commands maps each subcommand to what runs it and a one-line summary.
var commands = []struct {
	name, summary string
	run           func(args []string) error
}{
	{"manager", "run the operator: reconcile TouchpointSources, ValidationRules and JourneyMaps", func(args []string) error {
		return manager.Run(ctrl.SetupSignalHandler(), args)
	}},
	{"audit", "verify the audit ledger against the data it covers, or report the evidence: journey audit verify|report", func(args []string) error {
		return auditcmd.Run(context.Background(), args, os.Stdout)
	}},
	{"predict", "churn risk per user from a JourneyMap's own history: journey predict -f DIR", func(args []string) error {
		return predictcmd.Run(ctrl.SetupSignalHandler(), args, os.Stdout)
	}},
	{"serve", "the interactive journey map and its drill-down API on a local store: journey serve -f DIR", func(args []string) error {
		return servecmd.Run(ctrl.SetupSignalHandler(), args, os.Stdout)
	}},
	{"quarantine", "what a store holds for review and why: journey quarantine list|show", func(args []string) error {
		return quarantinecmd.Run(context.Background(), args, os.Stdout)
	}},
	{"review", "release or discard quarantined records, with a ledger entry naming who and why", func(args []string) error {
		return reviewcmd.Run(ctrl.SetupSignalHandler(), args, os.Stdout)
	}},
	{"retain", "retire events older than a retention policy, with a ledger entry naming who and why: journey retain --older-than 400d", func(args []string) error {
		return retaincmd.Run(context.Background(), args, os.Stdout)
	}},
	{"evaluate", "evaluate one JourneyMap on an interval: status, /metrics, the journey map page", func(args []string) error {
		return evaluatecmd.Run(ctrl.SetupSignalHandler(), args)
	}},
	{"ingest", "one batch run of one source, from the configuration the controller renders", func(args []string) error {
		return ingestcmd.Run(ctrl.SetupSignalHandler(), args, os.Stdout)
	}},
	{"lint", "report every problem in a folder of journey manifests; exit 1 if any", func(args []string) error {
		return lintcmd.Run(context.Background(), args, os.Stdout)
	}},
	{"receive", "serve a webhook TouchpointSource: verify, validate, store", func(args []string) error {
		return receivecmd.Run(ctrl.SetupSignalHandler(), args)
	}},
	{"consume", "consume a stream (Kafka) TouchpointSource: map, validate, store exactly once", func(args []string) error {
		return consumecmd.Run(ctrl.SetupSignalHandler(), args)
	}},
	{"sample-data", "write a deterministic synthetic streaming service: data, specs and expected.json", func(args []string) error {
		return sampledatacmd.Run(ctrl.SetupSignalHandler(), args, os.Stdout)
	}},
	{"run", "run every batch source under a folder once, on the embedded store (no cluster)", func(args []string) error {
		return runcmd.Run(ctrl.SetupSignalHandler(), args, os.Stdout)
	}},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: journey <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'journey <command> -h' for the flags of a command.")
}

// Main runs the subcommand args[0] with the rest of args, and returns the
// process's exit status.
func Main(args []string) int {
	if len(args) < 1 {
		usage(os.Stderr)
		return 2
	}
	name, args := args[0], args[1:]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(args)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "journey %s: %v\n", name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "journey: unknown command %q\n\n", name)
	usage(os.Stderr)
	return 2
}
