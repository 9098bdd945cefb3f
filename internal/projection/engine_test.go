package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
)

const counterYAML = `name: counter
key: event.subject
initial: '{"n": 0, "sum": 0, "last": "", "tags": 0}'
on:
  c.inc: 'state.with({"n": state.n + 1, "sum": state.sum + event.data.v})'
  c.set: 'state.with({"last": event.data.s, "n": state.n + 1})'
  c.tag: 'state.with({"tags": state.tags + 1, "last": state.last + "!"})'
indexes: [last]
`

// randomEvents makes n events over a few keys and types, some the
// projection does not handle.
func randomEvents(b *testBundle, rng *rand.Rand, n int) [][]byte {
	types := []string{"c.inc", "c.set", "c.tag", "c.other"}
	out := make([][]byte, n)
	for i := range out {
		key := fmt.Sprintf("k%d", rng.IntN(6))
		switch typ := types[rng.IntN(len(types))]; typ {
		case "c.inc":
			out[i] = b.event(typ, key, map[string]any{"v": rng.IntN(100) - 50})
		case "c.set":
			out[i] = b.event(typ, key, map[string]any{"s": fmt.Sprintf("s%d", rng.IntN(3))})
		default:
			out[i] = b.event(typ, key, nil)
		}
	}
	return out
}

// TestFoldProperty: a random history, projected incrementally while it is
// appended (interleaved with another namespace's events), equals Fold of
// it; a rebuild equals the incremental result; the document at a random
// position or time equals Fold of the history up to it.
func TestFoldProperty(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	b := setup(t)
	other := logtest.Namespace("noise")
	b.apply(counterYAML)
	d, err := ParseDefinition("c.yaml", []byte(counterYAML))
	require.NoError(t, err)
	red, err := Compile(d)
	require.NoError(t, err)

	var history [][]byte
	var positions []uint64
	for range 4 + rng.IntN(4) {
		evs := randomEvents(b, rng, 1+rng.IntN(120))
		pos := b.emitTo(b.ns, evs...)
		b.emitTo(other, randomEvents(b, rng, rng.IntN(5)+1)...)
		history = append(history, evs...)
		positions = append(positions, pos...)
		if rng.IntN(2) == 0 {
			b.waitPos("counter", pos[len(pos)-1])
		}
	}
	b.waitPos("counter", positions[len(positions)-1])
	want, err := Fold(red, history)
	require.NoError(t, err)
	incremental := states(b.all("counter", Query{Limit: 1 + rng.IntN(10)}))
	require.Equal(t, strs(want), incremental, "seed %d", seed)

	// Updates count the events applied to each document.
	for key := range want {
		var n int
		for _, ev := range history {
			if k, err := red.Key(ev); err == nil && k == key {
				n++
			}
		}
		require.Equal(t, n, b.doc("counter", key, nil).Updates, "key %s seed %d", key, seed)
	}

	recs := readAll(b, b.ns)
	for range 5 {
		i := rng.IntN(len(positions))
		prefix, err := Fold(red, history[:i+1])
		require.NoError(t, err)
		for key := range want {
			for _, at := range []*At{{Position: positions[i]}, {Time: recs[positions[i]].RecordedAt}} {
				got, err := b.m.Document(b.ctx, b.ns, "counter", key, at)
				if st, ok := prefix[key]; ok {
					require.NoError(t, err, "key %s at %+v seed %d", key, at, seed)
					require.Equal(t, string(st), string(got.State), "key %s at %+v seed %d", key, at, seed)
				} else {
					require.ErrorIs(t, err, ErrNoDocument, "key %s at %+v seed %d", key, at, seed)
				}
			}
		}
	}

	require.NoError(t, b.m.Rebuild(b.ctx, b.ns, "counter"))
	st := b.waitStatus("counter", func(s *Status) bool { return s.Generation == 2 && s.Rebuild == nil })
	require.Equal(t, StateRunning, st.State)
	require.Equal(t, incremental, states(b.all("counter", Query{})), "seed %d", seed)
}

