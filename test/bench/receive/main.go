// Command receive measures receiving (`make bench-receive`): deliveries
// per second of signed Stripe events (one event a request) and of Segment
// batches (/v1/batch) through `journey receive` into PostgreSQL, next to a
// plain net/http handler that INSERTs each delivery into a table keyed by
// the events' key (plain.go: the floor a user would write by hand); and
// records per second through `journey consume` from a Kafka topic (kfake,
// in this process) next to a plain franz-go consumer writing the same rows
// with COPY (plainconsume.go).
//
// Every contender runs as its own process (bin/journey, or this binary
// with -serve), started fresh for its phase, so its VmHWM is the phase's
// peak RSS; the load generator (load.go) is the same for both and runs
// here. One throwaway PostgreSQL server serves every phase, each phase on
// a fresh database of it; rounds alternate which contender goes first.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds of each phase")
	clients := flag.Int("clients", 16, "concurrent clients, each over its own keep-alive connection")
	stripeN := flag.Int("stripe", 20_000, "single Stripe deliveries per round")
	segmentN := flag.Int("segment", 1_000, "Segment /v1/batch deliveries per round")
	batch := flag.Int("batch", 100, "messages in a Segment batch")
	records := flag.Int("kafka", 200_000, "Kafka records (0: skip the Kafka phase)")
	partitions := flag.Int("partitions", 4, "the topic's partitions")
	maxPoll := flag.Int("max-poll", 500, "records a poll takes, both consumers (journey: spec.stream.kafka.maxPollRecords)")
	financial := flag.Bool("financial", true, "the Stripe source is financial (a ledger entry per group commit), as the sample's")
	only := flag.String("only", "", "stripe, segment or kafka: run that phase only")
	binary := flag.String("journey", "bin/journey", "the journey binary")
	flag.BoolVar(&childStderr, "child-stderr", false, "show the contenders' standard error")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "instead of the HTTP phases' rounds: run journey receive in this process, one round, CPU profile to this file (use with -only)")
	// A contender run by this binary (-serve), not for direct use.
	serve := flag.String("serve", "", "internal: serve a plain baseline (stripe, segment, consume)")
	dsn := flag.String("dsn", "", "internal: with -serve")
	listen := flag.String("listen", "", "internal: with -serve")
	brokers := flag.String("brokers", "", "internal: with -serve consume")
	group := flag.String("group", "", "internal: with -serve consume")
	done := flag.String("done", "", "internal: with -serve consume")
	want := flag.Int("kafka-records", 0, "internal: with -serve consume")
	flag.Parse()

	var err error
	switch *serve {
	case "":
		var abs string
		if abs, err = filepath.Abs(*binary); err == nil {
			err = run(config{rounds: *rounds, clients: *clients, stripe: *stripeN, segment: *segmentN, batch: *batch,
				records: *records, partitions: *partitions, maxPoll: *maxPoll, financial: *financial, only: *only, binary: abs})
		}
	case "consume":
		err = consumePlain(*dsn, *brokers, kafkaTopic, *group, *done, *want, *maxPoll)
	default:
		err = servePlain(*serve, *dsn, *listen)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-receive:", err)
		os.Exit(1)
	}
}

var (
	childStderr bool
	cpuProfile  string
)

type config struct {
	rounds, clients, stripe, segment, batch, records, partitions, maxPoll int
	financial                                                             bool
	only, binary                                                          string
}

// result is one contender's run of a phase.
type result struct {
	elapsed time.Duration
	rss     int64
	cpu     time.Duration // the contender's own CPU, not PostgreSQL's
	busy    float64       // the machine's CPU use meanwhile (all of it: 1)
	n       int           // deliveries, or records
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("%6.2f s, %9.0f/s, CPU %5.1f s, machine busy %3.0f%%, peak RSS %5.1f MiB",
		r.elapsed.Seconds(), r.rate(), r.cpu.Seconds(), 100*r.busy, mib(r.rss))
}

