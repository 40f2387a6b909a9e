package sampledata

import (
	"time"
)

// Kinds of planted anomalies, as expected.json names them.
const (
	AnomalyUndecodable      = "undecodable"      // a line or row that does not parse
	AnomalyExactDuplicate   = "exactDuplicate"   // a billing event delivered twice: same ID, same bytes
	AnomalyDuplicatePayment = "duplicatePayment" // a second invoice.paid (new event ID) for a paid payment intent
	AnomalyNegativeAmount   = "negativeAmount"   // invoice.paid with a negative amount
	AnomalyUnknownCustomer  = "unknownCustomer"  // invoice.paid for a customer CRM does not know
	AnomalyMissingCurrency  = "missingCurrency"  // invoice.paid without a currency
	AnomalyTestMode         = "testMode"         // a Stripe test-mode event (livemode false)
	AnomalyLateFeed         = "lateFeed"         // the feed's newest record is older than its freshness maxAge at asOf
)

// ManifestVersion is bumped when expected.json changes shape.
const ManifestVersion = 1

// Manifest is expected.json: what was generated, and what a first `journey
// run` of the folder on an empty store, with its clock at AsOf, must report.
type Manifest struct {
	Version int            `json:"version"`
	Config  ManifestConfig `json:"config"`
	// Sources by TouchpointSource name.
	Sources map[string]*SourceManifest `json:"sources"`
	// Anomalies says, for each kind, where it is planted and which check
	// catches it.
	Anomalies map[string]AnomalyInfo `json:"anomalies"`
	// Journey counts what happened to the users, by construction and as
	// measured from the data.
	Journey JourneyManifest `json:"journey"`
	// Totals over the data files.
	Totals Totals `json:"totals"`
}

// ManifestConfig is the generator's input.
type ManifestConfig struct {
	Users int    `json:"users"`
	Days  int    `json:"days"`
	Seed  int64  `json:"seed"`
	Start string `json:"start"`
	// AsOf is Start + Days: every record is older. Judge freshness and
	// alerts at this time.
	AsOf string `json:"asOf"`
}

// Totals over the data files.
type Totals struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
}

// SourceManifest describes one feed.
type SourceManifest struct {
	Touchpoint string `json:"touchpoint"`
	File       string `json:"file"`
	Format     string `json:"format"`
	// Records the connector yields: lines of a JSON Lines file, rows after
	// the header of a CSV file, undecodable ones included.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Newest record time (RFC 3339), over the decodable records.
	Newest    string     `json:"newest"`
	Freshness *Freshness `json:"freshness,omitempty"`
	// Types counts the records by event type (billing only).
	Types map[string]int64 `json:"types,omitempty"`
	// Anomalies planted in this feed, by kind; every kind that applies to
	// the feed is listed, zeros included.
	Anomalies map[string]int64 `json:"anomalies"`
	// Expected outcome of ingesting the feed once.
	Expected Expected `json:"expected"`
}

// Freshness is how the feed's freshness check judges it at AsOf.
type Freshness struct {
	Check     string `json:"check"`
	Action    string `json:"action"`
	MaxAge    string `json:"maxAge"`
	AgeAtAsOf string `json:"ageAtAsOf"`
	Late      bool   `json:"late"`
}

// Expected is the run summary `journey run --output json` prints for the
// source on its first run into an empty store, with the clock at AsOf.
type Expected struct {
	Outcome     string `json:"outcome"`
	Read        int64  `json:"read"`
	Accepted    int64  `json:"accepted"`
	Duplicates  int64  `json:"duplicates"`
	Quarantined int64  `json:"quarantined"`
	Rejected    int64  `json:"rejected"`
	Warnings    int64  `json:"warnings"`
	// Checks counts record-level failures per check name ("decode" for
	// undecodable records); only checks that fail are listed. A record can
	// fail more than one check.
	Checks map[string]int64 `json:"checks"`
	// RunLevel names the run-level checks (freshness, volume) that fail.
	RunLevel []string `json:"runLevel,omitempty"`
}

// AnomalyInfo says where an anomaly is planted and what catches it.
type AnomalyInfo struct {
	Sources     []string `json:"sources"`
	Rule        string   `json:"rule,omitempty"`
	Check       string   `json:"check"`
	Action      string   `json:"action"`
	Description string   `json:"description"`
}

var anomalyInfo = map[string]AnomalyInfo{
	AnomalyUndecodable: {Sources: []string{SourceCRM, SourcePlayback, SourceBilling}, Check: CheckDecode, Action: "Quarantine",
		Description: "a line half written before the writer died (JSON Lines, followed by the whole line), or a CSV row with an unquoted comma"},
	AnomalyExactDuplicate: {Sources: []string{SourceBilling}, Check: "(deduplication on eventID)", Action: "Duplicate",
		Description: "Stripe delivered the same event twice: same id, same bytes; counted as a duplicate, stored once"},
	AnomalyDuplicatePayment: {Sources: []string{SourceBilling}, Rule: RuleBilling, Check: CheckOnePaymentPerIntent, Action: "Quarantine",
		Description: "a second invoice.paid, with its own event id, for a payment intent already paid a few hours earlier"},
	AnomalyNegativeAmount: {Sources: []string{SourceBilling}, Rule: RuleBilling, Check: CheckAmountNonNegative, Action: "Quarantine",
		Description: "invoice.paid with a negative amount_paid"},
	AnomalyUnknownCustomer: {Sources: []string{SourceBilling}, Rule: RuleBilling, Check: CheckCustomerKnown, Action: "Quarantine",
		Description: "invoice.paid for a Stripe customer that is not in CRM (identity-controls' user-known fails too, as a warning)"},
	AnomalyMissingCurrency: {Sources: []string{SourceBilling}, Rule: RuleBilling, Check: CheckInvoiceAmount, Action: "Quarantine",
		Description: "invoice.paid without a currency"},
	AnomalyTestMode: {Sources: []string{SourceBilling}, Rule: RuleBilling, Check: CheckTestMode, Action: "Reject",
		Description: "a Stripe test-mode event (livemode false) in the live feed"},
	AnomalyLateFeed: {Sources: []string{SourceSupport}, Rule: RuleFeedHealth, Check: CheckFeedFresh, Action: "Quarantine",
		Description: "the help-desk export stalled 4 days before asOf: its newest record is older than the 26h maxAge (a run-level check, judged against the run's clock)"},
}

