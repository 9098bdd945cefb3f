package runtime

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// state is the engine's derived store: flows, runs and the checkpoint,
// rebuilt from the log when deleted. Only the engine writes it, one batch
// per group of log records with the checkpoint in the same batch.
//
// Keys (parts separated by 0x00, which names and ids never contain):
//
//	c                       checkpoint: the last log position applied
//	f ns name               FlowState
//	v ns name version       canonical definition of that version
//	r ns flow position      Run
//	o ns flow position      an unfinished run, to resume in log order
//	d ns flow position      a dead-lettered run
type state struct {
	db *pebble.DB
	// open caches the unfinished runs, so that the records of a run in
	// progress (started, each step, completed) update it without reading
	// and decoding it from the store each time. Only the engine touches it.
	open map[string]*Run
}

// maxOpenCached bounds the runs kept in state.open; past it, runs are read
// from the store.
const maxOpenCached = 100_000

// FlowState is what the log says of a flow now.
type FlowState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Version counts the definitions applied: 1 for the first.
	Version    uint64          `json:"version"`
	Hash       string          `json:"hash"`
	Enabled    bool            `json:"enabled"`
	Deleted    bool            `json:"deleted,omitempty"`
	Definition json.RawMessage `json:"definition"`
	// StreamVersion is the version of the flow's stream (every change
	// counts), for the next change's expected version.
	StreamVersion uint64    `json:"stream_version"`
	Position      uint64    `json:"position"`
	UpdatedAt     time.Time `json:"updated_at"`
}

var keyCheckpoint = []byte("c")

func key(kind byte, parts ...string) []byte {
	b := []byte{kind}
	for _, p := range parts {
		b = append(b, 0)
		b = append(b, p...)
	}
	return b
}

func keyPos(kind byte, ns, flow string, pos uint64) []byte {
	b := key(kind, ns, flow)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, pos)
}

func openState(dir string) (*state, error) {
	// Every trigger asks whether its run exists; nearly all do not: bloom
	// filters answer those without reading table blocks.
	opts := &pebble.Options{Logger: quietLogger{}, Cache: pebble.NewCache(32 << 20)}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	opts.Cache.Unref()
	if err != nil {
		return nil, fmt.Errorf("runtime state: open %s: %w", dir, err)
	}
	return &state{db: db, open: map[string]*Run{}}, nil
}

func (s *state) close() error { return s.db.Close() }

func (s *state) checkpoint() (uint64, error) {
	v, closer, err := s.db.Get(keyCheckpoint)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v), nil
}

func (s *state) getJSON(k []byte, v any) (bool, error) {
	b, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	return true, json.Unmarshal(b, v)
}

func (s *state) flow(ns, name string) (*FlowState, error) {
	var f FlowState
	ok, err := s.getJSON(key('f', ns, name), &f)
	if !ok || err != nil {
		return nil, err
	}
	return &f, nil
}

func (s *state) flowVersion(ns, name string, version uint64) (json.RawMessage, error) {
	k := binary.BigEndian.AppendUint64(append(key('v', ns, name), 0), version)
	b, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(b), nil
}

func (s *state) run(ns, flow string, pos uint64) (*Run, error) {
	var r Run
	ok, err := s.getJSON(keyPos('r', ns, flow, pos), &r)
	if !ok || err != nil {
		return nil, err
	}
	return &r, nil
}

// scan calls fn for each value under prefix, from after (exclusive, when
// set) on, until fn returns false.
func (s *state) scan(prefix, after []byte, fn func(k, v []byte) bool) error {
	lower := prefix
	if after != nil {
		lower = append(bytes.Clone(after), 0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Error()
}

func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// flows lists a namespace's flows ("" for every namespace), deleted ones
// left out.
func (s *state) flows(ns string) ([]FlowState, error) {
	prefix := []byte{'f', 0}
	if ns != "" {
		prefix = append(key('f', ns), 0)
	}
	var out []FlowState
	var ferr error
	err := s.scan(prefix, nil, func(_, v []byte) bool {
		var f FlowState
		if ferr = json.Unmarshal(v, &f); ferr != nil {
			return false
		}
		if !f.Deleted {
			out = append(out, f)
		}
		return true
	})
	if ferr != nil {
		return nil, ferr
	}
	return out, err
}

// batch collects the engine's writes for a group of log records. Values
// written in the batch are also kept in memory so that later records of the
// same group read them back.
type batch struct {
	s     *state
	b     *pebble.Batch
	runs  map[string]*Run
	flows map[string]*FlowState
}

func (s *state) newBatch() *batch {
	return &batch{s: s, b: s.db.NewBatch(), runs: map[string]*Run{}, flows: map[string]*FlowState{}}
}

func (b *batch) flow(ns, name string) (*FlowState, error) {
	if f, ok := b.flows[ns+"\x00"+name]; ok {
		return f, nil
	}
	return b.s.flow(ns, name)
}

func (b *batch) putFlow(f *FlowState) error {
	v, err := json.Marshal(f)
	if err != nil {
		return err
	}
	b.flows[f.Namespace+"\x00"+f.Name] = f
	return b.b.Set(key('f', f.Namespace, f.Name), v, nil)
}

func (b *batch) putFlowVersion(ns, name string, version uint64, def []byte) error {
	k := binary.BigEndian.AppendUint64(append(key('v', ns, name), 0), version)
	return b.b.Set(k, def, nil)
}

func (b *batch) run(ns, flow string, pos uint64) (*Run, error) {
	k := string(keyPos('r', ns, flow, pos))
	if r, ok := b.runs[k]; ok {
		return r, nil
	}
	if r, ok := b.s.open[k]; ok {
		return r, nil
	}
	return b.s.run(ns, flow, pos)
}

// putRun writes a run and keeps the open and dead-letter lists in step with
// its status.
func (b *batch) putRun(r *Run) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	k := keyPos('r', r.Namespace, r.Flow, r.Trigger.Position)
	b.runs[string(k)] = r
	if err := b.b.Set(k, v, nil); err != nil {
		return err
	}
	open := keyPos('o', r.Namespace, r.Flow, r.Trigger.Position)
	if r.Finished() {
		err = b.b.Delete(open, nil)
	} else {
		err = b.b.Set(open, []byte(r.ID), nil)
	}
	if err != nil {
		return err
	}
	dead := keyPos('d', r.Namespace, r.Flow, r.Trigger.Position)
	if r.Status == StatusDeadLettered {
		return b.b.Set(dead, []byte(r.ID), nil)
	}
	return b.b.Delete(dead, nil)
}

func (b *batch) commit(checkpoint uint64) error {
	if err := b.b.Set(keyCheckpoint, binary.BigEndian.AppendUint64(nil, checkpoint), nil); err != nil {
		return err
	}
	// Derived and rebuilt from the log after the checkpoint: a process
	// crash keeps what the OS has; nothing needs an fsync here.
	if err := b.b.Commit(pebble.NoSync); err != nil {
		// Cached runs may hold changes that were not stored.
		clear(b.s.open)
		return err
	}
	for k, r := range b.runs {
		switch {
		case r.Finished():
			delete(b.s.open, k)
		case len(b.s.open) < maxOpenCached:
			b.s.open[k] = r
		}
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