// readAll returns a namespace's records by position.
func readAll(b *testBundle, ns string) map[uint64]eventlog.Record {
	out := map[uint64]eventlog.Record{}
	var after uint64
	for {
		recs, next, err := b.log.Read(b.ctx, eventlog.Query{Namespace: ns, After: after, Limit: 1000})
		require.NoError(b.t, err)
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out[r.Position] = r
		}
		after = next
	}
}

// TestReducerFailure: an event the reducer refuses stops the projection,
// visibly; Resume retries it (and fails again), or skips exactly it.
func TestReducerFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.apply(`name: div
key: event.subject
initial: '{"v": 0}'
on:
  x.div: 'state.with({"v": 100 / event.data.d})'
`)
	b.emit("x.div", "a", map[string]any{"d": 2})
	poison := b.emit("x.div", "a", map[string]any{"d": 0})
	after := b.emit("x.div", "a", map[string]any{"d": 5})

	st := b.waitStatus("div", func(s *Status) bool { return s.State == StateFailed })
	require.Equal(t, poison, st.Error.Position)
	require.Equal(t, "x.div", st.Error.EventType)
	require.NotEmpty(t, st.Error.EventID)
	require.Contains(t, st.Error.Error, "division by zero")
	require.Equal(t, poison-1, st.Position, "everything before the poisoned event is applied")
	require.JSONEq(t, `{"v":50}`, string(b.doc("div", "a", nil).State))

	var nc *NotCaughtUpError
	require.ErrorAs(t, b.m.WaitPosition(b.ctx, b.ns, "div", after), &nc)
	require.Equal(t, poison-1, nc.Position)
	require.NotNil(t, nc.Failure)

	var se *SkipError
	require.ErrorAs(t, b.m.Resume(b.ctx, b.ns, "div", poison+1), &se)

	first := st.Error.At
	require.NoError(t, b.m.Resume(b.ctx, b.ns, "div", 0))
	st = b.waitStatus("div", func(s *Status) bool { return s.State == StateFailed && s.Error.At.After(first) })
	require.Equal(t, poison, st.Error.Position, "retried without a fix: failed again on the same event")

	require.NoError(t, b.m.Resume(b.ctx, b.ns, "div", poison))
	b.waitPos("div", after)
	d := b.doc("div", "a", nil)
	require.JSONEq(t, `{"v":20}`, string(d.State))
	require.Equal(t, 2, d.Updates, "the poisoned event was skipped")
	require.ErrorIs(t, b.m.Resume(b.ctx, b.ns, "div", 0), ErrNotFailed)
	st = b.waitStatus("div", func(s *Status) bool { return s.State == StateRunning })
	require.Nil(t, st.Error)
}

// TestFailureIsolated: one projection failing does not stop another, and a
// failure survives a restart.
func TestFailureIsolated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.apply(`name: div
key: event.subject
on:
  x.div: 'state.with({"v": 100 / event.data.d})'
`)
	b.apply(`name: count
key: event.subject
initial: '{"n": 0}'
on:
  x.div: 'state.with({"n": state.n + 1})'
`)
	poison := b.emit("x.div", "a", map[string]any{"d": 0})
	last := b.emit("x.div", "a", map[string]any{"d": 1})
	b.waitPos("count", last)
	b.waitStatus("div", func(s *Status) bool { return s.State == StateFailed })
	b.stop()
	b.start()
	st, err := b.m.Get(b.ns, "div")
	require.NoError(t, err)
	require.Equal(t, StateFailed, st.State)
	require.Equal(t, poison, st.Error.Position)
	require.Equal(t, 2, b.doc("count", "a", nil).Updates)
}

