package runtime

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultConcurrency is how many runs of one flow may be in progress at
// once when the flow does not say.
const DefaultConcurrency = 100

// scheduler starts runs: per flow in the order they are handed over (log
// order), at most the flow's concurrency at once, and never one run twice
// at the same time.
type scheduler struct {
	rt     *Runtime
	mu     sync.Mutex
	queues map[string]*flowQueue
	active map[string]bool
}

type flowQueue struct {
	pending []queued
	running int
}

type queued struct {
	ctx context.Context
	run *Run
}

func newScheduler(rt *Runtime) *scheduler {
	return &scheduler{rt: rt, queues: map[string]*flowQueue{}, active: map[string]bool{}}
}

// enqueue runs r under ctx (cancelled when this node stops executing runs).
func (s *scheduler) enqueue(ctx context.Context, r *Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.Namespace + "\x00" + r.ID
	if s.active[key] {
		return
	}
	s.active[key] = true
	qk := r.Namespace + "\x00" + r.Flow
	q := s.queues[qk]
	if q == nil {
		q = &flowQueue{}
		s.queues[qk] = q
	}
	q.pending = append(q.pending, queued{ctx: ctx, run: r})
	s.pump(qk, q)
}

// pump starts queued runs while the flow has room; s.mu is held.
func (s *scheduler) pump(qk string, q *flowQueue) {
	for len(q.pending) > 0 {
		next := q.pending[0]
		r := next.run
		if q.running >= s.limit(r) {
			return
		}
		q.pending[0] = queued{}
		q.pending = q.pending[1:]
		q.running++
		s.rt.metrics.running.With(prometheus.Labels{"namespace": r.Namespace, "flow": r.Flow}).Inc()
		s.rt.runWG.Add(1)
		go func() {
			defer s.rt.runWG.Done()
			s.rt.execute(next.ctx, r)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.rt.metrics.running.With(prometheus.Labels{"namespace": r.Namespace, "flow": r.Flow}).Dec()
			delete(s.active, r.Namespace+"\x00"+r.ID)
			q.running--
			if q.running == 0 && len(q.pending) == 0 {
				delete(s.queues, qk)
				return
			}
			s.pump(qk, q)
		}()
	}
}

// limit is the concurrency of a run's flow version.
func (s *scheduler) limit(r *Run) int {
	c, err := s.rt.compile(r.Namespace, r.Flow, r.FlowVersion, nil)
	if err != nil || c.Flow.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return c.Flow.Concurrency
}
