// Package audit is `journey audit`: verify walks the audit ledger's hash
// chain, recomputes every entry from the rows it covers and checks anchors
// recorded outside the store; report writes the completeness-and-accuracy
// evidence of the runs, reviews and configuration changes.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/cmd/cmdflag"
	"github.com/cjm-dev/journey-operator/internal/evidence"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// ErrBroken makes the process exit 1 when the ledger does not verify.
var ErrBroken = errors.New("the audit ledger does not verify")

const usage = `usage:
  journey audit verify [--store DSN] [--anchor HASH]... [--kubeconfig FILE [--namespace NS]] [--output text|json]
  journey audit report [--store DSN] [--source NS/NAME] [--from T] [--to T] [--output table|csv|json|html]`

// Run dispatches to verify or report.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "verify":
		return verify(ctx, args[1:], stdout)
	case "report":
		return report(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage)
}

func verify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	var anchors cmdflag.List
	fs.Var(&anchors, "anchor", "an entry hash recorded outside the store (a source's status.lastRun.ledgerHash, an Event); repeatable")
	kubeconfig := fs.String("kubeconfig", "", "also check every ledger hash the cluster's TouchpointSources and QuarantineReviews recorded")
	namespace := fs.String("namespace", "", "with --kubeconfig: only this namespace's objects")
	output := fs.String("output", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("--output %q: want text or json", *output)
	}
	if *kubeconfig != "" {
		found, err := ClusterAnchors(ctx, *kubeconfig, *namespace)
		if err != nil {
			return err
		}
		for _, a := range found {
			anchors = append(anchors, a.Hash)
		}
		if len(found) == 0 {
			fmt.Fprintln(os.Stderr, "journey audit verify: the cluster recorded no ledger hash to check against")
		}
	}
	st, err := cmdflag.Store(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.Verify(ctx, store.VerifyOptions{Anchors: anchors})
	var broken *store.BrokenLinkError
	if err != nil && !errors.As(err, &broken) {
		return err
	}
	if *output == "json" {
		out := struct {
			Verifies bool `json:"verifies"`
			store.VerifyReport
		}{err == nil, rep}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if eerr := enc.Encode(out); eerr != nil {
			return eerr
		}
	} else {
		printVerify(stdout, rep, err)
	}
	if err != nil {
		return ErrBroken
	}
	return nil
}

func printVerify(w io.Writer, rep store.VerifyReport, err error) {
	if err != nil {
		fmt.Fprintf(w, "BROKEN: %s\n", err)
		for _, p := range rep.Problems[1:] {
			fmt.Fprintf(w, "  also: %s\n", p.Error())
		}
		return
	}
	fmt.Fprintf(w, "the audit ledger verifies: %d entries, each hash chained to the one before", rep.Entries)
	if rep.Legacy > 0 {
		fmt.Fprintf(w, " (%d from before entries covered data, checked by their chain alone)", rep.Legacy)
	}
	fmt.Fprintf(w, "; %d rows of %d financial source(s) match their entries' digests", rep.Rows, len(rep.Sources))
	if rep.Retired > 0 {
		fmt.Fprintf(w, " (%d of them retired by policy in %d retirement(s): verified from the hashes the ledger keeps of them)", rep.Retired, rep.Retirements)
	}
	if rep.Anchors > 0 {
		fmt.Fprintf(w, "; %d anchor(s) recorded outside the store are in the chain", rep.Anchors)
	}
	fmt.Fprintln(w)
	for _, src := range sortedKeys(rep.Unadopted) {
		fmt.Fprintf(w, "  %s: %d rows written before entries covered data; its next run takes them into the ledger\n", src, rep.Unadopted[src])
	}
	fmt.Fprintf(w, "head: %s\n", rep.Head)
}

func report(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit report", flag.ContinueOnError)
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	source := fs.String("source", "", "only this source, as namespace/name")
	from := fs.String("from", "", "only entries at or after this time (RFC 3339 or 2006-01-02)")
	to := fs.String("to", "", "only entries before this time (RFC 3339 or 2006-01-02)")
	output := fs.String("output", "table", "table, csv, json or html")
	var anchors cmdflag.List
	fs.Var(&anchors, "anchor", "an entry hash recorded outside the store, checked by the report's verification; repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := evidence.Options{Source: *source, Anchors: anchors}
	var err error
	if o.From, err = cmdflag.Time("--from", *from); err != nil {
		return err
	}
	if o.To, err = cmdflag.Time("--to", *to); err != nil {
		return err
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return fmt.Errorf("--from %s is not before --to %s", *from, *to)
	}
	if *source != "" && !strings.Contains(*source, "/") {
		return fmt.Errorf("--source %q: name it as namespace/name, e.g. default/billing-stripe", *source)
	}
	if !contains(evidence.Formats, *output) {
		return fmt.Errorf("--output %q: want one of %s", *output, strings.Join(evidence.Formats, ", "))
	}
	st, err := cmdflag.Store(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := evidence.Build(ctx, st, o)
	if err != nil {
		return err
	}
	return evidence.Write(stdout, rep, *output)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
