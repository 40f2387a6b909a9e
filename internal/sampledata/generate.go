// Package sampledata writes a deterministic synthetic streaming service: the
// data files of six feeds (CRM accounts, catalog views, playback sessions,
// Stripe billing events, support tickets, survey responses), the
// TouchpointSources, ValidationRules and JourneyMap that ingest and judge
// them, a README, and expected.json, the exact count of every anomaly planted
// in the data and what a first `journey run` should make of it.
//
// The same Config gives byte-identical output: nothing depends on the clock,
// the map order or the machine. Output is streamed a day at a time, so memory
// grows with the number of users (a few dozen bytes each) and one day of
// events, not with the total.
package sampledata

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultStart is where the data begins unless told otherwise: a fixed date,
// so the output never depends on the clock.
var DefaultStart = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)

// Config says what to generate.
type Config struct {
	// Users is the number of CRM accounts.
	Users int
	// Days of activity, from Start.
	Days int
	// Seed of everything random.
	Seed int64
	// Start of the data; truncated to the second. AsOf = Start + Days.
	Start time.Time
}

// DefaultConfig is 2000 users over 60 days from DefaultStart, seed 1.
func DefaultConfig() Config {
	return Config{Users: 2000, Days: 60, Seed: 1, Start: DefaultStart}
}

// Limits of a Config.
const (
	MaxUsers = 50_000_000
	MinDays  = 14
	MaxDays  = 3650
)

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	switch {
	case c.Users < 1 || c.Users > MaxUsers:
		return fmt.Errorf("users must be between 1 and %d, not %d", MaxUsers, c.Users)
	case c.Days < MinDays || c.Days > MaxDays:
		return fmt.Errorf("days must be between %d and %d, not %d", MinDays, MaxDays, c.Days)
	case c.Start.IsZero():
		return errors.New("start must be set")
	case c.Start.Year() < 1971 || c.Start.Year() > 9000:
		return fmt.Errorf("start %s is out of range", c.Start.Format(time.RFC3339))
	}
	return nil
}

// AsOf is the end of the data: every event happened before it. Run-level
// freshness and the journey's alerts are meant to be judged at this time.
func (c Config) AsOf() time.Time {
	return c.Start.UTC().Truncate(time.Second).Add(time.Duration(c.Days) * 24 * time.Hour)
}

// Feeds written day by day, in this order.
const (
	feedCatalog = iota
	feedPlayback
	feedBilling
	feedSupport
	feedFeedback
	nFeeds
)

// Source names, touchpoints and files of the feeds.
const (
	SourceCRM      = "crm-accounts"
	SourceCatalog  = "catalog-views"
	SourcePlayback = "playback-sessions"
	SourceBilling  = "billing-stripe"
	SourceSupport  = "support-tickets"
	SourceFeedback = "survey-responses"

	FileCRM      = "data/crm/accounts.csv"
	FileCatalog  = "data/catalog/views.jsonl"
	FilePlayback = "data/playback/sessions.jsonl"
	FileBilling  = "data/billing/events.jsonl"
	FileSupport  = "data/support/tickets.jsonl"
	FileFeedback = "data/feedback/responses.jsonl"

	// ManifestFile is expected.json.
	ManifestFile = "expected.json"
)

var feedSources = [nFeeds]struct{ source, path string }{
	feedCatalog:  {SourceCatalog, FileCatalog},
	feedPlayback: {SourcePlayback, FilePlayback},
	feedBilling:  {SourceBilling, FileBilling},
	feedSupport:  {SourceSupport, FileSupport},
	feedFeedback: {SourceFeedback, FileFeedback},
}

// How many undecodable lines each feed gets (the CRM file gets one bad row).
var undecodableLines = [nFeeds]int{feedPlayback: 2, feedBilling: 3}

type gen struct {
	cfg     Config
	seed    uint64
	start   int64 // Unix seconds
	horizon int64 // seconds from start to AsOf
	ids     ids
	users   []user
	feeds   [nFeeds]*feed
	line    []byte // scratch
	// anomalies counts planted billing anomalies by kind.
	anomalies map[string]int64
	crm       crmResult
}

type crmResult struct {
	records, bytes, undecodable int64
	newest                      int64
}

// Generate writes the sample folder into dir (created if need be; files of
// the same names are replaced) and returns what expected.json says.
func Generate(ctx context.Context, dir string, cfg Config) (*Manifest, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Start = cfg.Start.UTC().Truncate(time.Second)
	g := &gen{cfg: cfg, seed: uint64(cfg.Seed), start: cfg.Start.Unix(), horizon: int64(cfg.Days) * day,
		anomalies: map[string]int64{}}
	g.ids = newIDs(g.seed)
	for _, sub := range []string{"data/crm", "data/catalog", "data/playback", "data/billing", "data/support", "data/feedback"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	g.users = make([]user, cfg.Users)
	for i := range g.users {
		g.users[i] = planUser(g.seed, i, g.horizon)
	}
	if err := g.writeCRM(filepath.Join(dir, FileCRM)); err != nil {
		return nil, err
	}
	if err := g.writeFeeds(ctx, dir); err != nil {
		return nil, err
	}
	m := g.manifest()
	if err := writeSpecs(dir); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme(m)), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

func (g *gen) writeFeeds(ctx context.Context, dir string) (err error) {
	for k, fs := range feedSources {
		var bad []int64
		for j := 1; j <= undecodableLines[k]; j++ {
			bad = append(bad, int64(g.cfg.Days*j/(undecodableLines[k]+1)))
		}
		if g.feeds[k], err = openFeed(dir, fs.source, fs.path, bad); err != nil {
			return err
		}
	}
	defer func() {
		for _, f := range g.feeds {
			if f != nil {
				if cerr := f.close(); err == nil {
					err = cerr
				}
			}
		}
	}()
	for d := int64(0); d < int64(g.cfg.Days); d++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		from, to := d*day, (d+1)*day
		for i := range g.users {
			u := &g.users[i]
			g.catalog(i, u, from, to)
			g.playback(i, u, d)
			g.billing(i, u, from, to)
			g.support(i, u, from, to)
			g.feedback(i, u, from, to)
		}
		for _, f := range g.feeds {
			if err := f.flushDay(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeCRM writes the accounts, one row each in account order, plus one row
// a partner integration broke with an unquoted comma.
func (g *gen) writeCRM(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := &countingWriter{w: f}
	w := csv.NewWriter(cw)
	_ = w.Write([]string{"account_id", "stripe_customer_id", "country", "signup_channel", "updated_at"})
	newest := int64(-1 << 62)
	n := len(g.users)
	for i := range g.users {
		u := &g.users[i]
		t := g.start + int64(u.signup)
		_ = w.Write([]string{g.ids.account(uint64(i)), g.ids.customer(uint64(i)), countries[u.country].code,
			channels[u.channel], string(appendTime(nil, t))})
		g.crm.records++
		newest = max(newest, t)
		if i == n/2 {
			w.Flush()
			bad := fmt.Sprintf("%s,%s,GB,partner:Acme Media, Ltd.,%s\n", g.ids.account(uint64(2*n)), g.ids.customer(uint64(2*n)),
				appendTime(nil, t))
			if _, err := cw.Write([]byte(bad)); err != nil {
				f.Close()
				return err
			}
			g.crm.records++
			g.crm.undecodable++
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	g.crm.bytes = cw.n
	g.crm.newest = newest
	return f.Close()
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
