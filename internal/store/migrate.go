package store

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Migrations are plain SQL files, applied in name order (0001_init.sql,
// 0002_...), each once, recorded by name in schema_migrations. A file once
// released is never edited: a change is a new file.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version string // the file name
	sql     string
}

// loadMigrations returns a dialect's migrations in order, up to and
// including version upTo ("": all).
func loadMigrations(dialect, upTo string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := migrationFS.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") || (upTo != "" && e.Name() > upTo) {
			continue
		}
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// pending returns the migrations not yet applied, and refuses a database
// that a newer journey has migrated beyond what this one knows.
func pending(all []migration, applied map[string]bool) ([]migration, error) {
	known := make(map[string]bool, len(all))
	var todo []migration
	for _, m := range all {
		known[m.version] = true
		if !applied[m.version] {
			todo = append(todo, m)
		}
	}
	var unknown []string
	for v := range applied {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("the database has schema migrations this journey does not know (%s): it was used by a newer version; upgrade journey", strings.Join(unknown, ", "))
	}
	return todo, nil
}