// TestRestartExactlyOnce: a manager stopped and started again on the same
// directory resumes from its checkpoints: every event counted once.
func TestRestartExactlyOnce(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	b := setup(t)
	b.apply(counterYAML)
	d, err := ParseDefinition("c.yaml", []byte(counterYAML))
	require.NoError(t, err)
	red, err := Compile(d)
	require.NoError(t, err)

	var history [][]byte
	var last uint64
	for round := range 3 {
		evs := randomEvents(b, rng, 50+rng.IntN(50))
		pos := b.emitTo(b.ns, evs...)
		history = append(history, evs...)
		last = pos[len(pos)-1]
		if round == 1 {
			// Stopped at once, in the middle of applying.
			b.stop()
			b.start()
			continue
		}
		b.waitPos("counter", last)
		b.stop()
		more := randomEvents(b, rng, 20) // appended while stopped
		pos = b.emitTo(b.ns, more...)
		history = append(history, more...)
		last = pos[len(pos)-1]
		b.start()
	}
	b.waitPos("counter", last)
	want, err := Fold(red, history)
	require.NoError(t, err)
	require.Equal(t, strs(want), states(b.all("counter", Query{})), "seed %d", seed)
	for key := range want {
		var n int
		for _, ev := range history {
			if k, _ := red.Key(ev); k == key {
				n++
			}
		}
		require.Equal(t, n, b.doc("counter", key, nil).Updates, "key %s seed %d", key, seed)
	}
}

// TestRestartRebuilds: a definition changed while the manager was down,
// or a store deleted, is rebuilt at start from the definitions.
func TestRestartRebuilds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.apply(ordersYAMLTest)
	last := b.emit("order.placed", "o1", map[string]any{"total": 3})
	b.waitPos("orders", last)
	b.stop()
	d, err := ParseDefinition("o.yaml", []byte(`name: orders
key: event.subject
on:
  order.placed: 'state.with({"placed": true})'
`))
	require.NoError(t, err)
	require.NoError(t, b.defs.Put(b.ctx, b.ns, "orders", d.Canonical()))
	b.start()
	b.waitStatus("orders", func(s *Status) bool { return s.Generation == 2 && s.Rebuild == nil })
	require.JSONEq(t, `{"placed":true}`, string(b.doc("orders", "o1", nil).State))

	b.stop()
	b.dir = t.TempDir() // the derived store is gone
	b.start()
	b.waitPos("orders", last)
	require.JSONEq(t, `{"placed":true}`, string(b.doc("orders", "o1", nil).State))
}

