package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v84/webhook"
)

// The plain handlers: what a user would write by hand with net/http and
// pgx, the floor `journey receive` is measured against. Each verifies the
// request as the receiver does (Stripe's signature with stripe-go, the
// write key in constant time), keeps each event once by its key (unique
// key, ON CONFLICT DO NOTHING, so a redelivery is harmless) and answers
// 200 after the INSERT committed. No checks, no ledger, no quarantine.
//
// A Segment batch goes in as one multi-row INSERT (unnest of arrays, one
// round trip, all of the batch or none): COPY cannot skip a messageId
// stored before, so a client's retry of a batch that did commit (its
// answer lost) would fail forever; COPY into a staging table and INSERT …
// SELECT … ON CONFLICT from it costs more round trips than it saves at a
// hundred rows.

const (
	plainStripeTable = `CREATE TABLE IF NOT EXISTS stripe_events (
	event_id text COLLATE "C" PRIMARY KEY, customer text NOT NULL, type text NOT NULL, created timestamptz NOT NULL,
	amount numeric, currency text, payload jsonb NOT NULL, received_at timestamptz NOT NULL)`
	plainSegmentTable = `CREATE TABLE IF NOT EXISTS segment_events (
	message_id text COLLATE "C" PRIMARY KEY, user_id text, type text NOT NULL, event text, occurred_at timestamptz NOT NULL,
	properties jsonb, context jsonb, received_at timestamptz NOT NULL)`
)

// servePlain runs one plain handler (stripe or segment) on listen until
// SIGTERM.
func servePlain(kind, dsn, listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	switch kind {
	case "stripe":
		if _, err := pool.Exec(ctx, plainStripeTable); err != nil {
			return err
		}
		mux.HandleFunc("POST /stripe", stripeHandler(pool))
	case "segment":
		if _, err := pool.Exec(ctx, plainSegmentTable); err != nil {
			return err
		}
		mux.HandleFunc("POST /segment/v1/batch", segmentHandler(pool))
	default:
		return fmt.Errorf("-serve %q: want stripe, segment or consume", kind)
	}
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type stripeEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object struct {
			Customer   string `json:"customer"`
			AmountPaid *int64 `json:"amount_paid"`
			Currency   string `json:"currency"`
		} `json:"object"`
	} `json:"data"`
}

func stripeHandler(pool *pgxpool.Pool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := webhook.ValidatePayloadWithTolerance(body, r.Header.Get("Stripe-Signature"), stripeSecret, 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev stripeEvent
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
			http.Error(w, "not a Stripe event", http.StatusBadRequest)
			return
		}
		var amount *string
		if a := ev.Data.Object.AmountPaid; a != nil {
			s := fmt.Sprintf("%d.%02d", *a/100, *a%100)
			amount = &s
		}
		if _, err := pool.Exec(r.Context(), `INSERT INTO stripe_events (event_id, customer, type, created, amount, currency, payload, received_at)
			VALUES ($1, $2, $3, to_timestamp($4), $5::numeric, $6, $7::jsonb, now()) ON CONFLICT (event_id) DO NOTHING`,
			ev.ID, ev.Data.Object.Customer, ev.Type, ev.Created, amount, ev.Data.Object.Currency, string(body)); err != nil {
			http.Error(w, "retry", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":true}`))
	}
}

type segmentBatch struct {
	Batch []struct {
		Type       string          `json:"type"`
		MessageID  string          `json:"messageId"`
		UserID     string          `json:"userId"`
		Anonymous  string          `json:"anonymousId"`
		Event      string          `json:"event"`
		Timestamp  time.Time       `json:"timestamp"`
		Properties json.RawMessage `json:"properties"`
		Context    json.RawMessage `json:"context"`
	} `json:"batch"`
}

func segmentHandler(pool *pgxpool.Pool) http.HandlerFunc {
	key := []byte(writeKey)
	return func(w http.ResponseWriter, r *http.Request) {
		user, _, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), key) != 1 {
			http.Error(w, "bad write key", http.StatusUnauthorized)
			return
		}
		var b segmentBatch
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 500<<10)).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := len(b.Batch)
		id, uid, typ, event, props, ctxs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at := make([]time.Time, n)
		for i, m := range b.Batch {
			if m.MessageID == "" {
				http.Error(w, fmt.Sprintf("batch[%d] has no messageId", i), http.StatusBadRequest)
				return
			}
			id[i], typ[i], event[i], at[i], props[i], ctxs[i] = m.MessageID, m.Type, m.Event, m.Timestamp, string(m.Properties), string(m.Context)
			uid[i] = m.UserID
			if uid[i] == "" {
				uid[i] = m.Anonymous
			}
		}
		if _, err := pool.Exec(r.Context(), `INSERT INTO segment_events (message_id, user_id, type, event, occurred_at, properties, context, received_at)
			SELECT m, u, t, e, o, p::jsonb, c::jsonb, now()
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[]) AS x(m, u, t, e, o, p, c)
			ON CONFLICT (message_id) DO NOTHING`, id, uid, typ, event, at, props, ctxs); err != nil {
			http.Error(w, "retry", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true}`))
	}
}
