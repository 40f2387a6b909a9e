package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// commitTx commits tx whatever becomes of ctx meanwhile. Cancelling a
// COMMIT already sent does not undo it on the server, it only hides the
// outcome: pgx would drop the connection and report the cancellation
// for a transaction that may have committed. A caller that cancels sees
// either success with everything written or an error with nothing.
// Only a connection lost during the COMMIT itself leaves it unknown;
// a rerun then finds the batch's events stored and counts them as
// duplicates, so nothing is lost or loaded twice.
func commitTx(ctx context.Context, tx pgx.Tx) error {
	return tx.Commit(context.WithoutCancel(ctx))
}

func (s *pgStore) Commit(ctx context.Context, b Batch) (CommitResult, error) {
	p, err := prepareBatch(b, time.Now())
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, err)
	}
	var inserted, held int
	for attempt := 1; ; attempt++ {
		inserted, held, err = s.commit(ctx, p)
		if err == nil || attempt == pgAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit batch of %s: %w", b.Source, cancelled(ctx, err))
	}
	return p.result(b, inserted, held), nil
}

// retryable says whether PostgreSQL aborted a transaction for a deadlock
// or a serialisation failure, which a retry resolves.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

var (
	eventCols      = []string{"source", "event_id", "namespace", "user_id", "touchpoint", "system", "type", "occurred_at", "amount", "currency", "attributes", "run_id", "ingested_at", "entry"}
	quarantineCols = []string{"source", "run_id", "event_id", "check_name", "reason", "raw", "at", "status", "record_hash", "hold_key", "event", "entry"}
	uniqueKeyCols  = []string{"source", "check_name", "key", "event_id", "occurred_at"}
)

// eventsSeqLock is the advisory lock key that orders event commits.
const eventsSeqLock int64 = 0x6a6f75726e6579 // "journey"

// lockEvents makes tx the only transaction writing events until it ends:
// batches of events then commit one at a time, so their sequence numbers
// are visible in order (an evaluator's watermark, LatestSeq, is never
// overtaken by a batch that commits late), and the rows a transaction
// inserted are exactly those it reads back under its ledger entry.
func lockEvents(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, eventsSeqLock); err != nil {
		return fmt.Errorf("wait for the events sequence: %w", err)
	}
	return nil
}

