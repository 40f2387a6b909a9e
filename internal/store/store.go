// Package store keeps events, quarantined records, unique-check keys, runs,
// cursors and the audit ledger in one SQL database behind one narrow
// interface: SQLite (embedded, pure Go) for `journey run`, tests and small
// installs, PostgreSQL (pgx, COPY for bulk writes) for clusters.
//
// A Batch commits in one transaction: its events, quarantine rows, unique
// keys, cursor advance or stream offsets, ledger entry and run row. A crashed run leaves
// nothing half-written, and a rerun neither duplicates nor loses a record:
// events are unique on (source, eventID) and inserting an existing one is a
// no-op that the result counts as a duplicate.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Event is a mapped journey event.
type Event struct {
	// Source is "namespace/name" of the TouchpointSource, whose namespace
	// is Namespace; "" takes the batch's.
	Source     string
	Namespace  string
	EventID    string
	UserID     string
	Touchpoint string
	System     string
	Type       string
	// OccurredAt is kept to the microsecond, as every time in the store.
	OccurredAt time.Time
	// Amount is stored exactly as the shortest decimal that reads back as
	// this float64 (NUMERIC in PostgreSQL, decimal text in SQLite); it
	// must be finite.
	Amount *float64
	// Currency is "" when the event has none.
	Currency   string
	Attributes map[string]any
	RunID      string
	// Seq is the event's ingestion sequence (see LatestSeq), set when read
	// by ScanEvents or ScanSlices.
	Seq int64
}

// EventQuery selects events for evaluation.
type EventQuery struct {
	Sources []string
	// Users, when not nil, keeps only these users' events.
	Users []string
	// When UpToSeq > 0, only events ingested after AfterSeq and up to
	// UpToSeq (see LatestSeq).
	AfterSeq, UpToSeq int64
	// Lean leaves out what evaluation does not read: Namespace and RunID
	// come back empty. AttributesOf, when not nil, reads the attributes of
	// only the events of these touchpoints (the others' come back nil).
	// Both narrow what the database sorts.
	Lean         bool
	AttributesOf []string
}

// UserState is one user's saved evaluation state, encoded by its owner.
type UserState struct {
	User  string
	State []byte
}

// UniqueKey is a business key recorded by a unique check. A key recorded
// again keeps its latest OccurredAt, so that a key seen after its window
// opens a new window.
type UniqueKey struct {
	Source     string
	Check      string
	Key        string
	EventID    string
	OccurredAt time.Time
}

// Run is the record of one ingest run. Source "" takes the batch's.
type Run struct {
	ID          string
	Source      string
	Outcome     string
	Message     string
	StartedAt   time.Time
	FinishedAt  time.Time
	Read        int64
	Accepted    int64
	Duplicates  int64
	Quarantined int64
	Rejected    int64
	Warnings    int64
	// Amounts are decimal strings ("18234.50", "-3"), exact, or "" for
	// none; anything else is refused.
	AmountRead   string
	AmountLoaded string
	Currency     string
	Cursor       string
	ConfigHash   string
	// LedgerHash is set by the store when the run commits with a ledger
	// entry.
	LedgerHash string
}

// Batch is what commits together, in one transaction. Everything that can
// be refused without the database (an event without ID, a non-finite
// amount, an item of another source) is refused before it starts.
type Batch struct {
	// Source owns the cursor, and is the source of every item that names
	// none; an item naming another source is refused.
	Source     string
	Events     []Event
	Quarantine []QuarantineRecord
	UniqueKeys []UniqueKey
	// Cursor, when set, becomes the source's stored cursor.
	Cursor *string
	// Ledger, when set, is appended to the chain.
	Ledger *LedgerEntry
	// Run, when set, is inserted or replaced (by ID). With Ledger set, its
	// LedgerHash becomes the new entry's hash.
	Run *Run
	// Offsets, when set, advance a stream consumer's partitions, each only
	// if the store still holds it at the claim and offset the consumer
	// read from; otherwise nothing of the batch commits and the error is a
	// *StaleOffsetsError (errors.Is ErrStaleOffsets).
	Offsets *StreamCommit
	// ReportExisting asks the commit to say which of Events it did not
	// insert because the source had them stored before (CommitResult.
	// Existing): a caller committing several requests' events together
	// answers each request with what became of its own.
	ReportExisting bool
}

