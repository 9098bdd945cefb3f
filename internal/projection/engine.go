package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/valyala/fastjson"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/flow"
)

// maxGroup bounds how many log records a generation applies in one batch.
const maxGroup = 256

// errStopped ends an engine's loop when its reducer failed.
var errStopped = errors.New("projection stopped by a reducer error")

// engine follows the log for one generation of one projection, in its own
// goroutine: a failure stops that generation only.
type engine struct {
	m       *Manager
	p       *proj
	log     *slog.Logger
	red     *Reducer
	indexes []string

	// gen changes (Target cleared) only under p.mu.
	gen genMeta
	pos atomic.Uint64

	mu      sync.Mutex
	failure *Failure
	// behind is the recorded_at of the oldest record not applied yet, as
	// far as the engine knows; zero when it has applied the head.
	behind time.Time
	// runFrom and runAt are where and when the current run began, for
	// the rebuild's rate.
	runFrom uint64
	runAt   time.Time
	cancel  context.CancelFunc
	done    chan struct{}
}

func (m *Manager) newEngine(p *proj, g genMeta) (*engine, error) {
	d, err := ParseCanonical(g.Canonical)
	if err != nil {
		return nil, fmt.Errorf("projection %s/%s generation %d: %w", p.ns, p.name, g.Generation, err)
	}
	red, err := Compile(d)
	if err != nil {
		return nil, fmt.Errorf("projection %s/%s generation %d: %w", p.ns, p.name, g.Generation, err)
	}
	cp, err := m.st.checkpoint(g.GID)
	if err != nil {
		return nil, err
	}
	e := &engine{
		m: m, p: p, red: red, indexes: indexFields(d), gen: g, failure: cp.Failure,
		log: m.log.With("namespace", p.ns, "projection", p.name, "generation", g.Generation),
	}
	e.pos.Store(cp.Position)
	done := make(chan struct{})
	close(done)
	e.done = done
	return e, nil
}

// start runs the engine unless its reducer failed (Resume clears that).
func (e *engine) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failure != nil || e.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(e.m.ctx)
	e.cancel, e.done = cancel, make(chan struct{})
	e.runFrom, e.runAt = e.pos.Load(), e.m.now()
	e.m.wg.Add(1)
	go func(done chan struct{}) {
		defer e.m.wg.Done()
		defer close(done)
		e.run(ctx)
		e.mu.Lock()
		e.cancel = nil
		e.mu.Unlock()
		cancel()
	}(e.done)
}

// stop cancels the engine and waits for its goroutine.
func (e *engine) stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	<-done
}

func (e *engine) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := e.step(ctx)
		if errors.Is(err, errStopped) || ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log.Warn("following the log failed; resuming", "err", err, "position", e.pos.Load())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// step applies the next group of records, or waits for the head to move.
func (e *engine) step(ctx context.Context) error {
	feed := e.m.cfg.Feed
	pos := e.pos.Load()
	head := feed.Head()
	if head <= pos {
		e.setBehind(time.Time{})
		e.m.maybePromote(e)
		if err := feed.WaitHead(ctx, pos+1); err != nil && ctx.Err() == nil {
			return nil // the feed's own timeout: look again
		}
		return nil
	}
	recs, err := e.records(ctx, pos, head)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		// The head moved but nothing is readable yet: do not spin.
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
		return nil
	}
	e.setBehind(recs[0].RecordedAt)
	if err := e.applyGroup(recs); err != nil {
		return err
	}
	e.m.maybePromote(e)
	return nil
}

// farBehind is how far behind the head an engine reads from the log
// directly (when Config.Log is set) rather than through the feed.
const farBehind = 4 * maxGroup

func (e *engine) records(ctx context.Context, after, head uint64) ([]eventlog.Record, error) {
	if l := e.m.cfg.Log; l != nil && head-after > farBehind {
		recs, _, err := l.Read(ctx, eventlog.Query{After: after, Limit: maxGroup})
		for len(recs) > 0 && recs[len(recs)-1].Position > head {
			recs = recs[:len(recs)-1]
		}
		return recs, err
	}
	return e.m.cfg.Feed.Records(ctx, after, head, maxGroup)
}

// reducerError is a record the reducer refused: it stops the generation.
type reducerError struct{ err error }

func (e *reducerError) Error() string { return e.err.Error() }

