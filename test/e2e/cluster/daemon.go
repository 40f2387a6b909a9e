package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// daemon is one of the node's processes, its output in logs/<name>.log.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startDaemon(logDir, name, bin string, args ...string) (*daemon, error) {
	d := &daemon{name: name, done: make(chan struct{}), log: filepath.Join(logDir, name+".log")}
	f, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	// Its own process group, so that a Ctrl-C at the terminal reaches the
	// test, which stops the daemons in order, and not the daemons directly.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		f.Close()
		close(d.done)
	}()
	return d, nil
}

// exited says whether the daemon has stopped, and why.
func (d *daemon) exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s exited (%v); its log ends:\n%s", d.name, d.err, tail(d.log, 25))
	default:
		return nil
	}
}

// stop sends SIGTERM, then SIGKILL after grace (kube-apiserver has been
// seen to hang on SIGTERM).
func (d *daemon) stop(grace time.Duration) error {
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-d.done:
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", d.name, grace)
	case <-time.After(10 * time.Second):
		return errors.New(d.name + " did not die of SIGKILL")
	}
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// killProcesses kills every process whose command line contains all of
// words (containerd's shims, which outlive containerd by design).
func killProcesses(words ...string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid := 0
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, w := range words {
			all = all && strings.Contains(cmdline, w)
		}
		if all {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
