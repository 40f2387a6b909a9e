package evidence

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats a report is written in.
var Formats = []string{"table", "csv", "json", "html"}

// Write writes rep in format.
func Write(w io.Writer, rep *Report, format string) error {
	switch format {
	case "table", "":
		return writeTable(w, rep)
	case "csv":
		return writeCSV(w, rep)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "html":
		return pageTemplate.Execute(w, rep)
	}
	return fmt.Errorf("output %q: want one of %s", format, strings.Join(Formats, ", "))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func editors(es []Editor) string {
	var parts []string
	for _, e := range es {
		s := fmt.Sprintf("%s %s: %s", e.Kind, e.Name, e.By)
		if e.Via != "" {
			s += " via " + e.Via
		}
		if e.At != "" {
			s += " at " + e.At
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func writeTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "Completeness and accuracy of the information the system produced (generated %s)\n", stamp(rep.GeneratedAt))
	if rep.Ledger.Verifies {
		fmt.Fprintf(w, "Ledger: verifies: %d entries, %d rows checked against their digests, %d anchors found; head %s\n",
			rep.Ledger.Entries, rep.Ledger.Rows, rep.Ledger.Anchors, rep.Ledger.Head)
	} else {
		fmt.Fprintf(w, "Ledger: DOES NOT VERIFY: %s\n", rep.Ledger.Problem)
	}
	fmt.Fprintf(w, "\nRuns (read = accepted + duplicates + quarantined + rejected, in records and amounts)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tRUN\tFINISHED\tOUTCOME\tREAD\tACCEPTED\tDUPL.\tQUAR.\tREJ.\tAMOUNT READ\tLOADED\tDUPL.\tQUAR.\tREJ.\tBALANCED\t")
	for _, r := range rep.Runs {
		outcome := r.Outcome
		if r.Incomplete {
			outcome = "INCOMPLETE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Source, r.RunID, stamp(r.Finished), outcome,
			r.Read, r.Accepted, r.Duplicates, r.Quarantined, r.Rejected, r.AmountRead, r.AmountLoaded, r.AmountDuplicates,
			r.AmountQuarantined, r.AmountRejected, yesNo(r.Balanced))
	}
	t := rep.Totals
	fmt.Fprintf(tw, "TOTAL\t\t\t\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", t.Read, t.Accepted, t.Duplicates, t.Quarantined, t.Rejected,
		t.AmountRead, t.AmountLoaded, t.AmountDuplicates, t.AmountQuarantined, t.AmountRejected, yesNo(t.Balanced))
	tw.Flush()

	fmt.Fprintf(w, "\nPer day\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tRUNS\tREAD\tACCEPTED\tDUPL.\tQUAR.\tREJ.\tAMOUNT READ\tLOADED\tBALANCED\t")
	for _, d := range rep.Days {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", d.Date, d.Runs, d.Read, d.Accepted, d.Duplicates, d.Quarantined,
			d.Rejected, d.AmountRead, d.AmountLoaded, yesNo(d.Balanced))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nReviews\n")
	if len(rep.Reviews) == 0 {
		fmt.Fprintln(w, "  none")
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(rep.Reviews) > 0 {
		fmt.Fprintln(tw, "SOURCE\tWHEN\tREVIEWER\tDECISION\tMATCHED\tRELEASED\tDISCARDED\tAMOUNT\tWAITED (OLDEST/MEAN)\tREASON\t")
	}
	for _, r := range rep.Reviews {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s / %s\t%s\t\n", r.Source, stamp(r.At), r.Reviewer, r.Decision, r.Matched,
			r.Released, r.Discarded, r.Amount, r.TimeToResolve, r.MeanTimeToResolve, r.Reason)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nRetired by policy\n")
	if len(rep.Retirements) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, r := range rep.Retirements {
		fmt.Fprintf(w, "  %s: %s retired %d events that occurred before %s (%d covered by ledger entries, which the ledger still verifies); reason: %s\n",
			stamp(r.At), r.Actor, r.Events, stamp(r.Horizon), r.Covered, r.Reason)
	}

	fmt.Fprintf(w, "\nConfiguration used by runs (who last changed it)\n")
	for _, c := range rep.Changes {
		who := editors(c.Editors)
		if who == "" {
			who = "no editor recorded"
		}
		fmt.Fprintf(w, "  %s %s: first run %s at %s, %d run(s); %s\n", c.Source, short(c.ConfigHash), c.FirstRun, stamp(c.FirstUsed), c.Runs, who)
	}
	fmt.Fprintf(w, "\nPending review now\n")
	if len(rep.Pending) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, p := range rep.Pending {
		var checks []string
		for _, c := range p.ByCheck {
			checks = append(checks, fmt.Sprintf("%s %d", c.Check, c.Pending))
		}
		fmt.Fprintf(w, "  %s: %d pending, oldest %s old (%s)\n", p.Source, p.Pending, p.Age, strings.Join(checks, ", "))
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "\nPROBLEM: %s", p)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintln(w)
	}
	return nil
}

func short(hash string) string {
	if len(hash) > 19 {
		return hash[:19]
	}
	return hash
}

// writeCSV writes one block per section, each with its own header row and
// a first column naming the section; blocks are separated by an empty row.
func writeCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	i := strconv.FormatInt
	rows := [][]string{{"section", "source", "run", "started", "finished", "outcome", "read", "accepted", "duplicates", "quarantined",
		"rejected", "amount_read", "amount_loaded", "amount_duplicates", "amount_quarantined", "amount_rejected", "balanced", "config_hash", "editors"}}
	for _, r := range rep.Runs {
		outcome := r.Outcome
		if r.Incomplete {
			outcome = "Incomplete"
		}
		rows = append(rows, []string{"run", r.Source, r.RunID, stamp(r.Started), stamp(r.Finished), outcome, i(r.Read, 10), i(r.Accepted, 10),
			i(r.Duplicates, 10), i(r.Quarantined, 10), i(r.Rejected, 10), r.AmountRead, r.AmountLoaded, r.AmountDuplicates,
			r.AmountQuarantined, r.AmountRejected, strconv.FormatBool(r.Balanced), r.ConfigHash, editors(r.Editors)})
	}
	rows = append(rows, nil, []string{"section", "day", "runs", "read", "accepted", "duplicates", "quarantined", "rejected", "amount_read",
		"amount_loaded", "amount_duplicates", "amount_quarantined", "amount_rejected", "balanced"})
	for _, d := range rep.Days {
		rows = append(rows, []string{"day", d.Date, strconv.Itoa(d.Runs), i(d.Read, 10), i(d.Accepted, 10), i(d.Duplicates, 10),
			i(d.Quarantined, 10), i(d.Rejected, 10), d.AmountRead, d.AmountLoaded, d.AmountDuplicates, d.AmountQuarantined, d.AmountRejected,
			strconv.FormatBool(d.Balanced)})
	}
	rows = append(rows, nil, []string{"section", "source", "review", "at", "reviewer", "identified", "decision", "reason", "matched",
		"released", "duplicates", "discarded", "amount", "currency", "time_to_resolve", "mean_time_to_resolve", "ledger_hash"})
	for _, r := range rep.Reviews {
		rows = append(rows, []string{"review", r.Source, r.ID, stamp(r.At), r.Reviewer, r.Identified, r.Decision, r.Reason, i(r.Matched, 10),
			i(r.Released, 10), i(r.Duplicates, 10), i(r.Discarded, 10), r.Amount, r.Currency, r.TimeToResolve.String(),
			r.MeanTimeToResolve.String(), r.LedgerHash})
	}
	rows = append(rows, nil, []string{"section", "at", "actor", "reason", "horizon", "events", "covered", "ledger_hash"})
	for _, r := range rep.Retirements {
		rows = append(rows, []string{"retirement", stamp(r.At), r.Actor, r.Reason, stamp(r.Horizon), i(r.Events, 10), i(r.Covered, 10), r.LedgerHash})
	}
	rows = append(rows, nil, []string{"section", "source", "config_hash", "first_used", "first_run", "runs", "editors"})
	for _, c := range rep.Changes {
		rows = append(rows, []string{"configuration", c.Source, c.ConfigHash, stamp(c.FirstUsed), c.FirstRun, strconv.Itoa(c.Runs), editors(c.Editors)})
	}
	rows = append(rows, nil, []string{"section", "verifies", "entries", "rows", "anchors", "head", "problem"})
	rows = append(rows, []string{"ledger", strconv.FormatBool(rep.Ledger.Verifies), i(rep.Ledger.Entries, 10), i(rep.Ledger.Rows, 10),
		strconv.Itoa(rep.Ledger.Anchors), rep.Ledger.Head, rep.Ledger.Problem})
	for _, r := range rows {
		if r == nil {
			r = []string{}
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"stamp": stamp, "editors": editors, "yesNo": yesNo, "short": short}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>journey audit report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
td:first-child,th:first-child,td.l{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}
</style></head><body>
<h1>Completeness and accuracy evidence</h1>
<p>Generated {{stamp .GeneratedAt}}{{if .Source}} for {{.Source}}{{end}}.</p>
{{if .Ledger.Verifies}}<p class="ok" id="ledger">The audit ledger verifies: {{.Ledger.Entries}} entries, {{.Ledger.Rows}} rows checked against their digests{{if .Ledger.Retired}} ({{.Ledger.Retired}} of them retired by policy, checked from the hashes the ledger keeps){{end}}, {{.Ledger.Anchors}} anchors found. Head <code>{{.Ledger.Head}}</code>.</p>
{{else}}<p class="bad" id="ledger">The audit ledger does not verify: {{.Ledger.Problem}}</p>{{end}}
<h2>Runs</h2>
<table id="runs"><tr><th>Source</th><th>Run</th><th>Finished</th><th>Outcome</th><th>Read</th><th>Accepted</th><th>Duplicates</th><th>Quarantined</th><th>Rejected</th><th>Amount read</th><th>Loaded</th><th>Duplicates</th><th>Quarantined</th><th>Rejected</th><th>Balanced</th></tr>
{{range .Runs}}<tr><td>{{.Source}}</td><td class="l">{{.RunID}}</td><td>{{stamp .Finished}}</td><td class="l">{{if .Incomplete}}<span class="bad">incomplete</span>{{else}}{{.Outcome}}{{end}}</td><td>{{.Read}}</td><td>{{.Accepted}}</td><td>{{.Duplicates}}</td><td>{{.Quarantined}}</td><td>{{.Rejected}}</td><td>{{.AmountRead}}</td><td>{{.AmountLoaded}}</td><td>{{.AmountDuplicates}}</td><td>{{.AmountQuarantined}}</td><td>{{.AmountRejected}}</td><td{{if not .Balanced}} class="bad"{{end}}>{{yesNo .Balanced}}</td></tr>
{{end}}<tr><th>Total</th><th></th><th></th><th></th><th>{{.Totals.Read}}</th><th>{{.Totals.Accepted}}</th><th>{{.Totals.Duplicates}}</th><th>{{.Totals.Quarantined}}</th><th>{{.Totals.Rejected}}</th><th>{{.Totals.AmountRead}}</th><th>{{.Totals.AmountLoaded}}</th><th>{{.Totals.AmountDuplicates}}</th><th>{{.Totals.AmountQuarantined}}</th><th>{{.Totals.AmountRejected}}</th><th>{{yesNo .Totals.Balanced}}</th></tr></table>
<h2>Per day</h2>
<table id="days"><tr><th>Day</th><th>Runs</th><th>Read</th><th>Accepted</th><th>Duplicates</th><th>Quarantined</th><th>Rejected</th><th>Amount read</th><th>Loaded</th><th>Balanced</th></tr>
{{range .Days}}<tr><td>{{.Date}}</td><td>{{.Runs}}</td><td>{{.Read}}</td><td>{{.Accepted}}</td><td>{{.Duplicates}}</td><td>{{.Quarantined}}</td><td>{{.Rejected}}</td><td>{{.AmountRead}}</td><td>{{.AmountLoaded}}</td><td>{{yesNo .Balanced}}</td></tr>
{{end}}</table>
<h2>Reviews</h2>
<table id="reviews"><tr><th>Source</th><th>When</th><th>Reviewer</th><th>Decision</th><th>Matched</th><th>Released</th><th>Discarded</th><th>Amount</th><th>Waited (oldest)</th><th>Reason</th></tr>
{{range .Reviews}}<tr><td>{{.Source}}</td><td>{{stamp .At}}</td><td class="l">{{.Reviewer}}</td><td class="l">{{.Decision}}</td><td>{{.Matched}}</td><td>{{.Released}}</td><td>{{.Discarded}}</td><td>{{.Amount}} {{.Currency}}</td><td>{{.TimeToResolve}}</td><td class="l">{{.Reason}}</td></tr>
{{end}}</table>
<h2>Retired by policy</h2>
<table id="retirements"><tr><th>When</th><th>Who</th><th>Occurred before</th><th>Events</th><th>Covered by the ledger</th><th>Reason</th></tr>
{{range .Retirements}}<tr><td>{{stamp .At}}</td><td class="l">{{.Actor}}</td><td>{{stamp .Horizon}}</td><td>{{.Events}}</td><td>{{.Covered}}</td><td class="l">{{.Reason}}</td></tr>
{{end}}</table>
<h2>Configuration used by runs</h2>
<table id="changes"><tr><th>Source</th><th>Configuration</th><th>First used</th><th>First run</th><th>Runs</th><th>Last changed by</th></tr>
{{range .Changes}}<tr><td>{{.Source}}</td><td class="l"><code>{{short .ConfigHash}}</code></td><td>{{stamp .FirstUsed}}</td><td class="l">{{.FirstRun}}</td><td>{{.Runs}}</td><td class="l">{{editors .Editors}}</td></tr>
{{end}}</table>
<h2>Pending review</h2>
<table id="pending"><tr><th>Source</th><th>Pending</th><th>Oldest waits</th></tr>
{{range .Pending}}<tr><td>{{.Source}}</td><td>{{.Pending}}</td><td>{{.Age}}</td></tr>
{{end}}</table>
{{range .Problems}}<p class="bad">{{.}}</p>
{{end}}</body></html>
`))