// advanceSourceSeq records, for each source of the events just inserted,
// the last sequence number this session took: under the events lock, no
// event committed later has a lower one.
func advanceSourceSeq(ctx context.Context, tx pgx.Tx, sources []string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO source_seq (source, seq)
		SELECT s, currval(pg_get_serial_sequence('events', 'seq')) FROM unnest($1::text[]) AS s
		ON CONFLICT (source) DO UPDATE SET seq = EXCLUDED.seq`, sources); err != nil {
		return fmt.Errorf("advance the events sequence: %w", err)
	}
	return nil
}

func (s *pgStore) commit(ctx context.Context, p *prepared) (inserted, held int, err error) {
	err = s.pool.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		lt := &pgTx{tx: tx, s: s}

		// Locks in one order everywhere: stream offsets (their rows in
		// partition order; a stale consumer's batch fails before it writes
		// anything), events, then the ledger's head.
		if err := advanceOffsets(ctx, pgOffsets{tx}, p.source, p.offsets, p.now); err != nil {
			return err
		}
		if len(p.events) > 0 {
			if err := lt.lockEvents(ctx); err != nil {
				return err
			}
		}
		var entry int64
		if p.ledger != nil {
			if err := openEntry(ctx, lt, p.ledger, p.now); err != nil {
				return err
			}
			entry = p.ledger.Seq
		}
		if inserted, err = s.writeEvents(ctx, tx, p.events, entry, p.now); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		if inserted > 0 {
			if err := advanceSourceSeq(ctx, tx, p.eventSources); err != nil {
				return err
			}
		}
		if p.reportExisting && inserted < len(p.events) {
			if p.existing, err = lt.existingBefore(ctx, p.events); err != nil {
				return fmt.Errorf("find the events stored before: %w", err)
			}
		}
		if held, err = s.writeQuarantine(ctx, tx, p, entry); err != nil {
			return fmt.Errorf("write quarantined records: %w", err)
		}
		if err := s.writeKeys(ctx, tx, p); err != nil {
			return fmt.Errorf("write unique keys: %w", err)
		}
		if p.cursor != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO cursors (source, cursor, updated_at) VALUES ($1, $2, $3)
				ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at`,
				p.source, *p.cursor, p.now); err != nil {
				return fmt.Errorf("advance cursor: %w", err)
			}
		}
		if p.ledger != nil {
			if err := sealEntry(ctx, lt, p.ledger); err != nil {
				return err
			}
			if p.run != nil {
				p.run.LedgerHash = p.ledger.Hash
			}
		}
		if r := p.run; r != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO runs (id, source, outcome, message, started_at, finished_at, read, accepted,
				duplicates, quarantined, rejected, warnings, amount_read, amount_loaded, currency, cursor, config_hash, ledger_hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
					NULLIF($13::text, '')::numeric, NULLIF($14::text, '')::numeric, $15, $16, $17, $18)
				ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, outcome = EXCLUDED.outcome, message = EXCLUDED.message,
					started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, read = EXCLUDED.read,
					accepted = EXCLUDED.accepted, duplicates = EXCLUDED.duplicates, quarantined = EXCLUDED.quarantined,
					rejected = EXCLUDED.rejected, warnings = EXCLUDED.warnings, amount_read = EXCLUDED.amount_read,
					amount_loaded = EXCLUDED.amount_loaded, currency = EXCLUDED.currency, cursor = EXCLUDED.cursor,
					config_hash = EXCLUDED.config_hash, ledger_hash = EXCLUDED.ledger_hash`,
				r.ID, r.Source, r.Outcome, r.Message, r.StartedAt, r.FinishedAt, r.Read, r.Accepted,
				r.Duplicates, r.Quarantined, r.Rejected, r.Warnings, r.AmountRead, r.AmountLoaded, r.Currency, r.Cursor,
				r.ConfigHash, r.LedgerHash); err != nil {
				return fmt.Errorf("record run %s: %w", r.ID, err)
			}
		}
		return commitTx(ctx, tx)
	})
	return inserted, held, err
}

// existingBefore returns the IDs of events that were stored before this
// transaction took the events lock: under it no other commit writes
// events, so those are the batch's keys stored but for the events this
// transaction numbered (after the newest then).
func (t *pgTx) existingBefore(ctx context.Context, events []eventRow) (map[string]bool, error) {
	src, ids := make([]string, len(events)), make([]string, len(events))
	for i := range events {
		src[i], ids[i] = events[i].Source, events[i].EventID
	}
	rows, err := t.tx.Query(ctx, `SELECT b.id FROM unnest($1::text[], $2::text[]) AS b(s, id)
		WHERE EXISTS (SELECT 1 FROM event_keys k WHERE k.event_id = b.id AND k.source = b.s)
		EXCEPT SELECT event_id FROM events WHERE seq > $3`, src, ids, t.eventsAfter)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// entryArg is a ledger entry's seq as a column value: NULL for none.
func entryArg(seq int64) *int64 {
	if seq == 0 {
		return nil
	}
	return &seq
}

// writeEvents inserts events, each naming ledger entry entry (0: none),
// skipping those already stored (and repeats among them: the first
// counts), and returns how many it inserted. tx holds the events lock.
//
// Exactly-once is event_keys' primary key (the partitioned events table
// has no unique key, see migration 0008): each event's key goes in first,
// and only the events whose key went in are written, in the batch's order
// (which is the order of their sequence numbers).
func (s *pgStore) writeEvents(ctx context.Context, tx pgx.Tx, events []eventRow, entry int64, now time.Time) (int, error) {
	n := len(events)
	if n == 0 {
		return 0, nil
	}
	if err := preparePartitions(ctx, tx, events); err != nil {
		return 0, err
	}
	if n < s.copyThreshold {
		var (
			src, id, ns, user, tp, sys, typ, cur, run = make([]string, n), make([]string, n), make([]string, n),
				make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			occurred     = make([]time.Time, n)
			amount, attr = make([]*string, n), make([]*string, n)
		)
		for i := range events {
			e := &events[i]
			src[i], id[i], ns[i], user[i], tp[i], sys[i], typ[i] = e.Source, e.EventID, e.Namespace, e.UserID, e.Touchpoint, e.System, e.Type
			occurred[i], amount[i], cur[i], run[i] = e.OccurredAt, e.amount, e.Currency, e.RunID
			if e.attrs != nil {
				a := string(e.attrs)
				attr[i] = &a
			}
		}
		tag, err := tx.Exec(ctx, `WITH t AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
					$9::text[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY AS t(s, e, ns, u, tp, sy, ty, o, a, c, at, r, ord)),
			fresh AS (INSERT INTO event_keys (event_id, source) SELECT e, s FROM t ON CONFLICT DO NOTHING RETURNING event_id, source),
			first AS (SELECT DISTINCT ON (t.s, t.e) t.* FROM t JOIN fresh ON fresh.source = t.s AND fresh.event_id = t.e ORDER BY t.s, t.e, t.ord)
			INSERT INTO events (source, event_id, namespace, user_id, touchpoint, system, type, occurred_at,
				amount, currency, attributes, run_id, ingested_at, entry)
			SELECT s, e, ns, u, tp, sy, ty, o, a::numeric, c, at::jsonb, r, $13, $14 FROM first ORDER BY ord`,
			src, id, ns, user, tp, sys, typ, occurred, amount, cur, attr, run, now, entryArg(entry))
		return int(tag.RowsAffected()), err
	}

	keys := newCopyData(2, n, 48)
	defer keys.release()
	data := newCopyData(len(eventCols), n, 256)
	defer data.release()
	for i := range events {
		e := &events[i]
		keys.row()
		keys.text(e.EventID)
		keys.text(e.Source)
		data.row()
		data.text(e.Source)
		data.text(e.EventID)
		data.text(e.Namespace)
		data.text(e.UserID)
		data.text(e.Touchpoint)
		data.text(e.System)
		data.text(e.Type)
		data.timestamptz(e.OccurredAt)
		if err := data.numeric(e.amount); err != nil {
			return 0, fmt.Errorf("event %q: %w", e.EventID, err)
		}
		data.text(e.Currency)
		data.jsonb(e.attrs)
		data.text(e.RunID)
		data.timestamptz(now)
		data.int8OrNull(entry)
	}
	rows := data.end()
	// An ingest looked its events up before committing, so a batch almost
	// always holds only new ones: their keys and then the events go
	// straight in. Should one exist after all (another run committed it
	// meanwhile, or the batch repeats an ID), the batch is staged and only
	// the events whose key went in are written.
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return 0, err
	}
	err = copyInto(ctx, sp, "event_keys", []string{"event_id", "source"}, keys.end())
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		if err := sp.Commit(ctx); err != nil {
			return 0, err
		}
		return n, copyInto(ctx, tx, "events", eventCols, rows)
	case !errors.As(err, &pgErr) || pgErr.Code != "23505": // unique_violation
		return 0, err
	}
	if err := sp.Rollback(ctx); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE events_stage (LIKE events) ON COMMIT DROP;
		ALTER TABLE events_stage DROP COLUMN seq, ADD COLUMN ord bigint GENERATED ALWAYS AS IDENTITY`); err != nil {
		return 0, err
	}
	if err := copyInto(ctx, tx, "events_stage", eventCols, rows); err != nil {
		return 0, err
	}
	cols := strings.Join(eventCols, ", ")
	tag, err := tx.Exec(ctx, `WITH fresh AS (
			INSERT INTO event_keys (event_id, source) SELECT event_id, source FROM events_stage ORDER BY ord
			ON CONFLICT DO NOTHING RETURNING event_id, source),
		first AS (SELECT DISTINCT ON (t.source, t.event_id) t.* FROM events_stage t
			JOIN fresh ON fresh.source = t.source AND fresh.event_id = t.event_id ORDER BY t.source, t.event_id, t.ord)
		INSERT INTO events (`+cols+`) SELECT `+cols+` FROM first ORDER BY ord`)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// writeQuarantine holds the batch's records under ledger entry entry (0:
