// Package connector reads raw records from where a batch TouchpointSource
// says they are: an HTTP API (pages, cursor, incremental, retries), a file
// (JSON Lines, CSV, JSON array; streamed, never loaded whole) or a
// PostgreSQL query (streamed). Every reader yields records one at a time, in
// order, with the cursor to store once they are committed.
package connector

import (
	"context"
	"net/http"
	"time"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

// Record is one raw record: a decoded JSON object, or a CSV row keyed by its
// header (values as strings), or a SQL row keyed by column.
type Record map[string]any

// Reader streams the records of one run.
type Reader interface {
	// Next returns the next record, or io.EOF after the last. A record that
	// cannot be decoded is returned as a *DecodeError (the run quarantines it
	// and goes on); any other error ends the run.
	Next(ctx context.Context) (Record, error)
	// Cursor is the value to store once every record returned so far is
	// committed, so the next run starts after them ("" when the source is
	// not incremental or nothing was read).
	Cursor() string
	Close() error
}

// DecodeError is a record that could not be decoded. Raw holds its bytes
// (capped) for the quarantine; the reader stays usable.
type DecodeError struct {
	Raw    []byte
	Reason string
}

func (e *DecodeError) Error() string { return "undecodable record: " + e.Reason }

// Secrets resolves a Secret reference to its value: from a mounted file in a
// pod, from the Secret manifests of a folder for `journey run`.
type Secrets interface {
	Value(ref v1alpha1.SecretKeyRef) (string, error)
}

// Options are what opening a reader needs besides the spec.
type Options struct {
	// Cursor stored by the last committed run ("" on the first run).
	Cursor string
	// BaseDir resolves relative file paths (the spec's folder for `journey run`).
	BaseDir string
	Secrets Secrets
	Expr    *expr.Env
	// HTTPClient for http and file URLs; nil: a client with sane timeouts.
	HTTPClient *http.Client
	// Retry policy for http: attempts and the first backoff (doubled each
	// time, with jitter; Retry-After is honoured).
	MaxAttempts int
	Backoff     time.Duration
}

// Open returns the reader for a batch source's connector.
func Open(ctx context.Context, b *v1alpha1.BatchSource, opts Options) (Reader, error) {
	return open(ctx, b, opts)
}
