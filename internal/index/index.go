// Package index owns Ensue's derived local store: what JetStream cannot
// answer by itself — an event's position from its identity (namespace,
// source, id) for the life of the log, and the events of a correlation.
//
// The store is Pebble and is never the only copy of anything: it is built by
// applying the log in order, records the position it has applied in the same
// batch as the data (so applying is exactly-once), and is rebuilt from the
// log when deleted. Appends answered before the indexer has applied them are
// held in memory (Remember) so that dedupe and lookups read their writes.
//
// It may import eventlog, pebble and the standard library.
package index

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// Entry is what the identity index keeps of an event.
type Entry struct {
	Position uint64
	Stream   string
	Version  uint64
}

// Key prefixes; every key component after the prefix is length-prefixed so
// that arbitrary bytes (NUL included) cannot collide.
const (
	prefixIdentity    = 'i'
	prefixCorrelation = 'c'
	prefixStreamHead  = 'h'
)

var (
	keyApplied = []byte("m/applied")
	keyFormat  = []byte("m/format")
)

// format is the layout of the keys above; an index written in another
// layout is rebuilt from the log.
const format = "2"

// cacheBytes is the block cache of the index; memTableBytes its memtable
// size (fewer, larger level-0 files keep lookups of absent keys cheap).
const (
	cacheBytes    = 64 << 20
	memTableBytes = 32 << 20
)

// Config configures an Index.
type Config struct {
	// Dir is the Pebble directory. Required.
	Dir string
	// Logger for notices. Default: discard.
	Logger *slog.Logger
}

// Index is the derived store. Safe for concurrent use.
type Index struct {
	db  *pebble.DB
	log *slog.Logger

	mu      sync.Mutex
	applied uint64
	waiters []waiter
	recent  recentSet
	// offered holds records appended by this process and not yet applied,
	// by position (see Offer); offerSig tells the indexer about new ones.
	offered  map[uint64]Applied
	offerSig chan struct{}
}

type waiter struct {
	pos uint64
	ch  chan struct{}
}

// ErrNotFound: no entry for that key.
var ErrNotFound = errors.New("index: not found")

