package durability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// seed returns the seed of a randomized test, from ENSUE_DURABILITY_SEED
// when set (to replay a failure's choices), and logs it.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("ENSUE_DURABILITY_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("ENSUE_DURABILITY_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (replay the client choices with ENSUE_DURABILITY_SEED=%d)", s, s)
	return s
}

// sentRequest is a request and what each of its events answered.
type sentRequest struct {
	Req      appendRequest
	Outcomes []outcome
}

// ledger is what the clients know: every acknowledged event with its
// answer, every event refused by a version check, and every request whose
// outcome is unknown.
type ledger struct {
	mu        sync.Mutex
	acked     map[identity]ackedEvent
	rejected  map[identity]testEvent
	uncertain []sentRequest
	// complete are requests of several events all acknowledged, to re-send
	// whole.
	complete   []sentRequest
	unexpected []string
	requests   int
	// retries: the clients re-send requests that got no answer, so a
	// first answer may be a duplicate.
	retries bool
}

type ackedEvent struct {
	Event  testEvent
	Result appendResult
	Mode   mode
	// At is when the answer arrived.
	At time.Time
}

func newLedger() *ledger {
	return &ledger{acked: make(map[identity]ackedEvent), rejected: make(map[identity]testEvent)}
}

// note records the outcomes of one request.
func (l *ledger) note(req appendRequest, outs []outcome) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	allAcked, anyUncertain := true, false
	for i, o := range outs {
		e := req.Events[i]
		switch o.Kind {
		case acked:
			if o.Result.Duplicate && !l.retries {
				l.unexpected = append(l.unexpected, fmt.Sprintf("%s: first send of %s answered duplicate (position %d)", req.Mode, e.identity(), o.Result.Position))
			}
			l.acked[e.identity()] = ackedEvent{Event: e, Result: o.Result, Mode: req.Mode, At: now}
		case rejected:
			allAcked = false
			l.rejected[e.identity()] = e
		case uncertain:
			allAcked, anyUncertain = false, true
		case unexpected:
			allAcked = false
			l.unexpected = append(l.unexpected, fmt.Sprintf("%s: %s: %v", req.Mode, e.identity(), o.Err))
		}
	}
	if anyUncertain {
		l.uncertain = append(l.uncertain, sentRequest{Req: req, Outcomes: outs})
	}
	if allAcked && len(req.Events) > 1 {
		l.complete = append(l.complete, sentRequest{Req: req, Outcomes: outs})
	}
}

// workload generates the clients' requests.
type workload struct {
	source  string // per test, so that identities never meet across tests
	streams []string
	hot     []string

	hotMu  sync.Mutex
	hotVer map[string]uint64 // the clients' best knowledge of the hot streams' versions
}

func newWorkload(name string) *workload {
	w := &workload{source: "urn:ensue:durability:" + name, hotVer: make(map[string]uint64)}
	for k := range 200 {
		// Some names need escaping in subjects and URL paths.
		if k%10 == 0 {
			w.streams = append(w.streams, fmt.Sprintf("account/%03d", k))
		} else {
			w.streams = append(w.streams, fmt.Sprintf("account-%03d", k))
		}
	}
	for k := range 4 {
		w.hot = append(w.hot, fmt.Sprintf("hot %d", k))
	}
	return w
}

// client is one producer goroutine's state.
type client struct {
	w   *workload
	id  int
	n   int
	rng *rand.Rand
}

func (c *client) event(subject string) testEvent {
	c.n++
	data, _ := json.Marshal(map[string]any{
		"client": c.id,
		"n":      c.n,
		"amount": c.rng.IntN(1_000_000),
		"note":   strings.Repeat("x", c.rng.IntN(200)),
	})
	return testEvent{
		ID:      fmt.Sprintf("c%d-%d", c.id, c.n),
		Source:  c.w.source,
		Type:    "durability.test.appended",
		Subject: subject,
		Data:    data,
	}
}

func (c *client) subject() string {
	if c.rng.IntN(5) == 0 {
		return "" // an event of no stream
	}
	return c.w.streams[c.rng.IntN(len(c.w.streams))]
}

