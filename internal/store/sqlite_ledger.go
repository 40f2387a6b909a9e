package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// sqliteTx is a SQLite store's open transaction as the ledger and reviews
// use it. The transaction holds the database's write lock from its start
// (BEGIN IMMEDIATE): it is the only writer.
type sqliteTx struct {
	tx *sql.Tx
	// written are the events the transaction inserted under the entry it
	// opened, as stored (see writeSQLiteEvents): the entry's digest is
	// computed from them, not read back.
	written []digestEvent
	// adopted is the entry that took older rows in, read back whole.
	adopted int64
}

// sqliteQuerier is a database or a transaction.
type sqliteQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const sqliteLedgerCols = pgLedgerCols

type scanner interface{ Scan(dest ...any) error }

func scanSQLiteEntry(row scanner, e *LedgerEntry) error {
	var kind, at string
	if err := row.Scan(&e.Seq, &kind, &e.Source, &e.RunID, &at, &e.ConfigHash, &e.Actor, &e.Read, &e.Accepted, &e.Duplicates,
		&e.Quarantined, &e.Rejected, &e.AmountRead, &e.AmountLoaded, &e.AmountDuplicates, &e.AmountQuarantined, &e.AmountRejected,
		&e.Cursor, &e.Digest, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return err
	}
	e.Kind = EntryKind(kind)
	var err error
	if e.At, err = parseTime(at); err != nil {
		return &BrokenLinkError{Seq: e.Seq, Reason: fmt.Sprintf("time %q does not parse: %v", at, err)}
	}
	return nil
}

func (t *sqliteTx) lockHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := t.tx.QueryRowContext(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, err
}

func (t *sqliteTx) covered(ctx context.Context, source string) (bool, error) {
	var ok bool
	err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM ledger WHERE source = ? AND kind <> '')`, source).Scan(&ok)
	return ok, err
}

func (t *sqliteTx) adopt(ctx context.Context, source string, seq int64) (int64, error) {
	t.adopted = seq
	var n int64
	for _, table := range []string{"events", "quarantine"} {
		res, err := t.tx.ExecContext(ctx, `UPDATE `+table+` SET entry = ? WHERE source = ? AND entry IS NULL`, seq, source)
		if err != nil {
			return 0, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

const (
	sqliteDigestEventCols = `entry, source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency,
		attributes, run_id, ingested_at`
	sqliteDigestQuarantineCols = `entry, id, source, run_id, event_id, check_name, reason, raw, at, event`
	sqliteDigestReviewedCols   = `reviewed_entry, id, status`
)

// sqliteReadRows streams the events, quarantined records and reviewed
// records that the three conditions select (a nil fn skips its table).
func sqliteReadRows(ctx context.Context, q sqliteQuerier, eventsWhere, quarantineWhere, reviewedWhere string, args []any,
	events func(int64, *digestEvent) error, quarantine func(int64, *digestQuarantine) error, reviewed func(int64, *digestReviewed) error) error {
	each := func(query string, scan func(*sql.Rows) error) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var entry int64
	if events != nil {
		var r digestEvent
		var amount, attrs sql.NullString
		if err := each(`SELECT `+sqliteDigestEventCols+` FROM events `+eventsWhere, func(rows *sql.Rows) error {
			if err := rows.Scan(&entry, &r.Source, &r.EventID, &r.Namespace, &r.UserID, &r.Touchpoint, &r.System, &r.Type,
				&r.OccurredAt, &amount, &r.Currency, &attrs, &r.RunID, &r.IngestedAt); err != nil {
				return err
			}
			r.Amount, r.Attributes = nullable(amount), nullable(attrs)
			return events(entry, &r)
		}); err != nil {
			return err
		}
	}
	if quarantine != nil {
		var r digestQuarantine
		if err := each(`SELECT `+sqliteDigestQuarantineCols+` FROM quarantine `+quarantineWhere, func(rows *sql.Rows) error {
			r.Raw = nil
			if err := rows.Scan(&entry, &r.ID, &r.Source, &r.RunID, &r.EventID, &r.Check, &r.Reason, &r.Raw, &r.At, &r.Event); err != nil {
				return err
			}
			r.RawNull = r.Raw == nil
			return quarantine(entry, &r)
		}); err != nil {
			return err
		}
	}
	if reviewed != nil {
		var r digestReviewed
		if err := each(`SELECT `+sqliteDigestReviewedCols+` FROM quarantine `+reviewedWhere, func(rows *sql.Rows) error {
			if err := rows.Scan(&entry, &r.ID, &r.Status); err != nil {
				return err
			}
			return reviewed(entry, &r)
		}); err != nil {
			return err
		}
	}
	return nil
}

func nullable(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func (t *sqliteTx) readEntry(ctx context.Context, seq int64, a *entryAccount) error {
	var events func(int64, *digestEvent) error
	if seq == t.adopted {
		events = func(_ int64, r *digestEvent) error { return a.addEvent(r) }
	} else {
		for i := range t.written {
			if err := a.addEvent(&t.written[i]); err != nil {
				return err
			}
		}
	}
	return sqliteReadRows(ctx, t.tx, `WHERE entry = ?`, `WHERE entry = ?`, `WHERE reviewed_entry = ?`, []any{seq},
		events,
		func(_ int64, r *digestQuarantine) error { return a.addQuarantine(r) },
		func(_ int64, r *digestReviewed) error { a.addReviewed(r); return nil })
}

func (t *sqliteTx) appendEntry(ctx context.Context, e *LedgerEntry) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO ledger (`+sqliteLedgerCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, string(e.Kind), e.Source, e.RunID, fmtTime(e.At), e.ConfigHash, e.Actor, e.Read, e.Accepted, e.Duplicates,
		e.Quarantined, e.Rejected, e.AmountRead, e.AmountLoaded, e.AmountDuplicates, e.AmountQuarantined, e.AmountRejected,
		e.Cursor, e.Digest, e.Detail, e.PrevHash, e.Hash); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash)
	return err
}