// none), each once: a record the source holds already (committed
// meanwhile by another run) is skipped. It returns how many it held.
func (s *pgStore) writeQuarantine(ctx context.Context, tx pgx.Tx, p *prepared, entry int64) (int, error) {
	n := len(p.quarantine)
	if n == 0 {
		return 0, nil
	}
	const conflict = ` ON CONFLICT (source, hold_key) DO NOTHING`
	if n < s.copyThreshold {
		src, run, id, check, reason, status, hash, event := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		raw, at := make([][]byte, n), make([]time.Time, n)
		for i, q := range p.quarantine {
			src[i], run[i], id[i], check[i], reason[i], raw[i], at[i], status[i], hash[i], event[i] =
				q.Source, q.RunID, q.EventID, q.Check, q.Reason, q.Raw, q.At, q.Status, q.hash, q.event
		}
		tag, err := tx.Exec(ctx, `INSERT INTO quarantine (source, run_id, event_id, check_name, reason, raw, at, status, record_hash,
				hold_key, event, entry)
			SELECT s, r, e, c, re, ra, a, st, h, h, ev, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
				$6::bytea[], $7::timestamptz[], $8::text[], $9::text[], $11::text[]) AS t(s, r, e, c, re, ra, a, st, h, ev)`+conflict,
			src, run, id, check, reason, raw, at, status, hash, entryArg(entry), event)
		return int(tag.RowsAffected()), err
	}
	data := newCopyData(len(quarantineCols), n, 512)
	for i := range p.quarantine {
		q := &p.quarantine[i]
		data.row()
		data.text(q.Source)
		data.text(q.RunID)
		data.text(q.EventID)
		data.text(q.Check)
		data.text(q.Reason)
		data.bytes(q.Raw)
		data.timestamptz(q.At)
		data.text(q.Status)
		data.text(q.hash)
		data.text(q.hash)
		data.text(q.event)
		data.int8OrNull(entry)
	}
	defer data.release()
	merged, err := copyOrMerge(ctx, tx, "quarantine", quarantineCols, data.end(),
		`CREATE TEMP TABLE quarantine_stage (LIKE quarantine) ON COMMIT DROP; ALTER TABLE quarantine_stage DROP COLUMN id`,
		`INSERT INTO quarantine (`+strings.Join(quarantineCols, ", ")+`)
		SELECT `+strings.Join(quarantineCols, ", ")+` FROM quarantine_stage ORDER BY ctid`+conflict)
	if err != nil || merged == nil {
		return n, err
	}
	return int(merged.RowsAffected()), nil
}