func run(cfg config) error {
	ctx := context.Background()
	if _, err := os.Stat(cfg.binary); err != nil {
		return fmt.Errorf("%s: %w (make build)", cfg.binary, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-receive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := pgtest.NewServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()

	fmt.Printf("bench-receive: %d rounds, PostgreSQL on loopback (fresh database per run), %d clients over keep-alive connections\n", cfg.rounds, cfg.clients)
	var summary []string
	if cfg.only == "" || cfg.only == "stripe" {
		fin := "financial: a ledger entry per group commit"
		if !cfg.financial {
			fin = "not financial"
		}
		fmt.Printf("\nStripe: %d signed invoice.paid events a round, one a request (%s)\n", cfg.stripe, fin)
		line, err := httpPhase(ctx, srv, cfg, self, dir, "stripe", "deliveries")
		if err != nil {
			return err
		}
		summary = append(summary, line)
	}
	if cfg.only == "" || cfg.only == "segment" {
		fmt.Printf("\nSegment: %d /v1/batch requests of %d track messages a round\n", cfg.segment, cfg.batch)
		line, err := httpPhase(ctx, srv, cfg, self, dir, "segment", "batches")
		if err != nil {
			return err
		}
		summary = append(summary, line)
	}
	if (cfg.only == "" || cfg.only == "kafka") && cfg.records > 0 {
		fmt.Printf("\nKafka: %d records over %d partitions (kfake), polls of at most %d\n", cfg.records, cfg.partitions, cfg.maxPoll)
		line, err := kafkaPhase(ctx, srv, cfg, self, dir)
		if err != nil {
			return err
		}
		summary = append(summary, line)
	}
	fmt.Printf("\n%s\n", strings.Join(summary, "\n"))
	return nil
}

// ratios runs a phase's rounds, alternating which contender goes first,
// prints each round, and returns the summary line.
func ratios(name, unit string, rounds int, journey, plain func(round int) (result, error)) (string, error) {
	var lo, hi float64
	var jr, pr []float64
	for round := 1; round <= rounds; round++ {
		var j, p result
		var err error
		if round%2 == 1 {
			if p, err = plain(round); err == nil {
				j, err = journey(round)
			}
		} else {
			if j, err = journey(round); err == nil {
				p, err = plain(round)
			}
		}
		if err != nil {
			return "", fmt.Errorf("%s, round %d: %w", name, round, err)
		}
		ratio := j.rate() / p.rate()
		fmt.Printf("  round %d  journey: %s\n           plain:   %s\n           ratio journey/plain: %.2f\n", round, j, p, ratio)
		if round == 1 || ratio < lo {
			lo = ratio
		}
		if round == 1 || ratio > hi {
			hi = ratio
		}
		jr, pr = append(jr, j.rate()), append(pr, p.rate())
	}
	return fmt.Sprintf("%s: journey %s %s/s, plain %s %s/s, ratio %.2f–%.2f", name, span(jr), unit, span(pr), unit, lo, hi), nil
}

func span(v []float64) string {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf("%.0f–%.0f", lo, hi)
}

func kafkaPhase(ctx context.Context, srv *pgtest.Server, cfg config, self, dir string) (string, error) {
	start := time.Now()
	k, err := newKafkaBench(cfg.records, cfg.partitions, cfg.maxPoll)
	if err != nil {
		return "", err
	}
	defer k.close()
	fmt.Printf("  (produced in %s)\n", time.Since(start).Round(100*time.Millisecond))
	journey := func(round int) (result, error) {
		dsn, err := srv.CreateDatabase(ctx)
		if err != nil {
			return result{}, err
		}
		return k.journey(ctx, cfg.binary, dir, dsn, fmt.Sprintf("journey-%d", round))
	}
	plain := func(round int) (result, error) {
		dsn, err := srv.CreateDatabase(ctx)
		if err != nil {
			return result{}, err
		}
		return k.plain(ctx, self, dir, dsn, fmt.Sprintf("plain-%d", round))
	}
	return ratios("Kafka", "records", cfg.rounds, journey, plain)
}
