// Command journey is the one binary of journey-operator: the operator itself
// (`journey manager`) and, in later releases, the data plane it schedules.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
)

// commands maps each subcommand to what runs it and a one-line summary.
var commands = []struct {
	name, summary string
	run           func(args []string) error
}{
	{"manager", "run the operator: reconcile TouchpointSources, ValidationRules and JourneyMaps", func(args []string) error {
		return manager.Run(ctrl.SetupSignalHandler(), args)
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

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(args)
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "journey %s: %v\n", name, err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "journey: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}
