// Package audit is `journey audit verify --store DSN`: it walks the audit
// ledger's hash chain and reports the first entry that does not verify
// (exit status 1), or how many entries the intact chain holds.
package audit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// ErrBroken makes the process exit 1 when the chain is broken.
var ErrBroken = errors.New("the audit ledger does not verify")

// Run parses args; the only subcommand is verify.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("usage: journey audit verify [--store DSN]")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dsn == "" {
		return fmt.Errorf("no store: pass --store or set %s", runconfig.StoreDSNEnv)
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.VerifyLedger(ctx)
	var broken *store.BrokenLinkError
	if errors.As(err, &broken) {
		fmt.Fprintf(stdout, "BROKEN: %s\n", broken.Error())
		return ErrBroken
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the audit ledger verifies: %d entries, each hash chained to the one before\n", n)
	return nil
}