// writeKeys records the batch's unique keys; a key already recorded keeps
// its latest occurrence.
func (s *pgStore) writeKeys(ctx context.Context, tx pgx.Tx, p *prepared) error {
	const upsert = ` ON CONFLICT (source, check_name, key) DO UPDATE SET event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at
		WHERE EXCLUDED.occurred_at > unique_keys.occurred_at`
	n := len(p.keys)
	if n == 0 {
		return nil
	}
	if n < s.copyThreshold {
		src, check, key, id, at := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, k := range p.keys {
			src[i], check[i], key[i], id[i], at[i] = k.Source, k.Check, k.Key, k.EventID, k.OccurredAt
		}
		_, err := tx.Exec(ctx, `INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])`+upsert,
			src, check, key, id, at)
		return err
	}
	data := newCopyData(len(uniqueKeyCols), n, 128)
	for i := range p.keys {
		k := &p.keys[i]
		data.row()
		data.text(k.Source)
		data.text(k.Check)
		data.text(k.Key)
		data.text(k.EventID)
		data.timestamptz(k.OccurredAt)
	}
	rows := data.end()
	defer data.release()
	// Keys are mostly new too (see writeEvents); one recorded before, say
	// outside its window, sends the batch's keys through the upsert.
	_, err := copyOrMerge(ctx, tx, "unique_keys", uniqueKeyCols, rows,
		`CREATE TEMP TABLE unique_keys_stage (LIKE unique_keys) ON COMMIT DROP`,
		`INSERT INTO unique_keys (source, check_name, key, event_id, occurred_at)
		SELECT source, check_name, key, event_id, occurred_at FROM unique_keys_stage`+upsert)
	return err
}

// copyOrMerge writes rows (COPY data of cols) into table. It COPYs them
// straight in, which costs about two thirds of staging them, under a
// savepoint; should a row conflict with a unique key (one stored already,
// or a repeat among the rows), it rolls that back, copies the rows into a
// staging table that stage creates, and runs merge, whose result it
// returns. It returns nil when the straight COPY succeeded.
func copyOrMerge(ctx context.Context, tx pgx.Tx, table string, cols []string, rows []byte, stage, merge string) (*pgconn.CommandTag, error) {
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return nil, err
	}
	err = copyInto(ctx, sp, table, cols, rows)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil, sp.Commit(ctx) // releases the savepoint
	case !errors.As(err, &pgErr) || pgErr.Code != "23505": // unique_violation
		return nil, err
	}
	if err := sp.Rollback(ctx); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, stage); err != nil {
		return nil, err
	}
	if err := copyInto(ctx, tx, table+"_stage", cols, rows); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, merge)
	if err != nil {
		return nil, err
	}
	return &tag, nil
}
