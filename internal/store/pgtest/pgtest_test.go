package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestBinDirNamesWhatIsMissing(t *testing.T) {
	t.Setenv(EnvBin, "/nonexistent")
	_, err := BinDir()
	if err == nil {
		t.Fatal("BinDir found binaries in /nonexistent")
	}
	for _, want := range []string{"/nonexistent/initdb", "postgresql package", ".ci/run", EnvBin} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	srv, err := NewServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop()
		}
	}()
	a, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two databases, one DSN: %s", a)
	}
	c, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	var listen string
	if err := c.QueryRow(ctx, "SELECT current_setting('listen_addresses')").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if listen != "127.0.0.1" {
		t.Errorf("listens on %q, want loopback only", listen)
	}

	srv.Stop()
	stopped = true
	if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left behind: %v", srv.dir, err)
	}
	select {
	case <-srv.done:
	default:
		t.Error("server still running after Stop")
	}
}
