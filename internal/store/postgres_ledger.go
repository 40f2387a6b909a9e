package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgTx is a PostgreSQL store's open transaction as the ledger and reviews
// use it.
type pgTx struct {
	tx pgx.Tx
	s  *pgStore
	// eventsLocked says the transaction holds the events lock, so that the
	// events it inserts are those numbered after eventsAfter: an entry's
	// events are read back by that range of the seq index (events have no
	// index on entry, which every event would pay for).
	eventsLocked bool
	eventsAfter  int64
	// adopted is the entry that took older rows in, read back whole.
	adopted int64
}

const pgLedgerCols = `seq, kind, source, run_id, at, config_hash, actor, read, accepted, duplicates, quarantined, rejected,
	amount_read, amount_loaded, amount_duplicates, amount_quarantined, amount_rejected, cursor, digest, detail, prev_hash, hash`

func scanPgEntry(row pgx.Row, e *LedgerEntry) error {
	var kind string
	err := row.Scan(&e.Seq, &kind, &e.Source, &e.RunID, &e.At, &e.ConfigHash, &e.Actor, &e.Read, &e.Accepted, &e.Duplicates,
		&e.Quarantined, &e.Rejected, &e.AmountRead, &e.AmountLoaded, &e.AmountDuplicates, &e.AmountQuarantined, &e.AmountRejected,
		&e.Cursor, &e.Digest, &e.Detail, &e.PrevHash, &e.Hash)
	e.Kind, e.At = EntryKind(kind), e.At.UTC()
	return err
}

func (t *pgTx) lockHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := t.tx.QueryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash)
	return seq, hash, err
}

func (t *pgTx) covered(ctx context.Context, source string) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ledger WHERE source = $1 AND kind <> '')`, source).Scan(&ok)
	return ok, err
}

func (t *pgTx) adopt(ctx context.Context, source string, seq int64) (int64, error) {
	t.adopted = seq
	var n int64
	for _, table := range []string{"events", "quarantine"} {
		tag, err := t.tx.Exec(ctx, `UPDATE `+table+` SET entry = $2 WHERE source = $1 AND entry IS NULL`, source, seq)
		if err != nil {
			return 0, err
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// The columns of rows as digests read them, led by the entry they name.
const (
	pgDigestEventCols = `entry, source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount::text, currency,
		attributes::text, run_id, ingested_at`
	pgDigestQuarantineCols = `entry, id, source, run_id, event_id, check_name, reason, raw, at, event`
	pgDigestReviewedCols   = `reviewed_entry, id, status`
)

func scanPgDigestEvent(rows pgx.Rows, entry *int64, r *digestEvent) error {
	var occurred, ingested time.Time
	if err := rows.Scan(entry, &r.Source, &r.EventID, &r.Namespace, &r.UserID, &r.Touchpoint, &r.System, &r.Type, &occurred,
		&r.Amount, &r.Currency, &r.Attributes, &r.RunID, &ingested); err != nil {
		return err
	}
	r.OccurredAt, r.IngestedAt = fmtTime(occurred), fmtTime(ingested)
	return nil
}

func scanPgDigestQuarantine(rows pgx.Rows, entry *int64, r *digestQuarantine) error {
	var at time.Time
	if err := rows.Scan(entry, &r.ID, &r.Source, &r.RunID, &r.EventID, &r.Check, &r.Reason, &r.Raw, &at, &r.Event); err != nil {
		return err
	}
	r.RawNull, r.At = r.Raw == nil, fmtTime(at)
	return nil
}

func (t *pgTx) readEntry(ctx context.Context, seq int64, a *entryAccount) error {
	events := func(_ int64, r *digestEvent) error { return a.addEvent(r) }
	eventsWhere, eventsArgs := `WHERE entry = $1`, []any{seq}
	switch {
	case seq == t.adopted:
	case t.eventsLocked:
		// A parameter, not the number in the text: one prepared statement
		// serves every commit.
		eventsWhere, eventsArgs = `WHERE seq > $2 AND entry = $1`, []any{seq, t.eventsAfter}
	default:
		events = nil // the transaction wrote no events
	}
	if events != nil && seq != t.adopted {
		// While a large ingest runs, the table's statistics lag far behind
		// it: the planner then reads the whole table for the batch's few
		// thousand rows, every batch (quadratic in the run's size). The
		// rows are a range of the seq index; say so.
		if _, err := t.tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		defer t.tx.Exec(ctx, `SET LOCAL enable_seqscan = on`)
	}
	return pgReadRows(ctx, t.tx, eventsWhere, `WHERE entry = $1`, `WHERE reviewed_entry = $1`, eventsArgs, []any{seq},
		events,
		func(_ int64, r *digestQuarantine) error { return a.addQuarantine(r) },
		func(_ int64, r *digestReviewed) error { a.addReviewed(r); return nil })
}

// pgQuerier is a connection or a transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// pgReadRows streams the events, quarantined records and reviewed records
// that the three conditions select (a nil fn skips its table); eventsArgs
// are the events condition's arguments, args the other two's.
func pgReadRows(ctx context.Context, q pgQuerier, eventsWhere, quarantineWhere, reviewedWhere string, eventsArgs, args []any,
	events func(int64, *digestEvent) error, quarantine func(int64, *digestQuarantine) error, reviewed func(int64, *digestReviewed) error) error {
	each := func(query string, args []any, scan func(pgx.Rows) error) error {
		rows, err := q.Query(ctx, query, args...)
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
		if err := each(`SELECT `+pgDigestEventCols+` FROM events `+eventsWhere, eventsArgs, func(rows pgx.Rows) error {
			if err := scanPgDigestEvent(rows, &entry, &r); err != nil {
				return err
			}
			return events(entry, &r)
		}); err != nil {
			return err
		}
	}
	if quarantine != nil {
		var r digestQuarantine
		if err := each(`SELECT `+pgDigestQuarantineCols+` FROM quarantine `+quarantineWhere, args, func(rows pgx.Rows) error {
			if err := scanPgDigestQuarantine(rows, &entry, &r); err != nil {
				return err
			}
			return quarantine(entry, &r)
		}); err != nil {
			return err
		}
	}
	if reviewed != nil {
		var r digestReviewed
		if err := each(`SELECT `+pgDigestReviewedCols+` FROM quarantine `+reviewedWhere, args, func(rows pgx.Rows) error {
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

func (t *pgTx) appendEntry(ctx context.Context, e *LedgerEntry) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO ledger (`+pgLedgerCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		e.Seq, string(e.Kind), e.Source, e.RunID, e.At, e.ConfigHash, e.Actor, e.Read, e.Accepted, e.Duplicates, e.Quarantined,
		e.Rejected, e.AmountRead, e.AmountLoaded, e.AmountDuplicates, e.AmountQuarantined, e.AmountRejected, e.Cursor, e.Digest,
		e.Detail, e.PrevHash, e.Hash); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1`, e.Seq, e.Hash)
	return err
}

// lockEvents takes the events lock and notes the newest event's number.
func (t *pgTx) lockEvents(ctx context.Context) error {
	if t.eventsLocked {
		return nil
	}
	if err := lockEvents(ctx, t.tx); err != nil {
		return err
	}
	if err := t.tx.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM events`).Scan(&t.eventsAfter); err != nil {
		return fmt.Errorf("read the events sequence: %w", err)
	}
	t.eventsLocked = true
	return nil
}

