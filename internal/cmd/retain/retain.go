// Package retain is `journey retain`: retire, by a retention policy, the
// events that occurred before a month, with a ledger entry naming who and
// why (store.Retire). In a cluster it runs as the manager's retention
// CronJob; locally, against any store.
package retain

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/cmd/cmdflag"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// ActorEnv names who runs the retention, when --actor does not: the
// CronJob sets it to its service account.
const ActorEnv = "JOURNEY_ACTOR"

// Run parses args and retires once.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("retain", flag.ContinueOnError)
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	olderThan := fs.String("older-than", "", "retire the months wholly older than this: a number of days (400d) or a Go duration")
	before := fs.String("before", "", "retire the events that occurred before this month (2025-03, or a time in it)")
	actor := fs.String("actor", os.Getenv(ActorEnv), "who retires (recorded in the ledger); default $"+ActorEnv)
	reason := fs.String("reason", "", "why (recorded in the ledger); default: the policy, \"retention 400d\"")
	output := fs.String("output", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("--output %q: want text or json", *output)
	}
	if (*olderThan == "") == (*before == "") {
		return errors.New("retain: give one of --older-than (a policy: 400d) or --before (a month: 2025-03)")
	}
	if *actor == "" {
		return fmt.Errorf("retain: --actor (or $%s) is required: the ledger records who retired the events", ActorEnv)
	}
	now := time.Now()
	var cut time.Time
	if *olderThan != "" {
		age, err := ParseAge(*olderThan)
		if err != nil {
			return fmt.Errorf("retain: --older-than: %w", err)
		}
		cut = now.Add(-age)
		if *reason == "" {
			*reason = "retention " + *olderThan
		}
	} else {
		var err error
		if cut, err = parseMonth(*before); err != nil {
			return fmt.Errorf("retain: --before: %w", err)
		}
	}
	if *reason == "" {
		return errors.New("retain: --reason is required with --before: the ledger records why the events were retired")
	}
	st, err := cmdflag.Store(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Retire(ctx, store.RetireRequest{Before: cut, Actor: *actor, Reason: *reason})
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if res.Entry == nil {
		fmt.Fprintf(stdout, "nothing to retire: the store's events before %s were retired already\n", res.Horizon.Format("2006-01-02"))
		return nil
	}
	var total int64
	var per []string
	for _, src := range sortedKeys(res.Events) {
		total += res.Events[src]
		per = append(per, fmt.Sprintf("%s %d", src, res.Events[src]))
	}
	fmt.Fprintf(stdout, "retired %d events that occurred before %s (%s); ledger entry %d (%s) records it",
		total, res.Horizon.Format("2006-01-02"), strings.Join(per, ", "), res.Entry.Seq, res.Entry.Hash)
	if res.Covered > 0 {
		fmt.Fprintf(stdout, " and keeps the hashes of the %d a ledger entry covered", res.Covered)
	}
	fmt.Fprintln(stdout)
	if len(res.Partitions) > 0 {
		fmt.Fprintf(stdout, "dropped partitions: %s\n", strings.Join(res.Partitions, ", "))
	}
	return nil
}

// ParseAge reads a retention: a number of days ("400d") or a Go duration.
func ParseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q: want a number of days (400d) or a Go duration", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a number of days (400d) or a Go duration", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: want more than nothing", s)
	}
	return d, nil
}

func parseMonth(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01", s); err == nil {
		return t, nil
	}
	return cmdflag.Time("--before", s)
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
