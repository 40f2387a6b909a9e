// Package pgtest runs a throwaway PostgreSQL server for tests: Debian's
// server binaries, a cluster made by initdb in a temporary directory, trust
// authentication, listening on 127.0.0.1 only, stopped and deleted
// afterwards. Nothing is read from or written to a system cluster.
//
// A test that needs PostgreSQL and cannot start one fails, naming what is
// missing; it never skips.
//
//	var pg pgtest.Shared // one server per test binary
//
//	func TestMain(m *testing.M) { code := m.Run(); pg.Stop(); os.Exit(code) }
//
//	func TestX(t *testing.T) { dsn := pg.DSN(t) /* a fresh database */ }
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBin names the directory holding initdb and postgres. When it is set,
// nothing else is searched.
const EnvBin = "JOURNEY_PG_BIN"

// hint is how to get the server binaries.
const hint = "install Debian's postgresql package (apt-get install -y --no-install-recommends postgresql); .ci/run does"

// BinDir finds PostgreSQL's server binaries: $JOURNEY_PG_BIN if set, else
// the newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), else $PATH.
func BinDir() (string, error) {
	if dir := os.Getenv(EnvBin); dir != "" {
		if err := hasServer(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %v: point it at the directory holding PostgreSQL's initdb and postgres, or unset it and %s", EnvBin, dir, err, hint)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if hasServer(dir) == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); hasServer(dir) == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or $PATH: %s (or set %s to their directory)", hint, EnvBin)
}

func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasServer(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("no %s", filepath.Join(dir, name))
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", filepath.Join(dir, name))
		}
	}
	return nil
}

const dirPrefix = "journey-pgtest-"

// sweep deletes the directories of servers whose test binary was killed
// (the server itself stopped with it: see listen): those an hour old
// whose server is not running.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
			if err := syscall.Kill(pid, 0); pid > 0 && (err == nil || errors.Is(err, syscall.EPERM)) {
				continue
			}
		}
		os.RemoveAll(dir)
	}
}

// Server is a running throwaway PostgreSQL.
type Server struct {
	dir  string
	port int
	// also is an address listened on beside 127.0.0.1, trusting the
	// clients of the network allow.
	also, allow string
	cmd         *exec.Cmd
	done        chan struct{} // closed when the server process has exited
	log         string

	mu sync.Mutex
	n  int // databases created
}

// NewServer initialises a cluster in a new temporary directory and starts
// it. Stop it when done.
func NewServer(ctx context.Context) (*Server, error) { return NewServerOn(ctx, "", "") }

// NewServerOn is NewServer listening on address as well, and trusting
// the clients of the network allow (a CIDR): an end-to-end test's pods
// reach the host's server that way.
func NewServerOn(ctx context.Context, address, allow string) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	// PostgreSQL refuses to run as root: then run it as the postgres user
	// Debian's package creates, in a directory that user owns.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: need the user postgres to run it as, which is missing (%v): %s", err, hint)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	sweep()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s := &Server{dir: dir, log: filepath.Join(dir, "postgres.log"), also: address, allow: allow}
	if err := s.start(ctx, bin, cred); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	data, sock := filepath.Join(s.dir, "data"), filepath.Join(s.dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(sock, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v:\n%s", err, out)
	}
	if s.allow != "" {
		hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(hba, "host all all %s trust\n", s.allow)
		if cerr := hba.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}

	// A free port can be taken between asking and binding: try a few.
	for try := 1; ; try++ {
		err := s.listen(ctx, bin, data, sock, cred)
		if err == nil || !errors.Is(err, errExited) || try == 5 {
			return err
		}
	}
}

var errExited = errors.New("postgres exited while starting")

func (s *Server) listen(ctx context.Context, bin, data, sock string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// Durability is worthless for a cluster deleted after the tests.
	hosts := "127.0.0.1"
	if s.also != "" {
		hosts += "," + s.also
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-h", hosts, "-p", strconv.Itoa(port), "-k", sock,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=60")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Should the test binary die without stopping it, the kernel stops
	// the server (SIGINT: fast shutdown). The death signal fires when the
	// thread that started the child exits, so start it from a thread that
	// lives as long as the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
	started, done := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.done, s.port = cmd, done, port

	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := s.connect(ctx, "postgres")
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%w: %s", errExited, s.logTail())
		case <-ctx.Done():
			s.stopProcess()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopProcess()
			return fmt.Errorf("postgres did not accept connections within a minute (last: %v): %s", err, s.logTail())
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\n" + strings.Join(lines, "\n")
}

// DSN is the URL of a database of the server.
func (s *Server) DSN(database string) string { return s.DSNAt("127.0.0.1", database) }

// DSNAt is the URL of a database of the server at one of its addresses.
func (s *Server) DSNAt(host, database string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", host, s.port, database)
}

func (s *Server) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return pgx.Connect(ctx, s.DSN(database))
}

// CreateDatabase creates a new, empty database and returns its DSN.
// options follow CREATE DATABASE's name, as in "TEMPLATE template0
// LOCALE_PROVIDER icu ICU_LOCALE 'en-US'".
func (s *Server) CreateDatabase(ctx context.Context, options ...string) (string, error) {
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("test_%d", s.n)
	s.mu.Unlock()
	c, err := s.connect(ctx, "postgres")
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, strings.Join(append([]string{"CREATE DATABASE", name}, options...), " ")); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// Stop shuts the server down (fast shutdown) and deletes its directory.
func (s *Server) Stop() {
	s.stopProcess()
	os.RemoveAll(s.dir)
}

func (s *Server) stopProcess() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(15 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
	}
}

// Start starts a server of the test's own, stopped when the test ends,
// and returns the DSN of a fresh database on it. If it cannot, the test
// fails saying why.
func Start(t testing.TB) string {
	t.Helper()
	srv, err := NewServer(context.Background())
	if err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", err)
	}
	t.Cleanup(srv.Stop)
	dsn, err := srv.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", err)
	}
	return dsn
}

// Shared is one server for a whole test binary, started by the first test
// that asks for a database. Call Stop from TestMain after m.Run.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// DSN returns the DSN of a fresh database on the shared server, starting
// the server on first use. If it cannot, the test fails saying why.
func (s *Shared) DSN(t testing.TB) string {
	t.Helper()
	return s.DSNWith(t)
}

// DSNWith is DSN with CreateDatabase's options for the new database.
func (s *Shared) DSNWith(t testing.TB, options ...string) string {
	t.Helper()
	s.once.Do(func() { s.srv, s.err = NewServer(context.Background()) })
	if s.err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", s.err)
	}
	dsn, err := s.srv.CreateDatabase(context.Background(), options...)
	if err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", err)
	}
	return dsn
}

// Stop stops the shared server, if one was started.
func (s *Shared) Stop() {
	s.once.Do(func() { s.err = errors.New("stopped") })
	if s.srv != nil {
		s.srv.Stop()
	}
}
