// Package sampledata is `journey sample-data --out DIR`: it writes a
// deterministic synthetic streaming service (data files, the
// TouchpointSources, ValidationRules and JourneyMap that ingest them, a
// README and expected.json) so that `journey run -f DIR` works without a
// cluster.
package sampledata

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cjm-dev/journey-operator/internal/sampledata"
)

// Run parses args and writes the folder.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	def := sampledata.DefaultConfig()
	fs := flag.NewFlagSet("sample-data", flag.ContinueOnError)
	out := fs.String("out", "", "folder to write (created if need be; files of the same names are replaced) (required)")
	users := fs.Int("users", def.Users, "number of customer accounts")
	days := fs.Int("days", def.Days, fmt.Sprintf("days of activity (%d to %d)", sampledata.MinDays, sampledata.MaxDays))
	seed := fs.Int64("seed", def.Seed, "seed of everything random: the same flags write the same bytes")
	start := fs.String("start", def.Start.Format(time.RFC3339), "when the data begins, RFC 3339; it ends at start + days")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; sample-data takes only flags", fs.Arg(0))
	}
	if *out == "" {
		return errors.New("--out DIR is required: the folder to write the sample service into")
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("--start %q is not an RFC 3339 time such as 2026-09-01T00:00:00Z", *start)
	}
	cfg := sampledata.Config{Users: *users, Days: *days, Seed: *seed, Start: st}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("--users/--days/--start: %w", err)
	}
	began := time.Now()
	m, err := sampledata.Generate(ctx, *out, cfg)
	if err != nil {
		return err
	}
	if *quiet {
		return nil
	}
	fmt.Fprintf(stdout, "wrote %s: %d users, %d days from %s to %s (seed %d)\n", *out, m.Config.Users, m.Config.Days, m.Config.Start, m.Config.AsOf, m.Config.Seed)
	fmt.Fprintf(stdout, "  %d records, %.1f MB, in %s\n", m.Totals.Records, float64(m.Totals.Bytes)/1e6, time.Since(began).Round(time.Millisecond))
	for _, name := range []string{sampledata.SourceCRM, sampledata.SourceCatalog, sampledata.SourcePlayback, sampledata.SourceBilling, sampledata.SourceSupport, sampledata.SourceFeedback} {
		s := m.Sources[name]
		fmt.Fprintf(stdout, "  %-18s %-30s %9d records\n", name, s.File, s.Records)
	}
	fmt.Fprintf(stdout, "planted anomalies and the expected outcome of a first run: %s/%s\n", *out, sampledata.ManifestFile)
	fmt.Fprintf(stdout, "next: journey run -f %s\n", *out)
	return nil
}
