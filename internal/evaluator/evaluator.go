// Package evaluator is what a JourneyMap's Deployment runs: it evaluates the
// map over its sources' events on an interval, keeps the last snapshot for
// the journey map page and /metrics, and writes the counts into the map's
// status with server-side apply under its own field manager, so they sit
// beside the controller's conditions without either overwriting the other.
package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/drill"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/journey"
	"github.com/cjm-dev/journey-operator/internal/notify"
	"github.com/cjm-dev/journey-operator/internal/predict"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// FieldManager is the evaluator's server-side apply field manager.
const FieldManager = "journey-evaluator"

// StatusWriter writes a snapshot's counts into the map's status.
type StatusWriter interface {
	Apply(ctx context.Context, s journey.Snapshot) error
}

// Evaluator evaluates one journey map.
type Evaluator struct {
	cfg    runconfig.Journey
	store  store.Store
	engine *journey.Engine
	shard  journey.Shard
	// generation is the layout of shards' (see reshard.go), known once
	// restored.
	generation int
	status     StatusWriter
	metrics    *Metrics
	now        func() time.Time
	log        logr.Logger

	delivery *delivery

	// users are the map's users as of watermark, the ingestion sequence of
	// the newest event evaluated. unsaved are the users whose state changed
	// since it was last saved in the store.
	users     *journey.Users
	watermark int64
	unsaved   map[string]bool
	savedSeq  int64
	// replaceSaved: the states were all evaluated anew; the next save
	// replaces every saved one.
	replaceSaved bool
	// historyFrom: see usersDoc.HistoryFrom.
	historyFrom time.Time

	mu  sync.Mutex
	mem journey.AlertMemory
	// memUnsaved: the alert memory is not in the store yet.
	memUnsaved bool
	restored   bool
	last       journey.Snapshot

	// prediction is the churn model's last training, trained at trainedAt;
	// risks its scores.
	prediction *journey.Prediction
	trainedAt  time.Time
	risks      map[string]float64

	// drill answers the page's drill-down from the users evaluated; it
	// reads them under its lock, which catchUp takes to change them. Nil
	// when the map's page is disabled.
	drill *drill.Index
	// refresh are the users whose segments and revenue the drill-down
	// must read again; refreshAll: every user's.
	refresh    []string
	refreshAll bool
	// resolutions: how long the alerts that stopped firing had fired.
	resolutions alertResolutions
}

// alertStateKey is where the alert for-state lives in the store.
const alertStateKey = "alerts"

// Options are how the evaluator reaches its receivers.
type Options struct {
	// Secrets resolves webhook tokens (mounted files in the pod).
	Secrets connector.Secrets
	// HTTPClient for Alertmanager, webhooks and surveys; nil: a default.
	HTTPClient *http.Client
	// GeneratorURL links alerts back to the journey map page.
	GeneratorURL string
	// Shard is the users this evaluator evaluates, when the map's
	// evaluation is sharded (zero: all of them). See shard.go.
	Shard journey.Shard
}

// New compiles the map. status may be nil (no cluster).
func New(env *expr.Env, cfg runconfig.Journey, st store.Store, status StatusWriter, reg prometheus.Registerer, now func() time.Time, log logr.Logger, o Options) (*Evaluator, error) {
	eng, err := journey.NewEngine(env, cfg.Spec)
	if err != nil {
		return nil, err
	}
	shard := o.Shard
	if shard.Count == 0 {
		shard = journey.Unsharded
	}
	if err := eng.SetShard(shard); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg, cfg.Namespace, cfg.Name)
	if err != nil {
		return nil, err
	}
	interval := 5 * time.Minute
	if cfg.Spec.EvaluationInterval != nil {
		interval = cfg.Spec.EvaluationInterval.Duration
	}
	no := notify.Options{HTTPClient: o.HTTPClient, Secrets: o.Secrets, Now: now}
	d := &delivery{
		notifier: notify.New(cfg.Spec.Notify, notify.AlertOptions{ResendInterval: time.Minute, EvaluationInterval: interval, GeneratorURL: o.GeneratorURL}, no),
		feedback: notify.NewFeedback(no),
		cooldown: notify.NewCooldown(),
	}
	return &Evaluator{cfg: cfg, store: st, engine: eng, shard: shard, status: status, metrics: m, now: now, log: log, delivery: d, unsaved: map[string]bool{},
		last:  journey.Snapshot{Namespace: cfg.Namespace, Name: cfg.Name},
		drill: newDrill(cfg, eng, st, shard), refreshAll: true}, nil
}