// next builds the client's next request.
func (c *client) next() appendRequest {
	switch r := c.rng.IntN(100); {
	case r < 30:
		return appendRequest{Mode: modeStructured, Events: []testEvent{c.event(c.subject())}}
	case r < 40:
		return appendRequest{Mode: modeBinary, Events: []testEvent{c.event(c.subject())}}
	case r < 70:
		evs := make([]testEvent, 50)
		for i := range evs {
			evs[i] = c.event(c.subject())
		}
		return appendRequest{Mode: modeBatch, Events: evs}
	case r < 78:
		evs := make([]testEvent, 10)
		for i := range evs {
			evs[i] = c.event(c.subject())
		}
		return appendRequest{Mode: modeAtomic, Events: evs}
	default:
		// An optimistic-concurrency append to a hot stream, at the version
		// this client believes current: concurrent clients conflict.
		s := c.w.hot[c.rng.IntN(len(c.w.hot))]
		c.w.hotMu.Lock()
		v := c.w.hotVer[s]
		c.w.hotMu.Unlock()
		e := c.event(s)
		e.Expected, e.HasExpected = v, true
		m := modeStructured
		if c.rng.IntN(3) == 0 {
			m = modeBinary
		}
		return appendRequest{Mode: m, Events: []testEvent{e}}
	}
}

// learn updates the hot streams' versions from an answer.
func (c *client) learn(req appendRequest, outs []outcome) {
	if len(req.Events) != 1 || !req.Events[0].HasExpected {
		return
	}
	s := req.Events[0].Subject
	var v uint64
	switch o := outs[0]; {
	case o.Kind == acked:
		v = o.Result.version()
	case o.Kind == rejected && o.Prob.CurrentVersion != nil:
		v = *o.Prob.CurrentVersion
	default:
		return
	}
	c.w.hotMu.Lock()
	c.w.hotVer[s] = max(c.w.hotVer[s], v)
	c.w.hotMu.Unlock()
}

// target is the server the clients talk to; a test points it at a new
// child after a restart, and clients that lost their server wait for that.
type target struct {
	mu      sync.Mutex
	url     string
	changed chan struct{}
}

func newTarget(url string) *target { return &target{url: url, changed: make(chan struct{})} }

func (tg *target) get() (string, <-chan struct{}) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.url, tg.changed
}

func (tg *target) set(url string) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.url = url
	close(tg.changed)
	tg.changed = make(chan struct{})
}

// runLoad runs n clients against tg until stop is closed; wait returns once
// every request in flight has its answer (or its error). A client whose
// server is gone waits for tg to change; one told 503 backs off briefly, as
// a producer should.
func runLoad(tg *target, w *workload, n int, seed uint64, stop <-chan struct{}, l *ledger) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{w: w, id: i, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
			for {
				select {
				case <-stop:
					return
				default:
				}
				base, changed := tg.get()
				req := c.next()
				// No client-side cancellation: a request in flight ends
				// with the server's answer or with the server's death.
				outs := send(context.Background(), base, req)
				l.note(req, outs)
				c.learn(req, outs)
				if o := outs[0]; o.Kind == uncertain {
					var pause <-chan time.Time
					if o.Prob == nil {
						// No answer: the server is gone until tg changes.
						pause = nil
					} else {
						pause = time.After(10 * time.Millisecond)
					}
					select {
					case <-changed:
					case <-pause:
					case <-stop:
						return
					}
				}
			}
		}()
	}
	return wg.Wait
}

// ackedCount is the number of events acknowledged so far.
func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// loadFor waits until the load has run for at least d and at least n events
// were acknowledged, failing the test if that takes more than limit (a
// server that acknowledges nothing is hung).
func loadFor(t *testing.T, l *ledger, start time.Time, d time.Duration, n int, limit time.Duration) {
	t.Helper()
	for time.Since(start) < d || l.ackedCount() < n {
		if time.Since(start) > limit {
			t.Fatalf("only %d events acknowledged after %v of load (wanted %d)", l.ackedCount(), limit, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
