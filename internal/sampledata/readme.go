package sampledata

import (
	"fmt"
	"sort"
	"strings"
)

// readme is README.md of the folder: what is there and how to run it.
func readme(m *Manifest) string {
	var b strings.Builder
	c := m.Config
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# A synthetic streaming service\n\n")
	p("Written by `journey sample-data --users %d --days %d --seed %d --start %s`: the same flags\n", c.Users, c.Days, c.Seed, c.Start)
	p("always write the same bytes. The data covers %s to %s (**asOf**); every record is older\nthan asOf.\n\n", c.Start, c.AsOf)
	p("## Run it\n\n```sh\njourney run -f %s            # or -f . from here\njourney run -f %s --output json\n```\n\n", "<this folder>", "<this folder>")
	p("`journey run` ingests every TouchpointSource below once (CRM first: the other sources are\n")
	p("checked against it) into `./journey.db` in the working folder, or `--store DSN`. Run it on an\n")
	p("empty store to get the numbers of `expected.json`. A second run on the same store loads nothing\n")
	p("new (what it reads is already there); delete `journey.db` or pass a fresh `--store` to start over.\n\n")
	p("**Freshness is judged against the clock of the run.** `expected.json` says what a run at asOf\n")
	p("sees: only `support-tickets` is late (its export stalled 4 days before asOf). Run later and\n")
	p("every feed is that much older: catalog, playback and CRM fail `feed-fresh` too and billing warns.\n")
	p("To see the intended picture now, generate data that ends at the start of this hour:\n\n")
	p("```sh\njourney sample-data --out DIR --days %d --start \"$(date -u -d '-%d days' +%%Y-%%m-%%dT%%H:00:00Z)\"\n```\n\n", c.Days, c.Days)
	p("(GNU date; on macOS `date -u -v-%dd +%%Y-%%m-%%dT%%H:00:00Z`). The data then depends on when it was\n", c.Days)
	p("made, but only through `--start`; run it within the hour.\n\n")

	p("## Files\n\n| Source | Touchpoint | File | Format | Records | Bytes |\n|---|---|---|---|---:|---:|\n")
	for _, name := range sortedKeys(m.Sources) {
		s := m.Sources[name]
		p("| %s | %s | `%s` | %s | %d | %d |\n", name, s.Touchpoint, s.File, s.Format, s.Records, s.Bytes)
	}
	p("\nand the manifests: one TouchpointSource per feed (`touchpointsource-*.yaml`, file connector,\n")
	p("paths relative to this folder), the ValidationRules `billing-controls`, `identity-controls`\n")
	p("and `feed-health`, the JourneyMap `streaming-journey`, and a `kustomization.yaml` for\n")
	p("`kubectl apply -k` (in a cluster the file paths must name files the ingest pods mount).\n")
	p("None sets a namespace. `expected.json` is described below.\n\n")

	p("## The service\n\n")
	j := m.Journey
	p("%d accounts in CRM: %d subscribed before the start, %d signed up during it. Everyone browses the\n", j.Users, j.ExistingSubscribers, j.NewSignups)
	p("catalog; %d started a 7-day trial (`customer.subscription.trial_started`), of which %d paid\n", j.Trials, j.TrialConversions)
	p("(`invoice.paid`), %d cancelled and %d were still trialing at asOf; %d subscribed without a trial.\n", j.TrialCancellations, j.StillTrialing, j.DirectSubscriptions)
	p("Subscribers renew every 30 days and stream (`playback.session`, minutes as an attribute).\n")
	pf := j.PaymentFailures
	p("%d had a renewal payment fail (`invoice.payment_failed`, retried after 3 days): %d paid on the\n", pf.Users, pf.Recovered)
	p("retry, %d were cancelled after the third failure. %d were made to stream far less after the\n", pf.InvoluntaryChurn, pf.PlantedDrop)
	p("failure; measured over the 7 days before and after it, %d streamed less than half as much, %d kept\n", pf.Drop, pf.Kept)
	p("at least half (%d had no streaming before, %d failed too close to asOf to tell). At asOf the\n", pf.NoBaseline, pf.WindowIncomplete)
	p("alert StreamingDropAfterBillingFailure holds for %d users.\n", j.AlertsAtAsOf["StreamingDropAfterBillingFailure"])
	p("%d subscriptions ended (`customer.subscription.deleted`: %d cancelled by the customer, %d for\n", j.Churned, j.VoluntaryChurn, j.InvoluntaryChurn)
	p("failed payments, the rest trials); %d answered the exit survey, %d the post-trial survey; %d\n", j.ExitSurveyResponses, j.PostTrialSurveyResponses, j.SupportTickets)
	p("support tickets were opened before the help-desk export stalled.\n\n")

	p("## Planted anomalies\n\n| Anomaly | Count | Caught by | Action |\n|---|---:|---|---|\n")
	for _, kind := range sortedKeys(m.Anomalies) {
		info := m.Anomalies[kind]
		n := int64(0)
		for _, s := range m.Sources {
			n += s.Anomalies[kind]
		}
		by := info.Check
		if info.Rule != "" {
			by = info.Rule + "/" + info.Check
		}
		p("| %s: %s | %d | %s | %s |\n", kind, info.Description, n, by, info.Action)
	}
	p("\n## What `journey run` should report (first run, clock at asOf)\n\n")
	p("| Source | Read | Accepted | Duplicates | Quarantined | Rejected | Warnings | Outcome |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, name := range sortedKeys(m.Sources) {
		e := m.Sources[name].Expected
		p("| %s | %d | %d | %d | %d | %d | %d | %s |\n", name, e.Read, e.Accepted, e.Duplicates, e.Quarantined, e.Rejected, e.Warnings, e.Outcome)
	}
	p("\n## expected.json\n\n")
	p("- `config`: the flags, and `asOf` (start + days).\n")
	p("- `sources.<name>`: `touchpoint`, `file`, `format`, `records` (lines, or CSV rows after the header,\n")
	p("  undecodable ones included), `bytes`, `newest` record time, `freshness` (check, action, maxAge, age\n")
	p("  at asOf, late), `types` (billing: records per event type), `anomalies` (count per kind planted\n")
	p("  in this file) and `expected`: the run summary of a first `journey run` at asOf (`outcome`,\n")
	p("  `read`, `accepted`, `duplicates`, `quarantined`, `rejected`, `warnings`, `checks`: failures per\n")
	p("  check name as `journey run --output json` counts them, `runLevel`: failing freshness/volume checks).\n")
	p("- `anomalies.<kind>`: where it is planted, the rule and check that catch it, and the action.\n")
	p("- `journey`: counts of the users' journey (see above), `paymentFailures` measured from the data,\n")
	p("  and `alertsAtAsOf`.\n")
	p("- `totals`: records and bytes over the data files.\n")
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
