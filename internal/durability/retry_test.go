package durability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestRetryAfterClientTimeout is the everyday cousin of a crash: producers
// whose requests time out on their side (the server sees the connection
// close mid-append) and who retry the same events until they get an answer.
// Whatever was stored by an abandoned attempt, each event must end up in the
// log exactly once.
func TestRetryAfterClientTimeout(t *testing.T) {
	t.Parallel()
	s := seed(t)
	dir := t.TempDir()
	c1 := startChild(t, childConfig{DataDir: dir})
	c1.waitReady(30 * time.Second)
	w := newWorkload(fmt.Sprintf("retry-%d", s))
	l := newLedger()
	l.retries = true

	var wg sync.WaitGroup
	var mu sync.Mutex
	attempts, abandoned := 0, 0
	modes := make(map[identity]mode)
	start := time.Now()
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{w: w, id: i, rng: rand.New(rand.NewPCG(s, uint64(i)))}
			for time.Since(start) < 1500*time.Millisecond {
				req := appendRequest{Mode: modeBatch, Events: make([]testEvent, 100)}
				if c.rng.IntN(3) == 0 {
					req = appendRequest{Mode: modeAtomic, Events: make([]testEvent, 20)}
				}
				mu.Lock()
				for k := range req.Events {
					req.Events[k] = c.event(c.subject())
					modes[req.Events[k].identity()] = req.Mode
				}
				mu.Unlock()
				// Give up after a short while, then retry the very same
				// request with more patience, as producers do.
				timeout := time.Duration(1+c.rng.IntN(15)) * time.Millisecond
				for {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					outs := send(ctx, c1.URL, req)
					cancel()
					mu.Lock()
					attempts++
					mu.Unlock()
					if outs[0].Kind == uncertain && outs[0].Prob == nil {
						mu.Lock()
						abandoned++
						mu.Unlock()
						if timeout *= 2; timeout > httpClient.Timeout {
							t.Errorf("no answer to a batch of %d after retries up to %v: %v", len(req.Events), timeout/2, outs[0].Err)
							return
						}
						continue
					}
					// Only the final answer counts; earlier attempts
					// may or may not have stored some of the events.
					l.note(req, outs)
					break
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests, %d abandoned by the client and retried", attempts, abandoned)

	var f failures
	li := indexLog(t, c1.URL, &f)
	l.mu.Lock()
	copies := make(map[identity]int)
	for _, r := range li.records {
		if ev, err := r.decode(); err == nil {
			copies[identity{ev.Source, ev.ID}]++
		}
	}
	doubled := make(map[mode]int)
	for id, n := range copies {
		if n > 1 {
			doubled[modes[id]]++
		}
	}
	if len(doubled) > 0 {
		t.Errorf("events stored more than once, by request mode: %d in batches, %d in atomic batches", doubled[modeBatch], doubled[modeAtomic])
	}
	for id, a := range l.acked {
		r, ok := li.byID[id]
		switch {
		case !ok:
			f.add("LOST", "%s acknowledged at %d", id, a.Result.Position)
		case r.Position != a.Result.Position:
			f.add("final answer is not the stored copy", "%s answered %d (duplicate %v), log has it first at %d", id, a.Result.Position, a.Result.Duplicate, r.Position)
		}
	}
	for _, u := range l.unexpected {
		f.add("unexpected answer", "%s", u)
	}
	t.Logf("log %d events, %d acknowledged", len(li.records), len(l.acked))
	if len(l.acked) == 0 {
		f.add("nothing acknowledged", "the clients gave up on every request")
	}
	l.mu.Unlock()
	f.report(t)
}
