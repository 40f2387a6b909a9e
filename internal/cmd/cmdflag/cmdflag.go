// Package cmdflag holds the flag values the data-plane commands share.
package cmdflag

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// List collects a repeatable flag's values.
type List []string

func (l *List) String() string     { return strings.Join(*l, ",") }
func (l *List) Set(v string) error { *l = append(*l, v); return nil }

// Time reads a flag's time: RFC 3339 or a date (midnight UTC); "" is none.
func Time(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2026-11-30T00:00:00Z) or a date (2026-11-30)", flag, v)
}

// Store opens the store the --store flag names.
func Store(ctx context.Context, dsn string) (store.Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no store: pass --store or set %s", runconfig.StoreDSNEnv)
	}
	return store.Open(ctx, dsn)
}
