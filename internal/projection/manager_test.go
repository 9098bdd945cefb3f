package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
)

// logFeed is a Feed over a real log: the store's Feed reads the same log,
// from memory when it can.
type logFeed struct {
	log eventlog.Log
}

var _ Feed = logFeed{}

func (f logFeed) Head() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, _ := f.log.LastPosition(ctx)
	return p
}

func (f logFeed) WaitHead(ctx context.Context, pos uint64) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Second)
	for f.Head() < pos {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return context.DeadlineExceeded
		case <-tick.C:
		}
	}
	return nil
}

func (f logFeed) Records(ctx context.Context, after, to uint64, limit int) ([]eventlog.Record, error) {
	recs, _, err := f.log.Read(ctx, eventlog.Query{After: after, Limit: min(limit, int(to-after))})
	for len(recs) > 0 && recs[len(recs)-1].Position > to {
		recs = recs[:len(recs)-1]
	}
	return recs, err
}

// memDefinitions is Definitions in memory, shared across restarts.
type memDefinitions struct {
	mu   sync.Mutex
	defs map[string]StoredDefinition
}

func (d *memDefinitions) Put(_ context.Context, ns, name string, canonical []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.defs[ns+"/"+name] = StoredDefinition{Namespace: ns, Name: name, Canonical: canonical}
	return nil
}

func (d *memDefinitions) Delete(_ context.Context, ns, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.defs, ns+"/"+name)
	return nil
}

func (d *memDefinitions) All(context.Context) ([]StoredDefinition, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []StoredDefinition
	for _, v := range d.defs {
		out = append(out, v)
	}
	return out, nil
}

type testBundle struct {
	t    *testing.T
	ctx  context.Context
	log  eventlog.Log
	dir  string
	defs *memDefinitions
	ns   string
	feed Feed
	cfg  func(*Config) // changes the manager's config, when set
	m    *Manager
	seq  atomic.Int64
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := setupStopped(t)
	b.start()
	return b
}

// setupStopped is setup without starting a manager.
func setupStopped(t *testing.T) *testBundle {
	t.Helper()
	srv := logtest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b := &testBundle{
		t: t, ctx: ctx, log: logtest.Open(t, srv, eventlog.Config{}), dir: t.TempDir(),
		defs: &memDefinitions{defs: map[string]StoredDefinition{}}, ns: logtest.Namespace("proj"),
	}
	b.feed = logFeed{b.log}
	return b
}

// start runs a manager on the bundle's directory; it stops with the test.
func (b *testBundle) start() *Manager {
	b.t.Helper()
	cfg := Config{Dir: b.dir, Feed: b.feed, Definitions: b.defs}
	if b.cfg != nil {
		b.cfg(&cfg)
	}
	m, err := New(cfg)
	require.NoError(b.t, err)
	require.NoError(b.t, m.Start(b.ctx))
	b.t.Cleanup(func() { _ = m.Stop(context.Background()) })
	b.m = m
	return m
}

func (b *testBundle) stop() {
	b.t.Helper()
	require.NoError(b.t, b.m.Stop(b.ctx))
}

// event is a CloudEvent in JSON as the log stores it.
func (b *testBundle) event(typ, subject string, data any) []byte {
	d, err := json.Marshal(data)
	require.NoError(b.t, err)
	return fmt.Appendf(nil, `{"specversion":"1.0","id":"e%d","source":"/test","type":%q,"subject":%q,"data":%s}`,
		b.seq.Add(1), typ, subject, d)
}

// emit appends events to a namespace; it returns their positions.
func (b *testBundle) emitTo(ns string, events ...[]byte) []uint64 {
	b.t.Helper()
	es := make([]eventlog.Entry, len(events))
	for i, e := range events {
		es[i] = eventlog.Entry{Expected: eventlog.AnyVersion, Data: e}
	}
	var out []uint64
	for i, r := range b.log.Append(b.ctx, ns, es) {
		require.NoError(b.t, r.Err, "event %d", i)
		out = append(out, r.Position)
	}
	return out
}

func (b *testBundle) emit(typ, subject string, data any) uint64 {
	b.t.Helper()
	return b.emitTo(b.ns, b.event(typ, subject, data))[0]
}

func (b *testBundle) apply(src string) ApplyResult {
	b.t.Helper()
	d, err := ParseDefinition("test.yaml", []byte(src))
	require.NoError(b.t, err)
	res, err := b.m.Apply(b.ctx, b.ns, d)
	require.NoError(b.t, err)
	return res
}

func (b *testBundle) waitPos(name string, pos uint64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, b.m.WaitPosition(ctx, b.ns, name, pos))
}

