// Command journey is the one binary of journey-operator: the operator
// (`journey manager`) and its data plane. See internal/cli.
package main

import (
	"os"
	// The time zones CronJobs are checked against travel with the binary:
	// an image without /usr/share/zoneinfo must not make every
	// spec.batch.timeZone unknown (the end-to-end test's image has none).
	_ "time/tzdata"

	"github.com/cjm-dev/journey-operator/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