// lockEvents does nothing: the transaction holds SQLite's write lock from
// its start (BEGIN IMMEDIATE).
func (t *sqliteTx) lockEvents(context.Context) error { return nil }

func (t *sqliteTx) findReview(ctx context.Context, source, id string) (*LedgerEntry, error) {
	var e LedgerEntry
	err := scanSQLiteEntry(t.tx.QueryRowContext(ctx, `SELECT `+sqliteLedgerCols+` FROM ledger WHERE source = ? AND run_id = ? AND kind = ?`,
		source, id, string(EntryReview)), &e)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func (t *sqliteTx) pending(ctx context.Context, source string) ([]QuarantineRecord, error) {
	return sqliteFindQuarantine(ctx, t.tx, QuarantineFilter{Source: source, Status: QuarantinePending})
}

func (t *sqliteTx) insertEvents(ctx context.Context, events []eventRow, seq int64, now time.Time) error {
	var sources []string
	for _, e := range events {
		sources = append(sources, e.Source)
	}
	_, written, err := writeSQLiteEvents(ctx, t.tx, events, dedupe(sources), seq, now)
	t.written = append(t.written, written...)
	return err
}

func (t *sqliteTx) markReviewed(ctx context.Context, ids []int64, status string, seq int64) error {
	for start := 0; start < len(ids); start += sqliteChunk {
		chunk := ids[start:min(start+sqliteChunk, len(ids))]
		res, err := t.tx.ExecContext(ctx, `UPDATE quarantine SET status = ?, reviewed_entry = ?
			WHERE id IN (SELECT value FROM json_each(?)) AND status = 'Pending'`, status, seq, jsonInts(chunk))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			return fmt.Errorf("%d of %d records were pending (%v)", n, len(chunk), err)
		}
	}
	return nil
}

func jsonInts(ids []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, id)
	}
	b.WriteByte(']')
	return b.String()
}

func (s *sqliteStore) Review(ctx context.Context, req ReviewRequest) (ReviewResult, error) {
	if err := req.check(); err != nil {
		return ReviewResult{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil) // IMMEDIATE: see openSQLite
	if err != nil {
		return ReviewResult{}, fmt.Errorf("review %s of %s: %w", req.ID, req.Source, err)
	}
	defer tx.Rollback()
	res, err := applyReview(ctx, &sqliteTx{tx: tx}, req, time.Now())
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return ReviewResult{}, fmt.Errorf("review %s of %s: %w", req.ID, req.Source, cancelled(ctx, err))
	}
	return res, nil
}