// waitStatus polls until cond holds of the projection's status.
func (b *testBundle) waitStatus(name string, cond func(*Status) bool) *Status {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.m.Get(b.ns, name)
		require.NoError(b.t, err)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("status never reached the condition; last: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *testBundle) doc(name, key string, at *At) *Document {
	b.t.Helper()
	d, err := b.m.Document(b.ctx, b.ns, name, key, at)
	require.NoError(b.t, err)
	return d
}

// all reads every document of a projection through paged queries.
func (b *testBundle) all(name string, q Query) []Document {
	b.t.Helper()
	var out []Document
	for {
		page, err := b.m.Query(b.ctx, b.ns, name, q)
		require.NoError(b.t, err)
		out = append(out, page.Documents...)
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

func states(docs []Document) map[string]string {
	out := map[string]string{}
	for _, d := range docs {
		out[d.Key] = string(d.State)
	}
	return out
}

func strs(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

const ordersYAMLTest = `kind: projection
name: orders
key: event.subject
initial: '{"status": "new", "total": 0, "items": 0}'
on:
  order.placed:  'state.with({"status": "placed", "total": event.data.total})'
  order.item_added: 'state.with({"items": state.items + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`

// TestOrders is the example end to end: apply, project, read,
// query through the index, time travel, change the definition.
func TestOrders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.emit("order.placed", "o1", map[string]any{"total": 30})
	res := b.apply(ordersYAMLTest)
	require.Equal(t, ApplyResult{Name: "orders", Outcome: OutcomeCreated, Generation: 1}, res)
	added := b.emit("order.item_added", "o1", nil)
	b.emit("order.item_added", "o1", nil)
	b.emitTo(logtest.Namespace("other"), b.event("order.shipped", "o1", nil)) // another namespace
	b.emit("order.cancelled", "o1", nil)                                      // a type no entry handles
	b.emit("order.placed", "o2", map[string]any{"total": 12.5})
	last := b.emit("order.shipped", "o1", nil)
	b.waitPos("orders", last)

	d := b.doc("orders", "o1", nil)
	require.JSONEq(t, `{"status":"shipped","total":30,"items":2}`, string(d.State))
	require.Equal(t, last, d.Position)
	require.Equal(t, 4, d.Updates)

	st, err := b.m.Get(b.ns, "orders")
	require.NoError(t, err)
	require.Equal(t, StateRunning, st.State)
	require.Equal(t, 1, st.Generation)
	require.GreaterOrEqual(t, st.Position, last)
	require.Nil(t, st.Error)
	require.Nil(t, st.Rebuild)
	require.Contains(t, string(st.Definition), `"indexes":["status"]`)
	require.Len(t, b.m.List(b.ns), 1)
	require.Empty(t, b.m.List("nowhere"))

	page, err := b.m.Query(b.ctx, b.ns, "orders", Query{Filter: `doc.status == "placed"`})
	require.NoError(t, err)
	require.Len(t, page.Documents, 1)
	require.Equal(t, "o2", page.Documents[0].Key)
	require.JSONEq(t, `{"status":"placed","total":12.5,"items":0}`, string(page.Documents[0].State))

	old := b.doc("orders", "o1", &At{Position: added})
	require.JSONEq(t, `{"status":"placed","total":30,"items":1}`, string(old.State))
	require.Equal(t, 2, old.Updates)
	require.Equal(t, added, old.Position)
	_, err = b.m.Document(b.ctx, b.ns, "orders", "o2", &At{Position: added})
	require.ErrorIs(t, err, ErrNoDocument, "o2 did not exist yet")
	_, err = b.m.Document(b.ctx, b.ns, "orders", "o9", nil)
	require.ErrorIs(t, err, ErrNoDocument)

	require.Equal(t, OutcomeUnchanged, b.apply(ordersYAMLTest).Outcome)

	// A changed definition builds generation 2, then answers from it.
	res = b.apply(`name: orders
key: event.subject
initial: '{"status": "new", "lines": 0}'
on:
  order.placed:  'state.with({"status": "placed"})'
  order.item_added: 'state.with({"lines": state.lines + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`)
	require.Equal(t, ApplyResult{Name: "orders", Outcome: OutcomeUpdated, Generation: 2}, res)
	st = b.waitStatus("orders", func(s *Status) bool { return s.Generation == 2 && s.Rebuild == nil })
	require.Equal(t, StateRunning, st.State)
	require.JSONEq(t, `{"status":"shipped","lines":2}`, string(b.doc("orders", "o1", nil).State))

	require.NoError(t, b.m.Delete(b.ctx, b.ns, "orders"))
	_, err = b.m.Get(b.ns, "orders")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = b.m.Query(b.ctx, b.ns, "orders", Query{})
	require.ErrorIs(t, err, ErrNotFound)
	require.Empty(t, b.defs.defs)
}
