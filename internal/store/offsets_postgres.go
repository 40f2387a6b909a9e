package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

type pgOffsets struct{ tx pgx.Tx }

func (o pgOffsets) advance(ctx context.Context, source, group string, p PartitionAdvance, now time.Time) (bool, error) {
	tag, err := o.tx.Exec(ctx, `UPDATE stream_offsets SET next_offset = $1, updated_at = $2
		WHERE source = $3 AND consumer_group = $4 AND topic = $5 AND partition_id = $6 AND epoch = $7 AND next_offset = $8`,
		p.Next, now, source, group, p.Topic, p.Partition.Partition, p.Epoch, p.From)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (o pgOffsets) stored(ctx context.Context, source, group string, p Partition) (next, epoch int64, ok bool, err error) {
	err = o.tx.QueryRow(ctx, `SELECT next_offset, epoch FROM stream_offsets
		WHERE source = $1 AND consumer_group = $2 AND topic = $3 AND partition_id = $4`, source, group, p.Topic, p.Partition).Scan(&next, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	return next, epoch, err == nil, err
}

func (s *pgStore) ClaimPartitions(ctx context.Context, source, group string, parts []Partition) ([]PartitionOffset, error) {
	out := make([]PartitionOffset, 0, len(parts))
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		out = out[:0]
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		now := normTime(time.Now())
		for _, p := range parts {
			o := PartitionOffset{Partition: p}
			if err := tx.QueryRow(ctx, `INSERT INTO stream_offsets (source, consumer_group, topic, partition_id, next_offset, epoch, updated_at)
				VALUES ($1, $2, $3, $4, -1, 1, $5)
				ON CONFLICT (source, consumer_group, topic, partition_id) DO UPDATE SET epoch = stream_offsets.epoch + 1, updated_at = EXCLUDED.updated_at
				RETURNING next_offset, epoch`, source, group, p.Topic, p.Partition, now).Scan(&o.Next, &o.Epoch); err != nil {
				return fmt.Errorf("claim partition %s/%d: %w", p.Topic, p.Partition, err)
			}
			out = append(out, o)
		}
		return commitTx(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("claim partitions of %s: %w", source, err)
	}
	return out, nil
}

func (s *pgStore) StreamOffsets(ctx context.Context, source, group string) ([]PartitionOffset, error) {
	var out []PartitionOffset
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT topic, partition_id, next_offset, epoch FROM stream_offsets
			WHERE source = $1 AND consumer_group = $2 ORDER BY topic COLLATE "C", partition_id`, source, group)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o PartitionOffset
			var part int64
			if err := rows.Scan(&o.Topic, &part, &o.Next, &o.Epoch); err != nil {
				return err
			}
			o.Partition.Partition = int32(part)
			out = append(out, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read stream offsets of %s: %w", source, err)
	}
	return out, nil
}