func (t *pgTx) findReview(ctx context.Context, source, id string) (*LedgerEntry, error) {
	var e LedgerEntry
	err := scanPgEntry(t.tx.QueryRow(ctx, `SELECT `+pgLedgerCols+` FROM ledger WHERE source = $1 AND run_id = $2 AND kind = $3`,
		source, id, string(EntryReview)), &e)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func (t *pgTx) pending(ctx context.Context, source string) ([]QuarantineRecord, error) {
	return pgFindQuarantine(ctx, t.tx, QuarantineFilter{Source: source, Status: QuarantinePending}, true)
}

func (t *pgTx) insertEvents(ctx context.Context, events []eventRow, seq int64, now time.Time) error {
	if len(events) == 0 {
		return nil
	}
	if n, err := t.s.writeEvents(ctx, t.tx, events, seq, now); err != nil || n == 0 {
		return err
	}
	var sources []string
	for _, e := range events {
		if len(sources) == 0 || sources[len(sources)-1] != e.Source {
			sources = append(sources, e.Source)
		}
	}
	return advanceSourceSeq(ctx, t.tx, dedupe(sources))
}

func (t *pgTx) markReviewed(ctx context.Context, ids []int64, status string, seq int64) error {
	if len(ids) == 0 {
		return nil
	}
	tag, err := t.tx.Exec(ctx, `UPDATE quarantine SET status = $2, reviewed_entry = $3
		WHERE id = ANY($1::bigint[]) AND status = 'Pending'`, ids, status, seq)
	if err == nil && tag.RowsAffected() != int64(len(ids)) {
		err = fmt.Errorf("%d of %d records were pending", tag.RowsAffected(), len(ids))
	}
	return err
}

func (s *pgStore) Review(ctx context.Context, req ReviewRequest) (ReviewResult, error) {
	if err := req.check(); err != nil {
		return ReviewResult{}, err
	}
	var res ReviewResult
	var err error
	for attempt := 1; ; attempt++ {
		err = s.pool.with(ctx, func(c *pgx.Conn) error {
			tx, err := c.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if res, err = applyReview(ctx, &pgTx{tx: tx, s: s}, req, time.Now()); err != nil {
				return err
			}
			return commitTx(ctx, tx)
		})
		if err == nil || attempt == pgAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return ReviewResult{}, fmt.Errorf("review %s of %s: %w", req.ID, req.Source, cancelled(ctx, err))
	}
	return res, nil
}

func (s *pgStore) LedgerEntries(ctx context.Context, f LedgerFilter) ([]LedgerEntry, error) {
	where, args := `WHERE true`, []any{}
	if f.Source != "" {
		args = append(args, f.Source)
		where += fmt.Sprintf(` AND source = $%d`, len(args))
	}
	if len(f.Kinds) > 0 {
		kinds := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			kinds[i] = string(k)
		}
		args = append(args, kinds)
		where += fmt.Sprintf(` AND kind = ANY($%d::text[])`, len(args))
	}
	if !f.From.IsZero() {
		args = append(args, normTime(f.From))
		where += fmt.Sprintf(` AND at >= $%d`, len(args))
	}
	if !f.To.IsZero() {
		args = append(args, normTime(f.To))
		where += fmt.Sprintf(` AND at < $%d`, len(args))
	}
	var out []LedgerEntry
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+pgLedgerCols+` FROM ledger `+where+` ORDER BY seq`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e LedgerEntry
			if err := scanPgEntry(rows, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	return out, nil
}

func (s *pgStore) Verify(ctx context.Context, o VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		// One snapshot for the whole walk: rows and their entries agree.
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		rep, err = verify(ctx, &pgScanner{tx: tx}, o)
		return err
	})
	var broken *BrokenLinkError
	if err != nil && !errors.As(err, &broken) {
		return rep, fmt.Errorf("verify ledger: %w", err)
	}
	return rep, err
}