func (g *gen) manifest() *Manifest {
	asOf := g.start + g.horizon
	m := &Manifest{
		Version: ManifestVersion,
		Config: ManifestConfig{Users: g.cfg.Users, Days: g.cfg.Days, Seed: g.cfg.Seed,
			Start: g.cfg.Start.Format(time.RFC3339), AsOf: time.Unix(asOf, 0).UTC().Format(time.RFC3339)},
		Sources:   map[string]*SourceManifest{},
		Anomalies: anomalyInfo,
	}
	fresh := func(check, action string, newest int64) *Freshness {
		age := time.Duration(asOf-newest) * time.Second
		return &Freshness{Check: check, Action: action, MaxAge: (FreshnessMaxAge * time.Second).String(),
			AgeAtAsOf: age.String(), Late: age > FreshnessMaxAge*time.Second}
	}
	add := func(name, touchpoint, file, format string, records, bytes, newest int64, fr *Freshness, anomalies map[string]int64) *SourceManifest {
		s := &SourceManifest{Touchpoint: touchpoint, File: file, Format: format, Records: records, Bytes: bytes,
			Newest: time.Unix(newest, 0).UTC().Format(time.RFC3339), Freshness: fr, Anomalies: anomalies}
		if fr != nil {
			if fr.Late {
				anomalies[AnomalyLateFeed] = 1
			} else {
				anomalies[AnomalyLateFeed] = 0
			}
		}
		e := &s.Expected
		e.Read = records
		e.Checks = map[string]int64{}
		if n := anomalies[AnomalyUndecodable]; n > 0 {
			e.Quarantined += n
			e.Checks[CheckDecode] = n
		}
		if fr != nil && fr.Late {
			e.RunLevel = append(e.RunLevel, fr.Check)
			if fr.Action == "Warn" {
				e.Warnings++
			}
		}
		m.Sources[name] = s
		m.Totals.Records += records
		m.Totals.Bytes += bytes
		return s
	}
	add(SourceCRM, "crm", FileCRM, "CSV", g.crm.records, g.crm.bytes, g.crm.newest,
		fresh(CheckFeedFresh, "Quarantine", g.crm.newest), map[string]int64{AnomalyUndecodable: g.crm.undecodable})
	for k, f := range g.feeds {
		var fr *Freshness
		anomalies := map[string]int64{AnomalyUndecodable: f.undecodable}
		touchpoint := []string{"catalog", "playback", "billing", "support", "feedback"}[k]
		switch k {
		case feedCatalog, feedPlayback, feedSupport:
			fr = fresh(CheckFeedFresh, "Quarantine", f.newest)
		case feedBilling:
			fr = fresh(CheckBillingFresh, "Warn", f.newest)
			for _, kind := range []string{AnomalyExactDuplicate, AnomalyDuplicatePayment, AnomalyNegativeAmount,
				AnomalyUnknownCustomer, AnomalyMissingCurrency, AnomalyTestMode} {
				anomalies[kind] = g.anomalies[kind]
			}
		}
		s := add(f.source, touchpoint, f.path, "JSONLines", f.records, f.bytes, f.newest, fr, anomalies)
		if k == feedBilling {
			s.Types = f.types
			e := &s.Expected
			e.Duplicates = anomalies[AnomalyExactDuplicate]
			e.Rejected = anomalies[AnomalyTestMode]
			for kind, check := range map[string]string{
				AnomalyDuplicatePayment: CheckOnePaymentPerIntent,
				AnomalyNegativeAmount:   CheckAmountNonNegative,
				AnomalyUnknownCustomer:  CheckCustomerKnown,
				AnomalyMissingCurrency:  CheckInvoiceAmount,
			} {
				e.Quarantined += anomalies[kind]
				if anomalies[kind] > 0 {
					e.Checks[check] = anomalies[kind]
				}
			}
			if n := anomalies[AnomalyUnknownCustomer]; n > 0 {
				e.Checks[CheckUserKnown] = n
			}
			if n := anomalies[AnomalyTestMode]; n > 0 {
				e.Checks[CheckTestMode] = n
			}
		}
	}
	for _, s := range m.Sources {
		e := &s.Expected
		e.Accepted = e.Read - e.Duplicates - e.Quarantined - e.Rejected
		e.Outcome = "Succeeded"
		switch {
		case s.Freshness != nil && s.Freshness.Late && s.Freshness.Action == "Quarantine":
			// A stale feed is what the run's outcome names.
			e.Outcome = "Stale"
		case e.Quarantined > 0:
			e.Outcome = "Quarantined"
		}
	}
	m.Journey = g.journey()
	return m
}