// TestQueries: an indexed filter returns what a scan does; pages are
// complete, without duplicates, in order, whatever the order and size.
func TestQueries(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	b := setup(t)
	b.apply(`name: items
key: event.subject
on:
  item.set: 'state.with({"status": event.data.status, "n": event.data.n})'
indexes: [status, n]
`)
	var evs [][]byte
	for i := range 200 {
		evs = append(evs, b.event("item.set", fmt.Sprintf("i%03d", rng.IntN(120)), map[string]any{
			"status": []string{"a", "b", "c"}[rng.IntN(3)], "n": rng.IntN(10) + i%2*0,
		}))
	}
	pos := b.emitTo(b.ns, evs...)
	b.waitPos("items", pos[len(pos)-1])
	everything := b.all("items", Query{Limit: 1000})

	for _, c := range []struct{ indexed, scan string }{
		{`doc.status == "a"`, `doc.status in ["a"]`},
		{`"b" == doc.status && doc.n > 3`, `doc.status.startsWith("b") && doc.n > 3`},
		{`doc.n == 4 && key > "i050"`, `doc.n >= 4 && doc.n <= 4 && key > "i050"`},
		{`doc.n == 4.0`, `doc.n + 0 == 4`},
		{`doc.status == "zzz"`, `false`},
	} {
		f, err := compileFilter(c.indexed)
		require.NoError(t, err)
		_, ok := indexed(f, []string{"status", "n"})
		require.True(t, ok, "%s uses an index", c.indexed)
		f, err = compileFilter(c.scan)
		require.NoError(t, err)
		_, ok = indexed(f, []string{"status", "n"})
		require.False(t, ok, "%s scans", c.scan)
		for _, order := range []string{"", "key", "-key", "n", "-n", "status", "-missing"} {
			size := 1 + rng.IntN(7)
			viaIndex := b.all("items", Query{Filter: c.indexed, OrderBy: order, Limit: size})
			viaScan := b.all("items", Query{Filter: c.scan, OrderBy: order, Limit: 1000})
			require.Equal(t, keys(viaScan), keys(viaIndex), "%s order %q pages of %d, seed %d", c.indexed, order, size, seed)
		}
	}

	for _, order := range []string{"", "-key", "n", "-n", "status"} {
		got := b.all("items", Query{OrderBy: order, Limit: 1 + rng.IntN(9)})
		require.Len(t, got, len(everything))
		ks := keys(got)
		require.Len(t, uniq(ks), len(ks), "no duplicates, order %q", order)
		require.ElementsMatch(t, keys(everything), ks)
		if order == "n" || order == "-n" {
			require.True(t, slices.IsSortedFunc(got, func(x, y Document) int {
				c := cmpN(x, y)
				if order == "-n" {
					c = -c
				}
				return c
			}), "sorted by %s", order)
		}
	}
	require.True(t, slices.IsSorted(keys(everything)))

	for _, q := range []Query{
		{Filter: `doc.status +`},
		{Filter: `doc.n + 1`},
		{OrderBy: "-"},
		{Cursor: "!!"},
		{Limit: -1},
	} {
		_, err := b.m.Query(b.ctx, b.ns, "items", q)
		var qe *QueryError
		require.ErrorAs(t, err, &qe, "%+v", q)
	}
}

func keys(docs []Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Key
	}
	return out
}

func uniq(s []string) map[string]bool {
	out := map[string]bool{}
	for _, v := range s {
		out[v] = true
	}
	return out
}

func cmpN(x, y Document) int {
	var a, c struct{ N float64 }
	if err := errors.Join(json.Unmarshal(x.State, &a), json.Unmarshal(y.State, &c)); err != nil {
		panic(err)
	}
	switch {
	case a.N < c.N:
		return -1
	case a.N > c.N:
		return 1
	}
	return 0
}

// gatedFeed holds reads from before a position until opened: a rebuild
// reading from the start waits there, while the active generation goes on.
type gatedFeed struct {
	logFeed
	mu    sync.Mutex
	below uint64
	open  chan struct{}
}

func (g *gatedFeed) hold(below uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.below, g.open = below, make(chan struct{})
}

func (g *gatedFeed) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
	g.below = 0
}