// Last is the newest snapshot (empty before the first evaluation).
func (e *Evaluator) Last() journey.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Once evaluates the map now and saves the user states: Evaluate, then
// Persist (also after a failed evaluation, for what it did evaluate).
func (e *Evaluator) Once(ctx context.Context) (journey.Snapshot, error) {
	snap, err := e.Evaluate(ctx)
	if perr := e.Persist(ctx); err == nil && perr != nil {
		err = fmt.Errorf("saving user states: %w", perr)
	}
	return snap, err
}

// Evaluate evaluates the map now and publishes the results: metrics,
// status, alerts and surveys. The first evaluation reads every event of
// the map's sources; later ones read only the events ingested since the
// watermark, and re-evaluate just their users.
func (e *Evaluator) Evaluate(ctx context.Context) (journey.Snapshot, error) {
	start := time.Now()
	sources := make([]string, len(e.cfg.Sources))
	for i, s := range e.cfg.Sources {
		sources[i] = e.cfg.Namespace + "/" + s.Name
	}
	if err := e.restore(ctx); err != nil {
		return journey.Snapshot{}, err
	}
	if err := e.catchUp(ctx, sources); err != nil {
		return journey.Snapshot{}, fmt.Errorf("reading events: %w", err)
	}
	users := e.users
	e.train(ctx, sources)
	now := e.now()
	e.mu.Lock()
	own := e.engine.PartialWhere(users, nil, true)
	mem := e.engine.JudgeUserAlerts(&own, users, now, e.mem)
	e.mu.Unlock()
	// The Journey-scoped alerts are judged on every user's figures: this
	// evaluator's own, unless sharded; then the merging shard's merge of
	// every shard's, and the other shards judge none.
	others, err := e.otherShards(ctx)
	if err != nil {
		return journey.Snapshot{}, err
	}
	whole := own
	if len(others) > 0 {
		if whole, err = e.engine.Merge(append(others, own)...); err != nil {
			return journey.Snapshot{}, err
		}
	}
	snap, journeyMem := e.engine.SnapshotOf(e.cfg.Namespace, e.cfg.Name, whole, now, e.mem)
	if e.shard.Merges() {
		maps.Copy(mem, journeyMem)
	} else {
		snap = withoutJourneyAlerts(snap)
	}
	snap.Prediction = e.prediction
	e.mu.Lock()
	changed := e.memUnsaved || !maps.EqualFunc(mem, e.mem, time.Time.Equal)
	e.mem, e.memUnsaved = mem, false
	e.mu.Unlock()
	if changed {
		// Pending alerts keep waiting out `for`, and firing ones stay firing,
		// across a restart.
		doc, err := json.Marshal(mem)
		if err != nil {
			return journey.Snapshot{}, err
		}
		if err := e.store.SaveState(ctx, e.stateID(), alertStateKey, doc); err != nil {
			return journey.Snapshot{}, err
		}
	}
	snap.Sources = e.sourceStates(ctx)
	// Each evaluator delivers its own users' alerts and surveys.
	sent := ownAlerts(snap, own)
	if err := e.deliver(ctx, &sent, users); err != nil {
		return snap, err
	}
	own.Feedback = sent.Feedback
	if err := e.publishShard(ctx, own); err != nil {
		return snap, err
	}
	snap.Feedback = own.Feedback
	if len(others) > 0 {
		if whole, err = e.engine.Merge(append(others, own)...); err != nil {
			return snap, err
		}
		snap.Feedback = whole.Feedback
	}
	e.noteResolved(e.Last(), snap)
	e.publishDrill(ctx, users, snap)
	e.measureKPIs(ctx, &snap)
	e.mu.Lock()
	e.last = snap
	e.mu.Unlock()
	if !e.shard.Merges() {
		e.metrics.duration.Observe(time.Since(start).Seconds())
		e.metrics.evaluations.Inc()
		return snap, nil
	}
	e.metrics.observe(snap, time.Since(start))
	if e.status != nil {
		if err := e.status.Apply(ctx, snap); err != nil {
			return snap, fmt.Errorf("writing status: %w", err)
		}
	}
	return snap, nil
}

// usersStateKey is where the watermark of the saved user states lives.
const usersStateKey = "users"

// usersDoc says which events the saved user states include, and for which
// stages and alerts they were computed.
type usersDoc struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// HistoryFrom is the store's retention horizon when the states were
	// evaluated from every event: what came before it was retired, and
	// is in no state. Absent: the states hold every event's effect.
	HistoryFrom *time.Time `json:"historyFrom,omitempty"`
}

