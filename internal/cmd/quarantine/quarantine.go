// Package quarantine is `journey quarantine list|show`: what a store holds
// for review and why, so that nobody opens SQLite or psql to see it.
package quarantine

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cjm-dev/journey-operator/internal/cmd/cmdflag"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

const usage = `usage:
  journey quarantine list [--store DSN] [--source NS/NAME] [--check NAME] [--status Pending|Released|Discarded] [--run ID] [--from T] [--to T] [--limit N] [--output table|json]
  journey quarantine show [--store DSN] [--output text|json] ID`

// Run dispatches to list or show.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "list":
		return list(ctx, args[1:], stdout)
	case "show":
		return show(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage)
}

// Record is one quarantined record as the commands print it.
type Record struct {
	ID      int64           `json:"id"`
	Source  string          `json:"source"`
	RunID   string          `json:"runID"`
	EventID string          `json:"eventID,omitempty"`
	Checks  []string        `json:"checks"`
	Reason  string          `json:"reason"`
	HeldAt  time.Time       `json:"heldAt"`
	Status  string          `json:"status"`
	Amount  *float64        `json:"amount,omitempty"`
	Curr    string          `json:"currency,omitempty"`
	UserID  string          `json:"userID,omitempty"`
	Type    string          `json:"type,omitempty"`
	Raw     json.RawMessage `json:"raw,omitempty"`
	RawText string          `json:"rawText,omitempty"`
	Review  *Review         `json:"review,omitempty"`
}

// Review is the decision on a record.
type Review struct {
	ID       string    `json:"id"`
	Reviewer string    `json:"reviewer"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
	Entry    int64     `json:"ledgerEntry"`
}

func recordOf(q store.QuarantineRecord, withRaw bool) Record {
	r := Record{ID: q.ID, Source: q.Source, RunID: q.RunID, EventID: q.EventID, Checks: strings.Split(q.Check, ","),
		Reason: q.Reason, HeldAt: q.At, Status: q.Status}
	if e := q.Event; e != nil {
		r.Amount, r.Curr, r.UserID, r.Type = e.Amount, e.Currency, e.UserID, e.Type
	}
	if withRaw {
		if json.Valid(q.Raw) {
			r.Raw = q.Raw
		} else {
			r.RawText = string(q.Raw)
		}
	}
	if m := q.Review; m != nil {
		r.Review = &Review{ID: m.ID, Reviewer: m.Reviewer, At: m.At, Reason: m.Reason, Entry: m.Seq}
	}
	return r
}

func list(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("quarantine list", flag.ContinueOnError)
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	var f store.QuarantineFilter
	fs.StringVar(&f.Source, "source", "", "only this source, as namespace/name")
	fs.StringVar(&f.Check, "check", "", "only records this check held")
	fs.StringVar(&f.Status, "status", "", "only records of this status: Pending, Released or Discarded")
	run := fs.String("run", "", "only records this run held")
	from := fs.String("from", "", "only records held at or after this time (RFC 3339 or a date)")
	to := fs.String("to", "", "only records held before this time (RFC 3339 or a date)")
	fs.IntVar(&f.Limit, "limit", 100, "at most this many records (0: all)")
	output := fs.String("output", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case f.Status != "" && f.Status != store.QuarantinePending && f.Status != store.QuarantineReleased && f.Status != store.QuarantineDiscarded:
		return fmt.Errorf("--status %q: want Pending, Released or Discarded", f.Status)
	case f.Source != "" && !strings.Contains(f.Source, "/"):
		return fmt.Errorf("--source %q: name it as namespace/name, e.g. default/billing-stripe", f.Source)
	case *output != "table" && *output != "json":
		return fmt.Errorf("--output %q: want table or json", *output)
	case f.Limit < 0:
		return fmt.Errorf("--limit %d: want 0 (all) or more", f.Limit)
	}
	if *run != "" {
		f.RunIDs = []string{*run}
	}
	var err error
	if f.From, err = cmdflag.Time("--from", *from); err != nil {
		return err
	}
	if f.To, err = cmdflag.Time("--to", *to); err != nil {
		return err
	}
	st, err := cmdflag.Store(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	records, err := st.FindQuarantine(ctx, f)
	if err != nil {
		return err
	}
	out := make([]Record, len(records))
	for i, q := range records {
		out[i] = recordOf(q, *output == "json")
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "no quarantined records match")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tSTATUS\tHELD\tCHECKS\tEVENT\tAMOUNT\tREASON\t")
	for _, r := range out {
		amount := ""
		if r.Amount != nil {
			amount = strings.TrimSpace(strconv.FormatFloat(*r.Amount, 'f', -1, 64) + " " + r.Curr)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.ID, r.Source, r.Status, r.HeldAt.UTC().Format("2006-01-02 15:04Z"),
			strings.Join(r.Checks, ","), r.EventID, amount, truncate(r.Reason, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.Limit > 0 && len(out) == f.Limit {
		fmt.Fprintf(stdout, "(the first %d; --limit 0 lists all)\n", f.Limit)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func show(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("quarantine show", flag.ContinueOnError)
	dsn := fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv)
	output := fs.String("output", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("name one record by its ID (journey quarantine list shows them)\n" + usage)
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("record ID %q: want a positive number, as journey quarantine list shows", fs.Arg(0))
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("--output %q: want text or json", *output)
	}
	st, err := cmdflag.Store(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	records, err := st.FindQuarantine(ctx, store.QuarantineFilter{AfterID: id - 1, Limit: 1})
	if err != nil {
		return err
	}
	if len(records) == 0 || records[0].ID != id {
		return fmt.Errorf("no quarantined record %d", id)
	}
	r := recordOf(records[0], true)
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "Record %d of %s, held by run %s at %s\n", r.ID, r.Source, r.RunID, r.HeldAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "Status:  %s\n", r.Status)
	fmt.Fprintf(stdout, "Checks:  %s\n", strings.Join(r.Checks, ", "))
	fmt.Fprintf(stdout, "Reason:  %s\n", r.Reason)
	if r.EventID != "" {
		fmt.Fprintf(stdout, "Event:   %s (user %s, %s)", r.EventID, r.UserID, r.Type)
		if r.Amount != nil {
			fmt.Fprintf(stdout, ", amount %s %s", strconv.FormatFloat(*r.Amount, 'f', -1, 64), r.Curr)
		}
		fmt.Fprintln(stdout)
	} else {
		fmt.Fprintln(stdout, "Event:   none: the record never became one, so it cannot be released, only discarded or corrected at its source")
	}
	if m := r.Review; m != nil {
		fmt.Fprintf(stdout, "Review:  %s by %s at %s (ledger entry %d): %s\n", m.ID, m.Reviewer, m.At.UTC().Format(time.RFC3339), m.Entry, m.Reason)
	}
	fmt.Fprintln(stdout, "Raw record:")
	if r.Raw != nil {
		var pretty strings.Builder
		var v any
		if json.Unmarshal(r.Raw, &v) == nil {
			b, _ := json.MarshalIndent(v, "  ", "  ")
			pretty.Write(b)
		}
		fmt.Fprintf(stdout, "  %s\n", pretty.String())
	} else {
		fmt.Fprintf(stdout, "  %q\n", r.RawText)
	}
	return nil
}
