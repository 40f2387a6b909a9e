// Command journey is the one binary of journey-operator: the operator
// (`journey manager`) and its data plane. See internal/cli.
package main

import (
	"os"

	"github.com/cjm-dev/journey-operator/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