// Open opens (or creates) the index at cfg.Dir.
func Open(cfg Config) (*Index, error) {
	if cfg.Dir == "" {
		return nil, errors.New("index: Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Dedupe looks up every new identity, and nearly all are absent: bloom
	// filters answer those without reading table blocks from disk.
	//
	// No write-ahead log: the index is derived, and each batch carries its
	// checkpoint, so what a crash leaves (the memtables flushed so far) is
	// a consistent earlier state, which the indexer brings up to date from
	// the log. That saves a write per batch on the append path, for a
	// longer catch-up after a crash (what the memtables held).
	opts := &pebble.Options{
		Logger:     quietLogger{},
		Cache:      pebble.NewCache(cacheBytes),
		DisableWAL: true,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		// Identities and positions barely compress; compressing them
		// cost compactions ~15% of their CPU.
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	db, err := openFormat(cfg, opts)
	opts.Cache.Unref()
	if err != nil {
		return nil, err
	}
	ix := &Index{db: db, log: cfg.Logger, recent: newRecentSet(), offered: make(map[uint64]Applied), offerSig: make(chan struct{}, 1)}
	v, closer, err := db.Get(keyApplied)
	switch {
	case err == nil:
		ix.applied = binary.BigEndian.Uint64(v)
		closer.Close()
	case errors.Is(err, pebble.ErrNotFound):
	default:
		db.Close()
		return nil, fmt.Errorf("index: read checkpoint: %w", err)
	}
	return ix, nil
}

// openFormat opens the Pebble store, rebuilding it when it was written in
// another layout (it is derived: the indexer applies the log again).
func openFormat(cfg Config, opts *pebble.Options) (*pebble.DB, error) {
	for range 2 {
		db, err := pebble.Open(cfg.Dir, opts)
		if err != nil {
			return nil, fmt.Errorf("index: open %s: %w", cfg.Dir, err)
		}
		v, closer, err := db.Get(keyFormat)
		switch {
		case err == nil:
			same := string(v) == format
			closer.Close()
			if same {
				return db, nil
			}
		case errors.Is(err, pebble.ErrNotFound):
			if _, closer, err := db.Get(keyApplied); errors.Is(err, pebble.ErrNotFound) {
				// New: stamp it.
				if err := db.Set(keyFormat, []byte(format), pebble.NoSync); err != nil {
					db.Close()
					return nil, fmt.Errorf("index: open %s: %w", cfg.Dir, err)
				}
				if err := db.Flush(); err != nil { // no write-ahead log
					db.Close()
					return nil, fmt.Errorf("index: open %s: %w", cfg.Dir, err)
				}
				return db, nil
			} else if err == nil {
				closer.Close()
			}
		default:
			db.Close()
			return nil, fmt.Errorf("index: read format: %w", err)
		}
		cfg.Logger.Warn("index: written by another version of Ensue; rebuilding it from the log", "dir", cfg.Dir)
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("index: close %s: %w", cfg.Dir, err)
		}
		if err := os.RemoveAll(cfg.Dir); err != nil {
			return nil, fmt.Errorf("index: remove %s to rebuild it: %w", cfg.Dir, err)
		}
	}
	return nil, fmt.Errorf("index: %s keeps its old format after a rebuild", cfg.Dir)
}

// StreamHead is the version of a stream's latest event among the applied
// positions (0 when it has none). Appends not yet applied are not counted:
// the log keeps those itself.
func (ix *Index) StreamHead(ns, stream string) (uint64, error) {
	v, closer, err := ix.db.Get(streamHeadKey(ns, stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("index: stream head: %w", err)
	}
	defer closer.Close()
	ver, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, errors.New("index: corrupt stream head")
	}
	return ver, nil
}

func streamHeadKey(ns, stream string) []byte {
	k := make([]byte, 0, 1+len(ns)+len(stream)+4)
	k = append(k, prefixStreamHead)
	k = appendLP(k, ns)
	return appendLP(k, stream)
}

// Close closes the store.
func (ix *Index) Close() error {
	// Without a write-ahead log, what is only in memory would be applied
	// again from the log at the next start: keep it.
	flushErr := ix.db.Flush()
	if err := ix.db.Close(); err != nil {
		return err
	}
	return flushErr
}

// Applied is the position up to which the log has been applied.
func (ix *Index) Applied() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.applied
}

// WaitApplied blocks until the index has applied the log up to pos.
func (ix *Index) WaitApplied(ctx context.Context, pos uint64) error {
	ix.mu.Lock()
	if ix.applied >= pos {
		ix.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	ix.waiters = append(ix.waiters, waiter{pos: pos, ch: ch})
	ix.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remember records identities just appended, before the indexer applies
// them, so that dedupe and lookups see them at once.
func (ix *Index) Remember(ns string, ids []Identity, entries []Entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i, id := range ids {
		if entries[i].Position > ix.applied {
			ix.recent.add(string(identityKey(ns, id.Source, id.ID)), entries[i])
		}
	}
}

// maxOffered bounds the records offered and not yet applied; past it,
// offers are dropped and the indexer reads those records from the log.
const maxOffered = 200_000

// Offer hands the indexer records this process has just appended, so that
// it applies them without reading them back from the log. Records at or
// before the applied position are ignored; positions never offered are read
// from the log (see Indexer).
func (ix *Index) Offer(recs []Applied) {
	if len(recs) == 0 {
		return
	}
	ix.mu.Lock()
	for _, r := range recs {
		if r.Position > ix.applied && len(ix.offered) < maxOffered {
			ix.offered[r.Position] = r
		}
	}
	ix.mu.Unlock()
	select {
	case ix.offerSig <- struct{}{}:
	default:
	}
}

// takeOffered removes and returns the offered records that follow the
// applied position without a gap (at most max), and the lowest offered
// position after a gap (0 when none was offered).
func (ix *Index) takeOffered(max int) (run []Applied, next uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	pos := ix.applied + 1
	for len(run) < max {
		r, ok := ix.offered[pos]
		if !ok {
			break
		}
		delete(ix.offered, pos)
		run = append(run, r)
		pos++
	}
	if len(run) > 0 || len(ix.offered) == 0 {
		return run, 0
	}
	for p := range ix.offered {
		if p <= ix.applied {
			delete(ix.offered, p)
		} else if next == 0 || p < next {
			next = p
		}
	}
	return nil, next
}

// dropOffered forgets offered records at or before pos (applied from the log).
func (ix *Index) dropOffered(pos uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for p := range ix.offered {
		if p <= pos {
			delete(ix.offered, p)
		}
	}
}

// Identity is an event's (source, id).
type Identity struct{ Source, ID string }

// LookupIdentity finds the event with that identity.
func (ix *Index) LookupIdentity(ns, source, id string) (Entry, error) {
	key := identityKey(ns, source, id)
	ix.mu.Lock()
	e, ok := ix.recent.get(string(key))
	ix.mu.Unlock()
	if ok {
		return e, nil
	}
	v, closer, err := ix.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, fmt.Errorf("index: lookup: %w", err)
	}
	defer closer.Close()
	return decodeEntry(v)
}

// LookupIdentities looks up many identities at once, as LookupIdentity
// does: found[i] tells whether ids[i] is stored, at entries[i]. One
// iterator serves them all, in key order, which costs far less than one
// lookup each.
func (ix *Index) LookupIdentities(ns string, ids []Identity) (entries []Entry, found []bool, err error) {
	entries, found = make([]Entry, len(ids)), make([]bool, len(ids))
	type probe struct {
		key []byte
		i   int
	}
	probes := make([]probe, 0, len(ids))
	ix.mu.Lock()
	for i, id := range ids {
		key := identityKey(ns, id.Source, id.ID)
		if e, ok := ix.recent.get(string(key)); ok {
			entries[i], found[i] = e, true
			continue
		}
		probes = append(probes, probe{key: key, i: i})
	}
	ix.mu.Unlock()
	if len(probes) == 0 {
		return entries, found, nil
	}
	if len(probes) == 1 {
		e, err := ix.LookupIdentity(ns, ids[probes[0].i].Source, ids[probes[0].i].ID)
		switch {
		case err == nil:
			entries[probes[0].i], found[probes[0].i] = e, true
		case !errors.Is(err, ErrNotFound):
			return nil, nil, err
		}
		return entries, found, nil
	}
	slices.SortFunc(probes, func(a, b probe) int { return bytes.Compare(a.key, b.key) })
	it, err := ix.db.NewIter(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("index: lookup: %w", err)
	}
	defer it.Close()
	for _, p := range probes {
		if !it.SeekPrefixGE(p.key) || !bytes.Equal(it.Key(), p.key) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, nil, fmt.Errorf("index: lookup: %w", err)
		}
		if entries[p.i], err = decodeEntry(v); err != nil {
			return nil, nil, err
		}
		found[p.i] = true
	}
	if err := it.Error(); err != nil {
		return nil, nil, fmt.Errorf("index: lookup: %w", err)
	}
	return entries, found, nil
}

// Correlation lists the positions of the events whose correlationid is id,
// and of the root event whose own id is id and which has no correlationid,
// in log order, after the given position, at most limit.
func (ix *Index) Correlation(ns, id string, after uint64, limit int) ([]uint64, error) {
	prefix := appendLP([]byte{prefixCorrelation}, ns)
	prefix = appendLP(prefix, id)
	lower := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), after+1)
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("index: correlation: %w", err)
	}
	defer it.Close()
	var out []uint64
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		out = append(out, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return out, it.Error()
}