func (s *sqliteStore) LedgerEntries(ctx context.Context, f LedgerFilter) ([]LedgerEntry, error) {
	where, args := `WHERE 1`, []any{}
	if f.Source != "" {
		where, args = where+` AND source = ?`, append(args, f.Source)
	}
	if len(f.Kinds) > 0 {
		kinds := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			kinds[i] = string(k)
		}
		where, args = where+` AND kind IN (SELECT value FROM json_each(?))`, append(args, jsonText(kinds))
	}
	if !f.From.IsZero() {
		where, args = where+` AND at >= ?`, append(args, fmtTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = where+` AND at < ?`, append(args, fmtTime(f.To))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqliteLedgerCols+` FROM ledger `+where+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	defer rows.Close()
	var out []LedgerEntry
	for rows.Next() {
		var e LedgerEntry
		if err := scanSQLiteEntry(rows, &e); err != nil {
			return nil, fmt.Errorf("read the ledger: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	return out, nil
}

func (s *sqliteStore) Verify(ctx context.Context, o VerifyOptions) (VerifyReport, error) {
	// No snapshot: rows name their entries, and everything past the head
	// read first is left out.
	rep, err := verify(ctx, &sqliteScanner{db: s.db}, o)
	var broken *BrokenLinkError
	if err != nil && !errors.As(err, &broken) {
		return rep, fmt.Errorf("verify ledger: %w", err)
	}
	return rep, err
}

// sqliteScanner reads the ledger and the rows it covers for verify.
type sqliteScanner struct{ db *sql.DB }

func (s *sqliteScanner) head(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, err
}

func (s *sqliteScanner) entries(ctx context.Context, upTo int64, fn func(*LedgerEntry) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqliteLedgerCols+` FROM ledger WHERE seq <= ? ORDER BY seq`, upTo)
	if err != nil {
		return err
	}
	defer rows.Close()
	var e LedgerEntry
	for rows.Next() {
		if err := scanSQLiteEntry(rows, &e); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqliteScanner) eventsByEntry(ctx context.Context, fn func(int64, *digestEvent) error) error {
	return sqliteReadRows(ctx, s.db, `WHERE entry IS NOT NULL ORDER BY entry`, ``, ``, nil, fn, nil, nil)
}

func (s *sqliteScanner) quarantineByEntry(ctx context.Context, fn func(int64, *digestQuarantine) error) error {
	return sqliteReadRows(ctx, s.db, ``, `WHERE entry IS NOT NULL ORDER BY entry`, ``, nil, nil, fn, nil)
}

func (s *sqliteScanner) reviewedByEntry(ctx context.Context, fn func(int64, *digestReviewed) error) error {
	return sqliteReadRows(ctx, s.db, ``, ``, `WHERE reviewed_entry IS NOT NULL ORDER BY reviewed_entry`, nil, nil, nil, fn)
}

func (s *sqliteScanner) uncovered(ctx context.Context) (map[string]uncoveredRows, error) {
	out := map[string]uncoveredRows{}
	rows, err := s.db.QueryContext(ctx, `SELECT source, count(*), min(event_id) FROM events WHERE entry IS NULL GROUP BY source`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var src, example string
		var n int64
		if err := rows.Scan(&src, &n, &example); err != nil {
			rows.Close()
			return nil, err
		}
		u := out[src]
		u.events, u.exampleEvent = n, example
		out[src] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT source, count(*), min(id) FROM quarantine WHERE entry IS NULL GROUP BY source`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var src string
		var n, id int64
		if err := rows.Scan(&src, &n, &id); err != nil {
			return nil, err
		}
		u := out[src]
		u.quarantine, u.exampleRecord = n, id
		out[src] = u
	}
	return out, rows.Err()
}

func (s *sqliteScanner) unreviewed(ctx context.Context) ([]QuarantineRecord, int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE status <> 'Pending' AND reviewed_entry IS NULL`).Scan(&n); err != nil || n == 0 {
		return nil, n, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, source, status FROM quarantine WHERE status <> 'Pending' AND reviewed_entry IS NULL ORDER BY id LIMIT 5`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []QuarantineRecord
	for rows.Next() {
		var q QuarantineRecord
		if err := rows.Scan(&q.ID, &q.Source, &q.Status); err != nil {
			return nil, 0, err
		}
		out = append(out, q)
	}
	return out, n, rows.Err()
}