func (g *gatedFeed) Records(ctx context.Context, after, to uint64, limit int) ([]eventlog.Record, error) {
	g.mu.Lock()
	below, open := g.below, g.open
	g.mu.Unlock()
	if after < below {
		select {
		case <-open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.logFeed.Records(ctx, after, to, limit)
}

// TestRebuildSwitch: while a new generation is built, the current one
// answers queries and goes on applying; the switch comes once the new one
// has caught up, and the old generation's keys are deleted.
func TestRebuildSwitch(t *testing.T) {
	t.Parallel()
	b := setupStopped(t)
	gate := &gatedFeed{logFeed: logFeed{b.log}}
	b.feed = gate
	b.cfg = func(c *Config) { c.LagPositions = 3 }
	b.start()
	b.apply(ordersYAMLTest)
	var last uint64
	for i := range 5 {
		last = b.emit("order.placed", fmt.Sprintf("o%d", i), map[string]any{"total": i})
	}
	b.waitPos("orders", last)
	st, err := b.m.Get(b.ns, "orders")
	require.NoError(t, err)
	gid1 := b.m.proj(b.ns, "orders").active.gen.GID

	gate.hold(st.Position)
	require.NoError(t, b.m.Rebuild(b.ctx, b.ns, "orders"))
	st = b.waitStatus("orders", func(s *Status) bool { return s.Rebuild != nil })
	require.Equal(t, StateRebuilding, st.State)
	require.Equal(t, 1, st.Generation)
	require.Equal(t, 2, st.Rebuild.Generation)
	require.Equal(t, last, st.Rebuild.Target)
	require.Zero(t, st.Rebuild.Position)

	shipped := b.emit("order.shipped", "o1", nil)
	b.waitPos("orders", shipped) // answered by generation 1
	require.JSONEq(t, `{"status":"shipped","total":1,"items":0}`, string(b.doc("orders", "o1", nil).State))
	page, err := b.m.Query(b.ctx, b.ns, "orders", Query{Filter: `doc.status == "placed"`})
	require.NoError(t, err)
	require.Len(t, page.Documents, 4)

	gate.release()
	st = b.waitStatus("orders", func(s *Status) bool { return s.Generation == 2 && s.Rebuild == nil })
	require.GreaterOrEqual(t, st.Position, shipped)
	require.JSONEq(t, `{"status":"shipped","total":1,"items":0}`, string(b.doc("orders", "o1", nil).State))
	require.Equal(t, 1, b.doc("orders", "o0", nil).Updates)
	// The old generation goes just after the switch.
	require.Eventually(t, func() bool {
		for _, k := range genKinds {
			it, err := b.m.st.db.NewIter(&pebble.IterOptions{LowerBound: genPrefix(k, gid1), UpperBound: genPrefix(k, gid1+1)})
			require.NoError(t, err)
			found := it.First()
			require.NoError(t, it.Close())
			if found {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "generation 1's keys are deleted")

	// Far behind: catching-up, with the lag counted.
	gate.hold(st.Position + 1)
	for i := range 5 {
		last = b.emit("order.placed", fmt.Sprintf("late%d", i), map[string]any{"total": i})
	}
	st = b.waitStatus("orders", func(s *Status) bool { return s.LagPositions >= 5 })
	require.Equal(t, StateCatchingUp, st.State)
	gate.release()
	b.waitPos("orders", last)
	b.waitStatus("orders", func(s *Status) bool { return s.State == StateRunning })
}

// TestBrokenRebuild: a new definition that fails leaves the current
// generation answering; the status says failed with the rebuild's error;
// a fixed definition replaces the broken generation.
func TestBrokenRebuild(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.apply(ordersYAMLTest)
	last := b.emit("order.placed", "o1", map[string]any{"total": 0})
	b.waitPos("orders", last)
	res := b.apply(`name: orders
key: event.subject
on:
  order.placed: 'state.with({"avg": 10 / event.data.total})'
`)
	require.Equal(t, 2, res.Generation)
	st := b.waitStatus("orders", func(s *Status) bool { return s.State == StateFailed })
	require.Equal(t, 1, st.Generation)
	require.Equal(t, 2, st.Rebuild.Generation)
	require.Equal(t, last, st.Error.Position)
	require.NoError(t, b.m.WaitPosition(b.ctx, b.ns, "orders", last), "generation 1 still answers")
	require.JSONEq(t, `{"status":"placed","total":0,"items":0}`, string(b.doc("orders", "o1", nil).State))

	res = b.apply(`name: orders
key: event.subject
on:
  order.placed: 'state.with({"avg": event.data.total == 0 ? 0 : 10 / event.data.total})'
`)
	require.Equal(t, 3, res.Generation)
	st = b.waitStatus("orders", func(s *Status) bool { return s.Generation == 3 && s.Rebuild == nil })
	require.Equal(t, StateRunning, st.State)
	require.JSONEq(t, `{"avg":0}`, string(b.doc("orders", "o1", nil).State))
}