// CommitResult says what a commit did.
type CommitResult struct {
	// Inserted events; the others of the batch already existed, or
	// repeated an event ID earlier in the batch.
	Inserted int
	// Held quarantined records; the others were held already (a record is
	// held once).
	Held int
	// Existing, with Batch.ReportExisting, are the IDs of the batch's
	// events that were stored before the commit (nil when it inserted them
	// all). An ID repeated within the batch is not among them.
	Existing map[string]bool
	// LedgerHash of the entry appended, if any.
	LedgerHash string
}

// LedgerFilter selects ledger entries; zero fields select all.
type LedgerFilter struct {
	Source string
	Kinds  []EntryKind
	// From and To select entries written at or after From and before To.
	From, To time.Time
}

// Store is the one storage interface of the data plane.
type Store interface {
	// ExistingEvents returns which of ids the source has stored.
	ExistingEvents(ctx context.Context, source string, ids []string) (map[string]bool, error)
	// HeldInQuarantine returns which of the record hashes (RecordHash of the
	// raw record) the source has held in quarantine, whatever became of
	// them: an exact redelivery of a held record is a duplicate, not a
	// second record to review.
	HeldInQuarantine(ctx context.Context, source string, hashes []string) (map[string]bool, error)
	// ExistingKeys returns which keys of a unique check the source recorded
	// for events that occurred at or after since.
	ExistingKeys(ctx context.Context, source, check string, keys []string, since time.Time) (map[string]bool, error)
	// KnownUsers returns which user IDs have at least one event of the
	// touchpoint in the namespace, from any source.
	KnownUsers(ctx context.Context, namespace, touchpoint string, userIDs []string) (map[string]bool, error)
	// LatestSeq returns the ingestion sequence of the sources' newest event
	// (0 when none): an evaluator's watermark. Events become visible in
	// sequence order, so no event numbered at or below it appears later.
	LatestSeq(ctx context.Context, sources []string) (int64, error)
	// ScanEvents streams the events q selects ordered by user, then
	// occurredAt, then ingestion sequence: one user's events arrive
	// together, in time order, and same-time events in the order they were
	// ingested. Their attributes come as JSON (nil when none), for fn to
	// decode if it needs them. An error from fn stops the stream and is
	// returned. ev and attributes are reused for the next event: fn copies
	// what it keeps.
	ScanEvents(ctx context.Context, q EventQuery, fn func(ev *Event, attributes []byte) error) error
	// ScanSlices reads the events q selects (by Sources, UpToSeq, Lean and
	// AttributesOf; not Users) in no particular order, which spares the
	// database ScanEvents' sort, split into at most n slices of the store
	// read at once: fn(slice, …) is called from one goroutine per slice,
	// so concurrently for different slices. Every event arrives exactly
	// once, with its Seq. As with ScanEvents, fn copies what it keeps, and
	// more: ev.UserID and ev.EventID view the read buffer and are valid only
	// until fn returns; ev's other strings may be kept.
	ScanSlices(ctx context.Context, q EventQuery, n int, fn func(slice int, ev *Event, attributes []byte) error) error
	// LoadUserStates streams the per-user states saved for a journey.
	// state is reused for the next user: fn copies what it keeps.
	LoadUserStates(ctx context.Context, journey string, fn func(user string, state []byte) error) error
	// SaveUserStates writes per-user states and a journey_state document in
	// one transaction: with replace, the journey's saved states become
	// exactly these; without, these are inserted or updated. It may
	// reorder states.
	SaveUserStates(ctx context.Context, journey string, states []UserState, replace bool, key string, doc []byte) error
	// LoadState returns the JSON document an evaluator saved for a journey
	// ("namespace/name") under key, or nil if none.
	LoadState(ctx context.Context, journey, key string) ([]byte, error)
	// SaveState replaces that document.
	SaveState(ctx context.Context, journey, key string, value []byte) error
	// Cursor returns the source's stored cursor ("" if none).
	Cursor(ctx context.Context, source string) (string, error)
	// Runs returns the source's newest runs (by StartedAt), newest first;
	// limit <= 0 returns all.
	Runs(ctx context.Context, source string, limit int) ([]Run, error)
	// FindQuarantine returns the quarantined records f selects, oldest
	// first, with the review that decided each one.
	FindQuarantine(ctx context.Context, f QuarantineFilter) ([]QuarantineRecord, error)
	// Pending summarises what the sources (nil: every source) hold for
	// review, by source.
	Pending(ctx context.Context, sources []string) (map[string]PendingSummary, error)
	// Discrepancies counts what the sources' checks held, by status, with
	// how long the newest reviewed records waited for their review.
	Discrepancies(ctx context.Context, sources []string) (Discrepancies, error)
	// Commit writes a batch atomically.
	Commit(ctx context.Context, b Batch) (CommitResult, error)
	// Review releases or discards pending records of a source in one
	// transaction, with one ledger entry; a review applied again changes
	// nothing and returns what it did the first time.
	Review(ctx context.Context, r ReviewRequest) (ReviewResult, error)
	// LedgerEntries returns the ledger's entries f selects, in order.
	LedgerEntries(ctx context.Context, f LedgerFilter) ([]LedgerEntry, error)
	// Verify walks the whole chain and recomputes every entry from the rows
	// it covers. The error is a *BrokenLinkError naming the first entry
	// (or rows) that does not verify; the report says what was checked.
	Verify(ctx context.Context, o VerifyOptions) (VerifyReport, error)
	// Retire retires by policy the events that occurred before a month,
	// with a ledger entry naming who and why that keeps what the ledger
	// needs to verify the entries that covered them; from then on commits
	// refuse events before that month (a *RetiredError).
	Retire(ctx context.Context, r RetireRequest) (RetireResult, error)
	// Horizon is the retention horizon: events before it are retired
	// (zero: none are).
	Horizon(ctx context.Context) (time.Time, error)
	Close() error
}

