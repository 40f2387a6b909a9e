package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// The webhook phases: `journey receive` and the plain handler, each a
// process of its own on a fresh database, sent the same deliveries by the
// same load generator; the timing starts once the server answers its
// health probe and ends with the last delivery's 200.

// manifests are what `journey receive -f` serves: the sample's Stripe
// source (signed, financial unless -financial=false) with two checks, and
// the sample's Segment source, with their Secrets.
func manifests(financial bool) string {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: stripe-whsec, namespace: bench}
data: {current: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: segment-write-key, namespace: bench}
data: {key: %s}
---
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata:
  name: billing-stripe-webhook
  namespace: bench
  labels: {journey.cjm.dev/domain: billing}
spec:
  touchpoint: billing
  system: stripe
  financial: %t
  webhook:
    path: /stripe
    signature:
      scheme: Stripe
      secretRefs: [{name: stripe-whsec, key: current}]
      tolerance: 5m
  mapping:
    eventID: record.id
    userID: record.data.object.customer
    occurredAt: timestamp(int(record.created))
    type: record.type
    amount: double(record.data.object.amount_paid) / 100.0
    currency: record.data.object.currency
    attributes:
      plan: record.data.object.lines.data[0].plan.id
      paymentIntent: record.data.object.payment_intent
---
apiVersion: journey.cjm.dev/v1alpha1
kind: ValidationRule
metadata: {name: billing-controls, namespace: bench}
spec:
  sourceSelector:
    matchLabels: {journey.cjm.dev/domain: billing}
  checks:
  - name: amount-non-negative
    expression: event.amount == null || event.amount >= 0.0
    action: Quarantine
  - name: test-mode
    expression: '!has(record.livemode) || record.livemode'
    action: Reject
---
apiVersion: journey.cjm.dev/v1alpha1
kind: TouchpointSource
metadata: {name: app-events, namespace: bench}
spec:
  touchpoint: app
  system: segment
  webhook:
    path: /segment
    protocol: Segment
    writeKeySecretRef: {name: segment-write-key, key: key}
  mapping:
    attributes:
      device: record.context.device.type
`, enc(stripeSecret), enc(writeKey), financial)
}

// phase says how one webhook phase is run and checked.
type phase struct {
	source, path   string // journey's source and the request path
	journeyCount   string // counts the events journey stored
	plainCount     string
	perDelivery    int
	makeDeliveries func(round int) []delivery
}

func phaseOf(kind string, cfg config) phase {
	if kind == "stripe" {
		return phase{source: "billing-stripe-webhook", path: "/stripe", perDelivery: 1,
			journeyCount: `SELECT count(*) FROM events WHERE source = 'bench/billing-stripe-webhook'`,
			plainCount:   `SELECT count(*) FROM stripe_events`,
			makeDeliveries: func(round int) []delivery {
				return stripeDeliveries(round, cfg.stripe)
			}}
	}
	return phase{source: "app-events", path: "/segment/v1/batch", perDelivery: cfg.batch,
		journeyCount: `SELECT count(*) FROM events WHERE source = 'bench/app-events'`,
		plainCount:   `SELECT count(*) FROM segment_events`,
		makeDeliveries: func(round int) []delivery {
			return segmentDeliveries(round, cfg.segment, cfg.batch)
		}}
}

func httpPhase(ctx context.Context, srv *pgtest.Server, cfg config, self, dir, kind, unit string) (string, error) {
	folder := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(folder, "sources.yaml"), []byte(manifests(cfg.financial)), 0o644); err != nil {
		return "", err
	}
	ph := phaseOf(kind, cfg)
	if cpuProfile != "" {
		return "", profileJourney(ctx, srv, cfg, ph, folder, cpuProfile)
	}
	journey := func(round int) (result, error) {
		return serveAndSend(ctx, srv, cfg, ph, round, "journey receive", func(dsn, addr string) []string {
			return []string{cfg.binary, "receive", "-f", folder, "--source", ph.source, "--store", dsn, "--listen", addr}
		}, ph.journeyCount)
	}
	plain := func(round int) (result, error) {
		return serveAndSend(ctx, srv, cfg, ph, round, "plain handler", func(dsn, addr string) []string {
			return []string{self, "-serve", kind, "-dsn", dsn, "-listen", addr}
		}, ph.plainCount)
	}
	name := "Stripe single deliveries"
	if kind == "segment" {
		name = fmt.Sprintf("Segment batches of %d", cfg.batch)
	}
	return ratios(name, unit, cfg.rounds, journey, plain)
}

// serveAndSend starts a contender on a fresh database, sends it the
// round's deliveries, reads its figures and checks what it stored.
func serveAndSend(ctx context.Context, srv *pgtest.Server, cfg config, ph phase, round int, name string,
	args func(dsn, addr string) []string, count string) (result, error) {
	dsn, err := srv.CreateDatabase(ctx)
	if err != nil {
		return result{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	ds := ph.makeDeliveries(round)
	c, err := startChild(name, args(dsn, addr))
	if err != nil {
		return result{}, err
	}
	defer c.stop()
	probe := "/healthz"
	if name == "journey receive" {
		probe = "/readyz"
	}
	if err := waitReady(ctx, c, "http://"+addr+probe); err != nil {
		return result{}, err
	}
	cpu0 := c.cpu()
	busy0, total0 := machineCPU()
	elapsed, err := send("http://"+addr+ph.path, cfg.clients, ds)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	r := result{elapsed: elapsed, rss: c.peakRSS(), cpu: c.cpu() - cpu0, busy: busyShare(busy0, total0), n: len(ds)}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return result{}, err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, count).Scan(&n); err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	if want := len(ds) * ph.perDelivery; n != want {
		return result{}, fmt.Errorf("%s stored %d events of %d", name, n, want)
	}
	return r, nil
}