// catchUp brings e.users up to the newest event of the sources: from the
// states saved in the store when there are any for this map's stages and
// alerts, else by evaluating every event; then by evaluating the events
// ingested since.
func (e *Evaluator) catchUp(ctx context.Context, sources []string) error {
	upTo, err := e.store.LatestSeq(ctx, sources)
	if err != nil {
		return err
	}
	if e.users == nil {
		if err := e.loadUsers(ctx); err != nil {
			return err
		}
	}
	if e.users == nil {
		horizon, err := e.store.Horizon(ctx)
		if err != nil {
			return err
		}
		users, err := e.engine.EvaluateStore(ctx, e.store, sources, upTo)
		if err != nil {
			return err
		}
		e.setHistoryFrom(horizon)
		if !horizon.IsZero() {
			e.log.Info("evaluated every event left in the store: the months before the retention horizon were retired by policy, and the users' states hold nothing of them",
				"horizon", horizon)
		}
		e.metrics.behind.Set(float64(upTo))
		e.users, e.watermark, e.replaceSaved = users, upTo, true
		e.refresh, e.refreshAll = nil, true
		return nil
	}
	e.metrics.behind.Set(float64(upTo - e.watermark))
	if upTo == e.watermark {
		return nil
	}
	// The store makes events visible in sequence order, so everything new
	// is above the watermark.
	var changed []string
	var inPlace int
	err = e.mutateUsers(func() (err error) {
		changed, inPlace, err = e.engine.Update(ctx, e.store, sources, e.users, e.watermark, upTo)
		return err
	})
	if err != nil {
		// Some users may have gone on past the watermark: forget every
		// state, so that the next evaluation starts again from the saved
		// ones (or every event) instead of counting those events twice.
		e.users, e.replaceSaved = nil, false
		clear(e.unsaved)
		return err
	}
	e.metrics.lateInPlace.Add(float64(inPlace))
	for _, u := range changed {
		e.unsaved[u] = true
	}
	if !e.refreshAll {
		e.refresh = append(e.refresh, changed...)
	}
	e.watermark = upTo
	return nil
}

// loadUsers reads the user states a previous evaluator saved, if they were
// computed for this map's stages and alerts.
func (e *Evaluator) loadUsers(ctx context.Context) error {
	if !e.engine.Persistent() {
		return nil
	}
	doc, err := e.store.LoadState(ctx, e.stateID(), usersStateKey)
	if err != nil || doc == nil {
		return err
	}
	var saved usersDoc
	if err := json.Unmarshal(doc, &saved); err != nil || saved.Hash != e.engine.StateHash() {
		e.log.Info("saved user states are for another version of the map; evaluating every event again")
		return nil
	}
	users := e.engine.NewUsers()
	err = e.store.LoadUserStates(ctx, e.stateID(), func(user string, state []byte) error {
		u, err := e.engine.UnmarshalState(user, state)
		if err != nil {
			return err
		}
		users.Put(u)
		return nil
	})
	if err != nil {
		e.log.Error(err, "saved user states cannot be read; evaluating every event again")
		return nil
	}
	e.users, e.watermark = users, saved.Seq
	var from time.Time
	if saved.HistoryFrom != nil {
		from = *saved.HistoryFrom
	}
	e.setHistoryFrom(from)
	return nil
}

// setHistoryFrom records from when the users' states hold the events'
// effect (zero: from the first event).
func (e *Evaluator) setHistoryFrom(t time.Time) {
	e.historyFrom = t
	v := 0.0
	if !t.IsZero() {
		v = float64(t.Unix())
	}
	e.metrics.historyFrom.Set(v)
}

// Persist saves the states of the users not saved yet (all of them after
// a full evaluation) with the watermark, in one transaction: a restart
// goes on from there. Evaluate publishes before: saving a million states
// takes seconds, and needs not delay the results.
func (e *Evaluator) Persist(ctx context.Context) error {
	replace := e.replaceSaved
	if !e.engine.Persistent() || (!replace && len(e.unsaved) == 0 && e.savedSeq == e.watermark) {
		return nil
	}
	var states []store.UserState
	if replace {
		states = make([]store.UserState, 0, e.users.Len())
		for i := range e.users.Len() {
			u := e.users.At(i)
			states = append(states, store.UserState{User: u.User, State: u.MarshalState()})
		}
	} else {
		states = make([]store.UserState, 0, len(e.unsaved))
		for user := range e.unsaved {
			states = append(states, store.UserState{User: user, State: e.users.Get(user).MarshalState()})
		}
	}
	saved := usersDoc{Seq: e.watermark, Hash: e.engine.StateHash()}
	if !e.historyFrom.IsZero() {
		saved.HistoryFrom = &e.historyFrom
	}
	doc, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	if err := e.store.SaveUserStates(ctx, e.stateID(), states, replace, usersStateKey, doc); err != nil {
		return err
	}
	clear(e.unsaved)
	e.savedSeq, e.replaceSaved = e.watermark, false
	return nil
}

