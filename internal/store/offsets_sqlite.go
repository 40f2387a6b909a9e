package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

type sqliteOffsets struct{ tx *sql.Tx }

func (o sqliteOffsets) advance(ctx context.Context, source, group string, p PartitionAdvance, now time.Time) (bool, error) {
	res, err := o.tx.ExecContext(ctx, `UPDATE stream_offsets SET next_offset = ?, updated_at = ?
		WHERE source = ? AND consumer_group = ? AND topic = ? AND partition_id = ? AND epoch = ? AND next_offset = ?`,
		p.Next, fmtTime(now), source, group, p.Topic, p.Partition.Partition, p.Epoch, p.From)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (o sqliteOffsets) stored(ctx context.Context, source, group string, p Partition) (next, epoch int64, ok bool, err error) {
	err = o.tx.QueryRowContext(ctx, `SELECT next_offset, epoch FROM stream_offsets
		WHERE source = ? AND consumer_group = ? AND topic = ? AND partition_id = ?`, source, group, p.Topic, p.Partition).Scan(&next, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	return next, epoch, err == nil, err
}

func (s *sqliteStore) ClaimPartitions(ctx context.Context, source, group string, parts []Partition) ([]PartitionOffset, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim partitions of %s: %w", source, err)
	}
	defer tx.Rollback()
	now := fmtTime(time.Now())
	out := make([]PartitionOffset, 0, len(parts))
	for _, p := range parts {
		o := PartitionOffset{Partition: p}
		if err := tx.QueryRowContext(ctx, `INSERT INTO stream_offsets (source, consumer_group, topic, partition_id, next_offset, epoch, updated_at)
			VALUES (?, ?, ?, ?, -1, 1, ?)
			ON CONFLICT (source, consumer_group, topic, partition_id) DO UPDATE SET epoch = stream_offsets.epoch + 1, updated_at = excluded.updated_at
			RETURNING next_offset, epoch`, source, group, p.Topic, p.Partition, now).Scan(&o.Next, &o.Epoch); err != nil {
			return nil, fmt.Errorf("claim partition %s/%d of %s: %w", p.Topic, p.Partition, source, err)
		}
		out = append(out, o)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim partitions of %s: %w", source, err)
	}
	return out, nil
}

func (s *sqliteStore) StreamOffsets(ctx context.Context, source, group string) ([]PartitionOffset, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT topic, partition_id, next_offset, epoch FROM stream_offsets
		WHERE source = ? AND consumer_group = ? ORDER BY topic, partition_id`, source, group)
	if err != nil {
		return nil, fmt.Errorf("read stream offsets of %s: %w", source, err)
	}
	defer rows.Close()
	var out []PartitionOffset
	for rows.Next() {
		var o PartitionOffset
		if err := rows.Scan(&o.Topic, &o.Partition.Partition, &o.Next, &o.Epoch); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