// Applied event, as the indexer sees it.
type Applied struct {
	Position      uint64
	Namespace     string
	Stream        string
	Version       uint64
	Source, ID    string
	CorrelationID string
}

// Apply writes the index entries of consecutive log records and the new
// checkpoint in one batch. Records at or before the checkpoint are skipped,
// so applying twice is harmless. upTo is the last position examined (it may
// be past the last record when the reader skipped positions).
func (ix *Index) Apply(recs []Applied, upTo uint64) error {
	ix.mu.Lock()
	applied := ix.applied
	ix.mu.Unlock()
	if upTo <= applied {
		return nil
	}
	b := ix.db.NewBatch()
	defer b.Close()
	var buf []byte
	for _, r := range recs {
		if r.Position <= applied {
			continue
		}
		buf = encodeEntry(buf[:0], Entry{Position: r.Position, Stream: r.Stream, Version: r.Version})
		if err := b.Set(identityKey(r.Namespace, r.Source, r.ID), buf, nil); err != nil {
			return err
		}
		corr := r.CorrelationID
		if corr == "" {
			corr = r.ID
		}
		ck := appendLP([]byte{prefixCorrelation}, r.Namespace)
		ck = appendLP(ck, corr)
		ck = binary.BigEndian.AppendUint64(ck, r.Position)
		if err := b.Set(ck, nil, nil); err != nil {
			return err
		}
		if r.Stream != "" {
			buf = binary.AppendUvarint(buf[:0], r.Version)
			if err := b.Set(streamHeadKey(r.Namespace, r.Stream), buf, nil); err != nil {
				return err
			}
		}
	}
	if err := b.Set(keyApplied, binary.BigEndian.AppendUint64(nil, upTo), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("index: apply: %w", err)
	}
	ix.mu.Lock()
	ix.applied = upTo
	ix.recent.evictUpTo(upTo)
	kept := ix.waiters[:0]
	for _, w := range ix.waiters {
		if w.pos <= upTo {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	ix.waiters = kept
	ix.mu.Unlock()
	return nil
}

func identityKey(ns, source, id string) []byte {
	k := make([]byte, 0, 1+len(ns)+len(source)+len(id)+6)
	k = append(k, prefixIdentity)
	k = appendLP(k, ns)
	k = appendLP(k, source)
	return appendLP(k, id)
}

func appendLP(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func encodeEntry(b []byte, e Entry) []byte {
	b = binary.AppendUvarint(b, e.Position)
	b = binary.AppendUvarint(b, e.Version)
	return append(b, e.Stream...)
}

func decodeEntry(v []byte) (Entry, error) {
	pos, n := binary.Uvarint(v)
	if n <= 0 {
		return Entry{}, errors.New("index: corrupt entry")
	}
	ver, m := binary.Uvarint(v[n:])
	if m <= 0 {
		return Entry{}, errors.New("index: corrupt entry")
	}
	return Entry{Position: pos, Version: ver, Stream: string(v[n+m:])}, nil
}

// recentSet holds identities appended but not yet applied, evicted in
// position order once the indexer has applied them.
type recentSet struct {
	m     map[string]Entry
	order recentHeap // by position; appends are answered in any order
}

type recentKey struct {
	pos uint64
	key string
}

// recentHeap is a min-heap of positions.
type recentHeap []recentKey

func (h recentHeap) Len() int           { return len(h) }
func (h recentHeap) Less(i, j int) bool { return h[i].pos < h[j].pos }
func (h recentHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recentHeap) Push(x any)        { *h = append(*h, x.(recentKey)) }
func (h *recentHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = recentKey{}
	*h = old[:len(old)-1]
	return x
}

func newRecentSet() recentSet { return recentSet{m: make(map[string]Entry)} }

func (r *recentSet) add(key string, e Entry) {
	r.m[key] = e
	heap.Push(&r.order, recentKey{pos: e.Position, key: key})
}

func (r *recentSet) get(key string) (Entry, bool) {
	e, ok := r.m[key]
	return e, ok
}

// evictUpTo forgets the identities at or before pos: O(log n) each.
func (r *recentSet) evictUpTo(pos uint64) {
	for len(r.order) > 0 && r.order[0].pos <= pos {
		k := heap.Pop(&r.order).(recentKey)
		if e, ok := r.m[k.key]; ok && e.Position == k.pos {
			delete(r.m, k.key)
		}
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