// sourceNamespaces are the namespaces of sources ("namespace/name"): an
// event's Namespace is its source's. ok is false when a source has none.
func sourceNamespaces(sources []string) (namespaces []string, ok bool) {
	for _, s := range sources {
		ns, _, found := strings.Cut(s, "/")
		if !found {
			return nil, false
		}
		if !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	return namespaces, true
}

// RecordHash identifies a raw record by its bytes.
func RecordHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Open connects to the store a DSN names and applies its migrations:
// sqlite:///path/to/file.db (or sqlite://:memory:, a private in-memory
// database) and postgres://... (pool_max_conns=N sets the pool's size,
// 4 by default).
func Open(ctx context.Context, dsn string) (Store, error) {
	return openUpTo(ctx, dsn, "")
}

// openUpTo is Open applying the migrations up to and including version
// upTo only ("": all of them); tests use it to set up a database as an
// older journey left it.
func openUpTo(ctx context.Context, dsn, upTo string) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite://"), upTo)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, upTo)
	}
	return nil, fmt.Errorf("store DSN %q: want sqlite:///path/to/file.db or postgres://user@host/db", redact(dsn))
}

// redact hides a DSN's passwords in messages: the URL's own, password and
// sslpassword query values, and password=... of a key=value string.
func redact(dsn string) string {
	const mark = "JOURNEYREDACTED"
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		changed := false
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), mark)
			changed = true
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, mark)
				u.RawQuery = q.Encode()
				changed = true
			}
		}
		if !changed {
			return dsn
		}
		return strings.ReplaceAll(u.String(), mark, "***")
	}
	// Not a URL: redact what looks like a password.
	dsn = kvPassword.ReplaceAllString(dsn, "${1}***")
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	cred := dsn[scheme+3 : at]
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return dsn[:scheme+3] + user + ":***" + dsn[at:]
	}
	return dsn
}

var kvPassword = regexp.MustCompile(`((?:ssl)?password=)('[^']*'|[^\s&]*)`)
