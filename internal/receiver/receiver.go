// Package receiver is the webhook receiver of a TouchpointSource: it
// verifies each request's signature (or, speaking Segment's protocol, its
// write key; see segment.go), puts the records through the same pipeline as
// batch ingest, and answers 2xx only once they are durably committed
// (accepted, quarantined, rejected, or already stored: an exact redelivery
// is answered 200 and counted once). Bodies and secrets are never logged.
package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/segment"
	"github.com/cjm-dev/journey-operator/internal/signature"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// MaxBody caps a request body; larger ones get 413.
const MaxBody = 1 << 20

// Outcomes a request reports.
const (
	OutcomeAccepted    = "accepted"
	OutcomeDuplicate   = "duplicate"
	OutcomeQuarantined = "quarantined"
	OutcomeRejected    = "rejected"
)

// Response is the JSON body of a 200.
type Response struct {
	Outcome string `json:"outcome"`
	EventID string `json:"eventID,omitempty"`
}

// Receiver serves one webhook source.
type Receiver struct {
	cfg      runconfig.Source
	hash     string
	pipeline *pipeline.Pipeline
	store    store.Store
	secrets  []string
	writeKey *writeKey // Segment sources
	group    *grouper  // commits concurrent requests together (group.go)
	now      func() time.Time
	log      *slog.Logger
}

// New builds a receiver; secrets resolves the signing secrets (or a
// Segment source's write key).
func New(cfg runconfig.Source, hash string, p *pipeline.Pipeline, st store.Store, secrets connector.Secrets, now func() time.Time, log *slog.Logger) (*Receiver, error) {
	w := cfg.Spec.Webhook
	if w == nil {
		return nil, fmt.Errorf("source %s/%s is not a webhook source", cfg.Namespace, cfg.Name)
	}
	r := &Receiver{cfg: cfg, hash: hash, pipeline: p, store: st, group: &grouper{st: st}, now: now, log: log}
	if w.Signature != nil {
		for _, ref := range w.Signature.SecretRefs {
			v, err := secrets.Value(ref)
			if err != nil {
				return nil, err
			}
			r.secrets = append(r.secrets, v)
		}
	}
	if segment.Source(&cfg.Spec) {
		if w.WriteKeySecretRef == nil {
			return nil, fmt.Errorf("source %s/%s speaks Segment but names no spec.webhook.writeKeySecretRef", cfg.Namespace, cfg.Name)
		}
		v, err := secrets.Value(*w.WriteKeySecretRef)
		if err != nil {
			return nil, err
		}
		if r.writeKey, err = newWriteKey(v); err != nil {
			return nil, fmt.Errorf("Secret %s key %s: %w", w.WriteKeySecretRef.Name, w.WriteKeySecretRef.Key, err)
		}
	}
	return r, nil
}

// Handler serves the webhook path (a Segment source: its calls under the
// path) and the health probes.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	if r.writeKey != nil {
		r.segmentRoutes(mux)
	} else {
		mux.HandleFunc(r.cfg.Spec.Webhook.Path, r.serve)
	}
	return mux
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("body larger than %d bytes", MaxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	if sig := r.cfg.Spec.Webhook.Signature; sig != nil {
		tolerance := time.Duration(0)
		if sig.Tolerance != nil {
			tolerance = sig.Tolerance.Duration
		}
		if err := signature.Verify(sig.Scheme, req.Header, body, r.secrets, tolerance, r.now(), sig.Header); err != nil {
			switch {
			case errors.Is(err, signature.ErrMissingSignature), errors.Is(err, signature.ErrMalformedHeader):
				http.Error(w, err.Error(), http.StatusBadRequest)
			case errors.Is(err, signature.ErrNoSecrets):
				r.log.Error("no signing secret configured", "source", r.cfg.Name)
				http.Error(w, "receiver misconfigured", http.StatusInternalServerError)
			default:
				http.Error(w, err.Error(), http.StatusUnauthorized)
			}
			return
		}
	}
	rec, ok := decodeMessage(body)
	if !ok {
		http.Error(w, "the body is not a JSON object", http.StatusBadRequest)
		return
	}
	resp, err := r.ingest(req.Context(), connector.Record(rec))
	if err != nil {
		// The sender retries on 5xx; nothing was committed.
		r.log.Error("ingesting a webhook record", "source", r.cfg.Name, "err", err)
		http.Error(w, "could not store the record; retry", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, resp)
}

// ingest runs one record through the pipeline and commits it.
func (r *Receiver) ingest(ctx context.Context, rec connector.Record) (Response, error) {
	res, out, err := r.commit(ctx, r.now(), []pipeline.Input{{Record: rec}})
	if err != nil {
		return Response{}, err
	}
	switch {
	case len(res.Events) == 1 && out.Inserted == 1:
		return Response{Outcome: OutcomeAccepted, EventID: res.Events[0].EventID}, nil
	case len(res.Events) == 1, res.Duplicates > 0, res.Quarantined > 0 && out.Held == 0:
		return Response{Outcome: OutcomeDuplicate}, nil
	case res.Quarantined > 0:
		return Response{Outcome: OutcomeQuarantined, EventID: res.Quarantine[0].EventID}, nil
	default:
		return Response{Outcome: OutcomeRejected}, nil
	}
}

// commit runs records through the pipeline and commits what they come to
// in one transaction: all of a request's records, or none (with other
// requests' records, see group.go).
func (r *Receiver) commit(ctx context.Context, now time.Time, in []pipeline.Input) (*pipeline.Result, store.CommitResult, error) {
	runID := "webhook-" + now.UTC().Format("20060102")
	res, err := r.pipeline.Process(ctx, r.store, runID, now, in)
	if err != nil {
		return nil, store.CommitResult{}, err
	}
	id := pipeline.SourceID(r.cfg.Namespace, r.cfg.Name)
	b := store.Batch{Source: id, Events: res.Events, Quarantine: res.Quarantine, UniqueKeys: res.UniqueKeys}
	if r.cfg.Spec.Financial {
		// The store counts what the commit inserted: a delivery another
		// replica stored first is a duplicate in the ledger too.
		b.Ledger = &store.LedgerEntry{Kind: store.EntryBatch, Source: id, RunID: runID, At: now, ConfigHash: r.hash,
			Read: res.Read, Rejected: res.Rejected, AmountRead: pipeline.Decimal(res.AmountRead),
			AmountRejected: pipeline.Decimal(res.AmountRejected)}
	}
	var out store.CommitResult
	if len(b.Quarantine) == 0 && len(b.Events) > 0 {
		out, err = r.group.commit(ctx, b)
	} else {
		out, err = r.store.Commit(ctx, b)
	}
	if err != nil {
		return nil, store.CommitResult{}, err
	}
	return res, out, nil
}

// normalize turns json.Number into int64 or float64, as the file connector does.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}