func (e *Evaluator) id() string { return e.cfg.Namespace + "/" + e.cfg.Name }

// stateID is where the evaluator's own state lives in the store: its
// users' states, alert memory and delivery records, apart from other
// shards'.
func (e *Evaluator) stateID() string { return stateIDOf(e.id(), e.shard, e.generation) }

// restore loads the alert state saved by a previous process, once.
func (e *Evaluator) restore(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.restored {
		return nil
	}
	var prev *layout
	var err error
	if e.generation, prev, err = e.resolveLayout(ctx); err != nil {
		return err
	}
	doc, err := e.store.LoadState(ctx, e.stateID(), alertStateKey)
	if err != nil {
		return err
	}
	switch {
	case doc != nil:
		if err := json.Unmarshal(doc, &e.mem); err != nil {
			return fmt.Errorf("alert state of %s: %w", e.stateID(), err)
		}
	case prev != nil:
		if e.mem, err = e.inheritAlerts(ctx, *prev); err != nil {
			return err
		}
		fallthrough
	default:
		// Saved at the first evaluation, even empty: a layout with state is
		// never taken over again.
		e.memUnsaved = true
	}
	if err := e.restoreDelivery(ctx, prev); err != nil {
		return fmt.Errorf("delivery state of %s: %w", e.stateID(), err)
	}
	if err := e.recordLayout(ctx); err != nil {
		return err
	}
	e.restored = true
	return nil
}

// Run evaluates at every interval until ctx is done; a failed evaluation is
// logged and retried at the next tick. The merging shard, waiting for the
// other shards' first figures, looks again every shardRetry.
func (e *Evaluator) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var soon <-chan time.Time
		if _, err := e.Once(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrShardsMissing) {
				e.log.Info("waiting for the other shards", "shard", e.shard.String(), "reason", err.Error())
				soon = time.After(min(interval, shardRetry))
			} else {
				e.log.Error(err, "evaluation failed; retrying at the next interval")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-soon:
		}
	}
}

// shardRetry is how soon the merging shard looks again for the other
// shards' first figures.
const shardRetry = 5 * time.Second

func (e *Evaluator) sourceStates(ctx context.Context) []journey.SourceState {
	out := make([]journey.SourceState, 0, len(e.cfg.Sources))
	for _, s := range e.cfg.Sources {
		out = append(out, journey.SourceState{Name: s.Name, Touchpoint: s.Touchpoint, System: s.System, Financial: s.Financial})
	}
	read, err := journey.ReadSourceStates(ctx, e.store, e.cfg.Namespace, out)
	if err != nil {
		e.log.Error(err, "reading the sources' last runs and what they hold for review")
		return out
	}
	return read
}

// Status is the part of a JourneyMap's status the evaluator owns.
func Status(s journey.Snapshot) v1alpha1.JourneyMapStatus {
	st := v1alpha1.JourneyMapStatus{Users: s.Users, FiringAlerts: 0}
	t := metaTime(s.EvaluatedAt)
	st.LastEvaluationTime = &t
	for _, g := range s.Stages {
		st.Stages = append(st.Stages, v1alpha1.StageStatus{Name: g.Name, Users: g.Users})
	}
	for _, f := range s.Funnel {
		st.Conversions = append(st.Conversions, v1alpha1.ConversionStatus{From: f.From, To: f.To, Rate: strconv.FormatFloat(f.Rate, 'f', 2, 64)})
	}
	for _, a := range s.Alerts {
		st.FiringAlerts += a.Firing
		st.Alerts = append(st.Alerts, v1alpha1.AlertStatus{Name: a.Name, Firing: a.Firing})
	}
	for _, f := range s.Feedback {
		st.Feedback = append(st.Feedback, v1alpha1.FeedbackStatus{Name: f.Name, Sent: f.Sent, Responses: f.Responses,
			ResponseRate: strconv.FormatFloat(f.ResponseRate, 'f', 2, 64)})
	}
	st.Prediction = predict.StatusOf(s.Prediction)
	st.KPIs = kpiStatus(s.KPIs)
	return st
}
