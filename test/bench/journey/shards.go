package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/cjm-dev/journey-operator/internal/evaluator"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// shardResult is what a shard process reports.
type shardResult struct {
	Shard   int
	Seconds float64
	RSS     int64
	// Users are the shard's own, but shard 0's: the merged journey's.
	Users int64
	// Journey is the merged journey (shard 0's): what must equal the
	// evaluation of every user.
	Journey *journey.Snapshot `json:",omitempty"`
	Error   string            `json:",omitempty"`
}

// runShard is a shard process: it evaluates its users of the map in cfg,
// within the memory limit of an evaluator pod, and reports on stdout.
func runShard(dsn string, cfg runconfig.Journey, shard journey.Shard) {
	res := shardResult{Shard: shard.Index}
	err := func() error {
		ctx := context.Background()
		if fullMemory > 0 {
			debug.SetMemoryLimit(fullMemory * 9 / 10)
		}
		st, err := store.Open(ctx, dsn)
		if err != nil {
			return err
		}
		defer st.Close()
		env, err := expr.NewEnv()
		if err != nil {
			return err
		}
		ev, err := evaluator.New(env, cfg, st, nil, nil, func() time.Time { return asOf }, logr.Discard(), evaluator.Options{Shard: shard})
		if err != nil {
			return err
		}
		start := time.Now()
		snap, err := ev.Evaluate(ctx)
		if err != nil {
			return err
		}
		res.Seconds, res.RSS, res.Users = time.Since(start).Seconds(), peakRSS(), snap.Users
		if shard.Merges() {
			res.Journey = &snap
		}
		return nil
	}()
	if err != nil {
		res.Error = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// benchShards runs a sharded evaluation of the map as n processes of this
// program on the database: shards 1 to n-1 at once, then shard 0, which
// merges theirs into the journey; it must equal want, one evaluation of
// every user.
func benchShards(dsn string, nUsers, nEvents, n int, want journey.Snapshot) (string, error) {
	run := func(k int) (shardResult, error) {
		var out, errOut bytes.Buffer
		cmd := exec.Command(os.Args[0], "-shard-process", strconv.Itoa(k), "-shards", strconv.Itoa(n), "-dsn", dsn,
			"-users", strconv.Itoa(nUsers), "-events", strconv.Itoa(nEvents), "-full-memory", strconv.FormatInt(fullMemory, 10))
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return shardResult{}, fmt.Errorf("shard %d of %d: %v: %s", k, n, err, errOut.String())
		}
		var res shardResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			return res, fmt.Errorf("shard %d of %d: %v: %q", k, n, err, out.String())
		}
		if res.Error != "" {
			return res, fmt.Errorf("shard %d of %d: %s", k, n, res.Error)
		}
		return res, nil
	}
	results := make([]shardResult, n)
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for k := 1; k < n; k++ {
		wg.Go(func() { results[k], errs[k] = run(k) })
	}
	wg.Wait()
	others := time.Since(start)
	results[0], errs[0] = run(0)
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %d shards, each a process (memory limit %d MiB): shards 1-%d at once %.1fs, then shard 0 with the merge %.1fs\n",
		n, fullMemory>>20, n-1, others.Seconds(), results[0].Seconds)
	got := *results[0].Journey
	own := got.Users
	for _, r := range results[1:] {
		own -= r.Users
		fmt.Fprintf(&b, "    shard %d: %7d users, %.1fs, peak RSS %d MiB\n", r.Shard, r.Users, r.Seconds, r.RSS>>20)
	}
	fmt.Fprintf(&b, "    shard 0: %7d users (%d merged), %.1fs, peak RSS %d MiB\n", own, got.Users, results[0].Seconds, results[0].RSS>>20)
	same := got.Users == want.Users && reflect.DeepEqual(got.Stages, want.Stages) && reflect.DeepEqual(got.Transitions, want.Transitions) &&
		reflect.DeepEqual(got.Funnel, want.Funnel)
	verdict := "equal to one evaluation of every user (users, stages, moves, funnel with medians)"
	if !same {
		verdict = fmt.Sprintf("DIFFERENT from one evaluation of every user: %+v vs %+v", got.Funnel, want.Funnel)
	}
	fmt.Fprintf(&b, "    merged journey: %s\n", verdict)
	if !same {
		return b.String(), fmt.Errorf("the merged journey of %d shards differs from one evaluation", n)
	}
	return b.String(), nil
}
