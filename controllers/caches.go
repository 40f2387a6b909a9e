package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cjm-dev/journey-operator/internal/validate"
)

// CompileCache remembers, per object and generation, the problems compiling
// its expressions found. A spec only changes with its generation, and every
// source a rule selects checks that rule: without it one rule edit would
// compile the same checks once per source.
type CompileCache struct {
	mu   sync.Mutex
	last map[types.UID]compiled
}

type compiled struct {
	generation int64
	problems   validate.Problems
}

// Problems returns what compile found for obj's current generation,
// compiling only the first time.
func (c *CompileCache) Problems(obj client.Object, compile func() validate.Problems) validate.Problems {
	if c == nil {
		return compile()
	}
	c.mu.Lock()
	if got, ok := c.last[obj.GetUID()]; ok && got.generation == obj.GetGeneration() {
		c.mu.Unlock()
		return got.problems
	}
	c.mu.Unlock()
	p := compile()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[types.UID]compiled{}
	}
	c.last[obj.GetUID()] = compiled{obj.GetGeneration(), p}
	return p
}

// Announcer remembers, per object and topic, the last state an Event was
// recorded for. A reconcile may read an object from a cache that has not yet
// seen the previous reconcile's status write; recomputing the same status is
// harmless, announcing the same change twice is not.
type Announcer struct {
	mu   sync.Mutex
	last map[types.UID]map[string]string
}

// First reports whether state is new for the object's topic, and remembers it.
func (a *Announcer) First(uid types.UID, topic, state string) bool {
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		a.last = map[types.UID]map[string]string{}
	}
	if a.last[uid] == nil {
		a.last[uid] = map[string]string{}
	}
	if a.last[uid][topic] == state {
		return false
	}
	a.last[uid][topic] = state
	return true
}

// Forget drops what is remembered of a deleted object.
func (c *CompileCache) Forget(uid types.UID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, uid)
}

// Len is how many objects the cache remembers.
func (c *CompileCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.last)
}

// Forget drops what was announced of a deleted object.
func (a *Announcer) Forget(uid types.UID) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, uid)
}

// Len is how many objects the announcer remembers.
func (a *Announcer) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.last)
}

// ForgetOnDelete is the event handler that drops a deleted object's
// entries from the per-object caches, which would otherwise grow with
// every object ever reconciled. It enqueues nothing.
func ForgetOnDelete(compiled *CompileCache, announced *Announcer) handler.EventHandler {
	return handler.Funcs{DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		compiled.Forget(e.Object.GetUID())
		announced.Forget(e.Object.GetUID())
	}}
}