// applyGroup applies records in one Pebble batch with the checkpoint: the
// last position applied or skipped, and the failure that stopped it.
func (e *engine) applyGroup(recs []eventlog.Record) error {
	b := e.m.st.db.NewBatch()
	defer b.Close()
	docs := map[string]*storedDoc{}
	var parser fastjson.Parser
	last := e.pos.Load()
	var failure *Failure
	var behind time.Time
	for _, r := range recs {
		if r.Position <= last {
			continue // already applied (a feed may repeat some)
		}
		if r.Namespace == e.p.ns {
			err := e.apply(b, docs, &parser, r)
			var rerr *reducerError
			if errors.As(err, &rerr) {
				failure = failureOf(&parser, r, rerr.err, e.m.now())
				behind = r.RecordedAt
				break
			}
			if err != nil {
				return err
			}
		}
		last = r.Position
	}
	if err := putCheckpoint(b, e.gen.GID, checkpoint{Position: last, Failure: failure}); err != nil {
		return err
	}
	// Derived and rebuilt from the log after the checkpoint: a process
	// crash keeps what the OS has; nothing needs an fsync here.
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	e.pos.Store(last)
	if failure != nil {
		e.mu.Lock()
		e.failure, e.behind = failure, behind
		e.mu.Unlock()
		e.log.Warn("reducer failed; projection stopped", "position", failure.Position,
			"event_id", failure.EventID, "event_type", failure.EventType, "err", failure.Error)
	}
	e.p.notify()
	if failure != nil {
		return errStopped
	}
	return nil
}

func failureOf(p *fastjson.Parser, r eventlog.Record, err error, at time.Time) *Failure {
	f := &Failure{Position: r.Position, Error: err.Error(), At: at}
	if v, perr := p.ParseBytes(r.Data); perr == nil {
		f.EventID = string(v.GetStringBytes("id"))
		f.EventType = string(v.GetStringBytes("type"))
	}
	return f
}

// apply applies one record of the projection's namespace.
func (e *engine) apply(b *pebble.Batch, docs map[string]*storedDoc, p *fastjson.Parser, r eventlog.Record) error {
	v, err := p.ParseBytes(r.Data)
	if err != nil {
		e.log.Warn("log record is not JSON; skipped", "position", r.Position, "err", err)
		return nil
	}
	if !e.red.Handles(string(v.GetStringBytes("type"))) {
		return nil
	}
	in, err := flow.NewInput(r.Data)
	if err != nil {
		e.log.Warn("log record is not an event; skipped", "position", r.Position, "err", err)
		return nil
	}
	key, err := e.red.KeyOf(in)
	if err != nil {
		return &reducerError{err}
	}
	if key == "" {
		return nil
	}
	cur, ok := docs[key]
	if !ok {
		d, found, err := e.m.st.doc(e.m.st.db, e.gen.GID, key)
		if err != nil {
			return err
		}
		if found {
			cur = &d
		}
	}
	var state []byte
	var updates uint64
	if cur != nil {
		state, updates = cur.State, cur.Updates
	}
	next, err := e.red.ApplyInput(state, in)
	if err != nil {
		return &reducerError{err}
	}
	d := &storedDoc{Position: r.Position, Updates: updates + 1, RecordedAt: r.RecordedAt.UnixNano(), State: bytes.Clone(next)}
	if len(e.indexes) > 0 {
		var was, is any
		if err := json.Unmarshal(d.State, &is); err != nil {
			return &reducerError{fmt.Errorf("the new state is not JSON: %w", err)}
		}
		if state != nil {
			_ = json.Unmarshal(state, &was) // not JSON: nothing was indexed
		}
		if err := e.reindex(b, key, was, is); err != nil {
			return err
		}
	}
	if err := b.Set(docKey(e.gen.GID, key), encodeDoc(*d), nil); err != nil {
		return err
	}
	if err := b.Set(historyKey(e.gen.GID, key, r.Position), encodeHistory(*d), nil); err != nil {
		return err
	}
	docs[key] = d
	return nil
}

// reindex moves a document's index entries from its old state's values
// to its new state's.
func (e *engine) reindex(b *pebble.Batch, key string, was, is any) error {
	for _, f := range e.indexes {
		ov, oldOK := indexValue(was, f)
		nv, newOK := indexValue(is, f)
		if oldOK == newOK && bytes.Equal(ov, nv) {
			continue
		}
		if oldOK {
			if err := b.Delete(indexKey(e.gen.GID, f, ov, key), nil); err != nil {
				return err
			}
		}
		if newOK {
			if err := b.Set(indexKey(e.gen.GID, f, nv, key), nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func indexValue(doc any, path string) ([]byte, bool) {
	v, ok := field(doc, path)
	if !ok {
		return nil, false
	}
	return encodeValue(nil, v)
}

func (e *engine) setBehind(t time.Time) {
	e.mu.Lock()
	e.behind = t
	e.mu.Unlock()
}

// genStatus is a snapshot of an engine for Status.
type genStatus struct {
	pos     uint64
	failure *Failure
	behind  time.Time
	runFrom uint64
	runAt   time.Time
}

func (e *engine) status() genStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return genStatus{pos: e.pos.Load(), failure: e.failure, behind: e.behind, runFrom: e.runFrom, runAt: e.runAt}
}

func (e *engine) failed() *Failure {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failure
}

// indexFields are the state fields a definition indexes.
func indexFields(d *Definition) []string { return slices.Clone(d.Indexes) }
