// Package peers_test runs journey-operator against the real programs it
// talks to in production: Debian's Alertmanager (alerts delivered, grouped,
// silenced with amtool, resolved, and delivered again after Alertmanager
// was down), Debian's Prometheus (the manager's and an evaluator's /metrics
// scraped, the manager's over HTTPS with a token the API server reviews;
// the chart's alerting rules loaded and each dashboard panel's query run),
// and promtool (the chart's rules checked and unit-tested). A program that
// is missing fails the test, naming the package and the script that
// installs it (`make test-deps` runs them all).
package peers_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// program is a binary from a Debian package.
type program struct{ path, pkg, script string }

var (
	alertmanagerProgram = program{"/usr/bin/prometheus-alertmanager", "prometheus-alertmanager", "hack/alertmanager.sh"}
	amtoolProgram       = program{"/usr/bin/amtool", "prometheus-alertmanager", "hack/alertmanager.sh"}
	prometheusProgram   = program{"/usr/bin/prometheus", "prometheus", "hack/prometheus.sh"}
	promtoolProgram     = program{"/usr/bin/promtool", "prometheus", "hack/prometheus.sh"}
)

// require fails the test (never skips) when the program is missing.
func (p program) require(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(p.path); err != nil {
		t.Fatalf("%s is missing (%v): this test runs the real program; run `make test-deps` (or bash %s), which installs Debian's %s package",
			p.path, err, p.script, p.pkg)
	}
	return p.path
}

// process is a program the test started; it is stopped at cleanup.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProcess starts bin with args, its output in a log file that a
// failing test prints.
func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s's log (%s):\n%s", name, log, p.tail(60))
		}
	})
	return p
}

// stop ends the process: SIGTERM, then SIGKILL after 10s.
func (p *process) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail is the last n lines of the process's output.
func (p *process) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort is a TCP port on 127.0.0.1 nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls url until it answers 200, failing with the process's log
// when it does not within a minute or the process exits.
func waitReady(t *testing.T, p *process, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before it was ready:\n%s", p.name, p.err, p.tail(40))
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s after a minute (%s):\n%s", p.name, url, last, p.tail(40))
}

// eventually retries check until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runProgram runs a program to completion and returns its standard output.
func runProgram(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
