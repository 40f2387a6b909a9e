package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL keeps events in one partition per month of occurred_at (UTC),
// made when a commit first writes an event of that month. Retire drops
// whole months.

// month is the first instant of t's month, in UTC.
func month(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// monthPartition names the partition holding month m's events, as
// migration 0008 names them.
func monthPartition(m time.Time) string {
	return fmt.Sprintf("events_y%04dm%02d", m.Year(), int(m.Month()))
}

// RetiredError refuses an event that occurred before the store's retention
// horizon: its month was retired (its partition dropped, its keys with
// it), so storing it again would bring back what the policy removed and
// could no longer tell a redelivery from a new event.
type RetiredError struct {
	Source, EventID     string
	OccurredAt, Horizon time.Time
}

func (e *RetiredError) Error() string {
	return fmt.Sprintf("event %q of %s occurred at %s, before the store's retention horizon %s: that month's events were retired by policy",
		e.EventID, e.Source, e.OccurredAt.UTC().Format(time.RFC3339), e.Horizon.UTC().Format(time.RFC3339))
}

// refuseRetired returns a RetiredError for the first event before horizon
// (zero: no horizon).
func refuseRetired(events []eventRow, horizon time.Time) error {
	if horizon.IsZero() {
		return nil
	}
	for i := range events {
		if e := &events[i]; e.OccurredAt.Before(horizon) {
			return &RetiredError{Source: e.Source, EventID: e.EventID, OccurredAt: e.OccurredAt, Horizon: horizon}
		}
	}
	return nil
}

// pgHorizon reads the retention horizon (zero: none).
func pgHorizon(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (time.Time, error) {
	var h *time.Time
	if err := q.QueryRow(ctx, `SELECT horizon FROM retention WHERE id = 1`).Scan(&h); err != nil {
		return time.Time{}, fmt.Errorf("read the retention horizon: %w", err)
	}
	if h == nil {
		return time.Time{}, nil
	}
	return h.UTC(), nil
}

// preparePartitions refuses events before the retention horizon and makes
// the partitions of the events' months that do not exist yet. tx holds the
// events lock, which Retire takes too: no other commit makes a partition
// meanwhile, and the horizon does not move. A new partition is made as a
// table of its own and attached, which takes a lock on events that readers
// and writers do not wait for (creating it as a partition would make every
// query of events wait for the longest one running).
func preparePartitions(ctx context.Context, tx pgx.Tx, events []eventRow) error {
	horizon, err := pgHorizon(ctx, tx)
	if err != nil {
		return err
	}
	if err := refuseRetired(events, horizon); err != nil {
		return err
	}
	months := map[time.Time]bool{}
	for i := range events {
		months[month(events[i].OccurredAt)] = true
	}
	names := make([]string, 0, len(months))
	byName := make(map[string]time.Time, len(months))
	for m := range months {
		names = append(names, monthPartition(m))
		byName[monthPartition(m)] = m
	}
	sort.Strings(names)
	rows, err := tx.Query(ctx, `SELECT n FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NULL`, names)
	if err != nil {
		return fmt.Errorf("look up the events partitions: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("look up the events partitions: %w", err)
	}
	for _, name := range missing {
		m := byName[name]
		id := pgx.Identifier{name}.Sanitize()
		from, to := m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339)
		if _, err := tx.Exec(ctx, `CREATE TABLE `+id+` (LIKE events INCLUDING DEFAULTS)`); err != nil {
			return fmt.Errorf("make the events partition %s: %w", name, err)
		}
		// A constraint that implies the bounds spares the attach a scan.
		if _, err := tx.Exec(ctx, `ALTER TABLE `+id+` ADD CONSTRAINT `+pgx.Identifier{name + "_month"}.Sanitize()+
			` CHECK (occurred_at >= '`+from+`' AND occurred_at < '`+to+`')`); err != nil {
			return fmt.Errorf("make the events partition %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE events ATTACH PARTITION `+id+` FOR VALUES FROM ('`+from+`') TO ('`+to+`')`); err != nil {
			return fmt.Errorf("attach the events partition %s: %w", name, err)
		}
	}
	return nil
}
