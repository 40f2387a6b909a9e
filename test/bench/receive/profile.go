package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/cmd/receive"
	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
)

// machineCPU is the machine's busy and total CPU time so far (/proc/stat),
// to tell a phase bound by CPU from one bound by waiting.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// busyShare is the share of the machine's CPU used since (busy0, total0).
func busyShare(busy0, total0 int64) float64 {
	busy, total := machineCPU()
	if total == total0 {
		return 0
	}
	return float64(busy-busy0) / float64(total-total0)
}

// profileJourney runs `journey receive` in this process on a fresh
// database and sends it one round's deliveries with a CPU profile written
// to file (-cpuprofile), instead of the phase's rounds. The profile has the
// load generator in it too, apart from the receiver's frames.
func profileJourney(ctx context.Context, srv *pgtest.Server, cfg config, ph phase, folder, file string) error {
	dsn, err := srv.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- receive.Run(rctx, []string{"-f", folder, "--source", ph.source, "--store", dsn, "--listen", addr})
	}()
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			return fmt.Errorf("journey receive: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	ds := ph.makeDeliveries(1)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	busy0, total0 := machineCPU()
	elapsed, err := send("http://"+addr+ph.path, cfg.clients, ds)
	share := busyShare(busy0, total0)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	fmt.Printf("  in-process journey receive: %.2f s, %.0f/s, machine busy %.0f%%; CPU profile in %s\n",
		elapsed.Seconds(), float64(len(ds))/elapsed.Seconds(), 100*share, file)
	return nil
}
