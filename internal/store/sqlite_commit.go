package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

func (s *sqliteStore) Commit(ctx context.Context, b Batch) (CommitResult, error) {
	p, err := prepareBatch(b, time.Now())
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, err)
	}
	inserted, held, err := s.commit(ctx, p)
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, cancelled(ctx, err))
	}
	return p.result(b, inserted, held), nil
}

// writeSQLiteEvents inserts events, each naming ledger entry entry (0:
// none), skipping those already stored (and repeats among them), and
// advances their sources' newest sequence. It returns how many it inserted
// and, under an entry, those events as the table now holds them: SQLite
// keeps the text it is given, so the entry's digest is computed from them
// without reading them back.
//
// OR IGNORE rather than ON CONFLICT DO NOTHING: the same here (the primary
// key is the table's only unique constraint, and no column written NOT
// NULL can be NULL: they are bound to Go strings), but a statement that
// can abort half-way must keep a statement journal of every page it
// changes, and with the four indexes events had then, that journal spilled
// to a temporary file on each multi-row INSERT: a fifth of a commit's time.
func writeSQLiteEvents(ctx context.Context, tx *sql.Tx, events []eventRow, sources []string, entry int64, now time.Time) (int, []digestEvent, error) {
	if len(events) > 0 {
		horizon, err := sqliteHorizon(ctx, tx)
		if err != nil {
			return 0, nil, err
		}
		if err := refuseRetired(events, horizon); err != nil {
			return 0, nil, err
		}
	}
	at := fmtTime(now)
	var entryCol any
	var returning string
	var inserted map[[2]string]bool
	var scan func(*sql.Rows) error
	if entry != 0 {
		entryCol, returning, inserted = entry, ` RETURNING source, event_id`, make(map[[2]string]bool, len(events))
		var key [2]string
		scan = func(rows *sql.Rows) error {
			if err := rows.Scan(&key[0], &key[1]); err != nil {
				return err
			}
			inserted[key] = true
			return nil
		}
	}
	n, err := insertRows(ctx, tx,
		`INSERT OR IGNORE INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at, amount, currency, attributes, run_id, ingested_at, entry) VALUES `,
		14, returning, len(events), func(i int, a []any) []any {
			e := &events[i]
			var attrs any
			if e.attrs != nil {
				attrs = string(e.attrs)
			}
			var amount any
			if e.amount != nil {
				amount = *e.amount
			}
			return append(a, e.Source, e.EventID, e.Namespace, e.UserID, e.Touchpoint, e.System, e.Type,
				fmtTime(e.OccurredAt), amount, e.Currency, attrs, e.RunID, at, entryCol)
		}, scan)
	if err != nil {
		return 0, nil, err
	}
	if len(events) > 0 {
		// The transaction is the only writer: the largest rowid is this
		// batch's newest event, or one before it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO source_seq (source, seq)
			SELECT value, (SELECT COALESCE(MAX(rowid), 0) FROM events) FROM json_each(?) WHERE true
			ON CONFLICT (source) DO UPDATE SET seq = excluded.seq`, jsonText(sources)); err != nil {
			return 0, nil, fmt.Errorf("advance the events sequence: %w", err)
		}
	}
	var rows []digestEvent
	for i := range events {
		e := &events[i]
		key := [2]string{e.Source, e.EventID}
		if !inserted[key] {
			continue
		}
		delete(inserted, key) // a repeat in the batch was ignored: the first counts
		r := digestEvent{Source: e.Source, EventID: e.EventID, Namespace: e.Namespace, UserID: e.UserID, Touchpoint: e.Touchpoint,
			System: e.System, Type: e.Type, OccurredAt: fmtTime(e.OccurredAt), Amount: e.amount, Currency: e.Currency,
			RunID: e.RunID, IngestedAt: at}
		if e.attrs != nil {
			attrs := string(e.attrs)
			r.Attributes = &attrs
		}
		rows = append(rows, r)
	}
	return n, rows, nil
}

func (s *sqliteStore) commit(ctx context.Context, p *prepared) (inserted, held int, err error) {
	tx, err := s.db.BeginTx(ctx, nil) // IMMEDIATE: see openSQLite
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	lt := &sqliteTx{tx: tx}

	// Offsets first: a stale consumer's batch fails before it writes.
	if err := advanceOffsets(ctx, sqliteOffsets{tx}, p.source, p.offsets, p.now); err != nil {
		return 0, 0, err
	}
	now := fmtTime(p.now)
	var entry any
	if p.ledger != nil {
		if err := openEntry(ctx, lt, p.ledger, p.now); err != nil {
			return 0, 0, err
		}
		entry = p.ledger.Seq
	}
	var seq int64
	if p.ledger != nil {
		seq = p.ledger.Seq
	}
	var before int64
	if p.reportExisting && len(p.events) > 0 {
		// The transaction is the only writer: rows numbered above this
		// are its own.
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM events`).Scan(&before); err != nil {
			return 0, 0, err
		}
	}
	if inserted, lt.written, err = writeSQLiteEvents(ctx, tx, p.events, p.eventSources, seq, p.now); err != nil {
		return 0, 0, fmt.Errorf("write events: %w", err)
	}
	if p.reportExisting && inserted < len(p.events) {
		if p.existing, err = sqliteExistingBefore(ctx, tx, p.events, before); err != nil {
			return 0, 0, fmt.Errorf("find the events stored before: %w", err)
		}
	}

	// A record is held once: one the source holds already is ignored.
	if held, err = insertRows(ctx, tx,
		`INSERT INTO quarantine (source, run_id, event_id, check_name, reason, raw, at, status, record_hash, hold_key, event, entry) VALUES `,
		12, ` ON CONFLICT (source, hold_key) DO NOTHING`, len(p.quarantine), func(i int, a []any) []any {
			q := &p.quarantine[i]
			return append(a, q.Source, q.RunID, q.EventID, q.Check, q.Reason, q.Raw, fmtTime(q.At), q.Status, q.hash, q.hash, q.event, entry)
		}, nil); err != nil {
		return 0, 0, fmt.Errorf("write quarantined records: %w", err)
	}

	if _, err := insertRows(ctx, tx,
		`INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at) VALUES `,
		5, ` ON CONFLICT (source, check_name, key) DO UPDATE SET event_id = excluded.event_id, occurred_at = excluded.occurred_at
			WHERE excluded.occurred_at > unique_keys.occurred_at`, len(p.keys), func(i int, a []any) []any {
			k := &p.keys[i]
			return append(a, k.Source, k.Check, k.Key, k.EventID, fmtTime(k.OccurredAt))
		}, nil); err != nil {
		return 0, 0, fmt.Errorf("write unique keys: %w", err)
	}

	if p.cursor != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO cursors (source, cursor, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
			p.source, *p.cursor, now); err != nil {
			return 0, 0, fmt.Errorf("advance cursor: %w", err)
		}
	}

	if p.ledger != nil {
		if err := sealEntry(ctx, lt, p.ledger); err != nil {
			return 0, 0, err
		}
		if p.run != nil {
			p.run.LedgerHash = p.ledger.Hash
		}
	}

	if r := p.run; r != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, source, outcome, message, started_at, finished_at, read, accepted,
			duplicates, quarantined, rejected, warnings, amount_read, amount_loaded, currency, cursor, config_hash, ledger_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET source = excluded.source, outcome = excluded.outcome, message = excluded.message,
				started_at = excluded.started_at, finished_at = excluded.finished_at, read = excluded.read,
				accepted = excluded.accepted, duplicates = excluded.duplicates, quarantined = excluded.quarantined,
				rejected = excluded.rejected, warnings = excluded.warnings, amount_read = excluded.amount_read,
				amount_loaded = excluded.amount_loaded, currency = excluded.currency, cursor = excluded.cursor,
				config_hash = excluded.config_hash, ledger_hash = excluded.ledger_hash`,
			r.ID, r.Source, r.Outcome, r.Message, fmtTime(r.StartedAt), fmtTime(r.FinishedAt), r.Read, r.Accepted,
			r.Duplicates, r.Quarantined, r.Rejected, r.Warnings, r.AmountRead, r.AmountLoaded, r.Currency, r.Cursor,
			r.ConfigHash, r.LedgerHash); err != nil {
			return 0, 0, fmt.Errorf("record run %s: %w", r.ID, err)
		}
	}

	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return inserted, held, nil
}

// insertRows writes n rows with multi-row INSERTs of up to
// sqliteRowsPerInsert rows each, row appending row i's ncol values to a.
// It returns the rows the statements affected: with ON CONFLICT DO NOTHING,
// the rows inserted. With returned, tail ends in a RETURNING clause and
// returned reads each row it returns (one per row inserted).
func insertRows(ctx context.Context, tx *sql.Tx, head string, ncol int, tail string, n int, row func(i int, a []any) []any,
	returned func(*sql.Rows) error) (int, error) {
	if n == 0 {
		return 0, nil
	}
	stmt := func(rows int) string {
		tuple := "(" + strings.Repeat("?, ", ncol-1) + "?)"
		return head + strings.Repeat(tuple+", ", rows-1) + tuple + tail
	}
	var full *sql.Stmt
	if n >= sqliteRowsPerInsert {
		var err error
		if full, err = tx.PrepareContext(ctx, stmt(sqliteRowsPerInsert)); err != nil {
			return 0, err
		}
		defer full.Close()
	}
	args := make([]any, 0, min(n, sqliteRowsPerInsert)*ncol)
	affected := 0
	for start := 0; start < n; start += sqliteRowsPerInsert {
		end := min(start+sqliteRowsPerInsert, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		if returned != nil {
			var rows *sql.Rows
			var err error
			if end-start == sqliteRowsPerInsert {
				rows, err = full.QueryContext(ctx, args...)
			} else {
				rows, err = tx.QueryContext(ctx, stmt(end-start), args...)
			}
			if err != nil {
				return 0, err
			}
			for rows.Next() {
				if err := returned(rows); err != nil {
					rows.Close()
					return 0, err
				}
				affected++
			}
			if err := rows.Close(); err != nil {
				return 0, err
			}
			if err := rows.Err(); err != nil {
				return 0, err
			}
			continue
		}
		var res sql.Result
		var err error
		if end-start == sqliteRowsPerInsert {
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, stmt(end-start), args...)
		}
		if err != nil {
			return 0, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		affected += int(k)
	}
	return affected, nil
}

// sqliteExistingBefore returns the IDs of events numbered at or below
// before, that is stored before the transaction wrote its own.
func sqliteExistingBefore(ctx context.Context, tx *sql.Tx, events []eventRow, before int64) (map[string]bool, error) {
	type key struct{ S, ID string }
	keys := make([]key, len(events))
	for i := range events {
		keys[i] = key{events[i].Source, events[i].EventID}
	}
	batch, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT e.event_id FROM json_each(?) AS b
		JOIN events e ON e.source = json_extract(b.value, '$.S') AND e.event_id = json_extract(b.value, '$.ID')
		WHERE e.rowid <= ?`, string(batch), before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}