// pgScanner reads the ledger and the rows it covers for verify.
type pgScanner struct{ tx pgx.Tx }

func (s *pgScanner) head(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.tx.QueryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, err
}

func (s *pgScanner) entries(ctx context.Context, upTo int64, fn func(*LedgerEntry) error) error {
	rows, err := s.tx.Query(ctx, `SELECT `+pgLedgerCols+` FROM ledger WHERE seq <= $1 ORDER BY seq`, upTo)
	if err != nil {
		return err
	}
	defer rows.Close()
	var e LedgerEntry
	for rows.Next() {
		if err := scanPgEntry(rows, &e); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *pgScanner) eventsByEntry(ctx context.Context, fn func(int64, *digestEvent) error) error {
	return pgReadRows(ctx, s.tx, `WHERE entry IS NOT NULL ORDER BY entry`, ``, ``, nil, nil, fn, nil, nil)
}

func (s *pgScanner) quarantineByEntry(ctx context.Context, fn func(int64, *digestQuarantine) error) error {
	return pgReadRows(ctx, s.tx, ``, `WHERE entry IS NOT NULL ORDER BY entry`, ``, nil, nil, nil, fn, nil)
}

func (s *pgScanner) reviewedByEntry(ctx context.Context, fn func(int64, *digestReviewed) error) error {
	return pgReadRows(ctx, s.tx, ``, ``, `WHERE reviewed_entry IS NOT NULL ORDER BY reviewed_entry`, nil, nil, nil, nil, fn)
}

func (s *pgScanner) uncovered(ctx context.Context) (map[string]uncoveredRows, error) {
	out := map[string]uncoveredRows{}
	rows, err := s.tx.Query(ctx, `SELECT source, count(*), min(event_id) FROM events WHERE entry IS NULL GROUP BY source`)
	if err != nil {
		return nil, err
	}
	var src, example string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&src, &n, &example}, func() error {
		u := out[src]
		u.events, u.exampleEvent = n, example
		out[src] = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	rows, err = s.tx.Query(ctx, `SELECT source, count(*), min(id) FROM quarantine WHERE entry IS NULL GROUP BY source`)
	if err != nil {
		return nil, err
	}
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&src, &n, &id}, func() error {
		u := out[src]
		u.quarantine, u.exampleRecord = n, id
		out[src] = u
		return nil
	})
	return out, err
}

func (s *pgScanner) unreviewed(ctx context.Context) ([]QuarantineRecord, int64, error) {
	var n int64
	if err := s.tx.QueryRow(ctx, `SELECT count(*) FROM quarantine WHERE status <> 'Pending' AND reviewed_entry IS NULL`).Scan(&n); err != nil || n == 0 {
		return nil, n, err
	}
	rows, err := s.tx.Query(ctx, `SELECT id, source, status FROM quarantine WHERE status <> 'Pending' AND reviewed_entry IS NULL ORDER BY id LIMIT 5`)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QuarantineRecord, error) {
		var q QuarantineRecord
		return q, r.Scan(&q.ID, &q.Source, &q.Status)
	})
	return out, n, err
}
