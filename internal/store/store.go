// Package store is Ensue's event store: it appends validated CloudEvents to
// the log exactly once per identity (namespace, source, id) and answers the
// reads of the HTTP API, combining the log (eventlog) with its derived
// index (index).
//
// Dedupe is decided here, before publishing, for the life of the log: an
// identity is first claimed in memory (so two concurrent appends of one
// event cannot both publish), then looked up in the index (which includes
// appends not yet applied), and only then appended.
//
// It may import event, eventlog, index and the standard library.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/index"
)

// Result is the outcome of one appended (or deduplicated) event.
type Result struct {
	Position  uint64
	Stream    string
	Version   uint64
	Duplicate bool
}

var (
	// ErrNotFound: no such event, stream or position in this namespace.
	ErrNotFound = errors.New("not found")
	// ErrNotReady: the store is still catching up with the log.
	ErrNotReady = errors.New("the event store is starting: its index is catching up with the log")
	// ErrUnavailable: the log did not answer; the outcome of an append is unknown, retry it.
	ErrUnavailable = eventlog.ErrUnavailable
	// ErrPartlyStored: an atomic batch of which some events, not all, are already stored.
	ErrPartlyStored = errors.New("part of this atomic batch is already stored")
)

// ConflictError is a wrong expected version.
type ConflictError = eventlog.VersionError

// Config configures a Store.
type Config struct {
	Log    eventlog.Log
	Index  *index.Index
	Logger *slog.Logger
}

// Store is safe for concurrent use.
type Store struct {
	log    eventlog.Log
	ix     *index.Index
	logger *slog.Logger
	ready  atomic.Bool

	shards [64]pendingShard
	recent recent

	bg        context.Context
	stop      context.CancelFunc
	resolving sync.WaitGroup
}

// pending is an identity being appended right now.
type pending struct {
	done chan struct{}
	res  Result
	err  error
}

type pendingShard struct {
	mu sync.Mutex
	m  map[string]*pending
}

// resolveFor bounds how long an append of unknown outcome keeps its
// identity claimed while the store finds out whether the log has it.
const resolveFor = 2 * time.Minute

// goResolve finds out, in the background, whether an event whose append had
// no answer from the log was stored. Until then its identity stays claimed:
// a retry of the same event waits for the answer instead of publishing a
// second copy. Found: the retry is answered as a duplicate. Not found once
// the index has applied the whole log: the retry appends it.
func (s *Store) goResolve(ns, key string, p *pending, ev *event.Event) {
	s.resolving.Add(1)
	go func() {
		defer s.resolving.Done()
		ctx, cancel := context.WithTimeout(s.bg, resolveFor)
		defer cancel()
		res, err := s.resolve(ctx, ns, ev)
		s.release(key, p, res, err)
	}()
}

func (s *Store) resolve(ctx context.Context, ns string, ev *event.Event) (Result, error) {
	// A publish still travelling to the log would be stored after the
	// last position read below: give it time to land first.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	backoff := 50 * time.Millisecond
	for {
		last, err := s.log.LastPosition(ctx)
		if err == nil {
			if err = s.ix.WaitApplied(ctx, last); err == nil {
				e, err := s.ix.LookupIdentity(ns, ev.Source, ev.ID)
				switch {
				case err == nil:
					s.ix.Remember(ns, []index.Identity{{Source: ev.Source, ID: ev.ID}}, []index.Entry{e})
					return Result{Position: e.Position, Stream: e.Stream, Version: e.Version}, nil
				case errors.Is(err, index.ErrNotFound):
					return Result{}, fmt.Errorf("%w: the event was not stored", ErrUnavailable)
				}
			}
		}
		s.logger.Warn("store: cannot yet tell whether an unacknowledged append was stored", "source", ev.Source, "id", ev.ID, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: the log did not answer whether the event was stored", ErrUnavailable)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Close stops resolving appends of unknown outcome and waits for the
// resolvers to end.
func (s *Store) Close() {
	s.stop()
	s.resolving.Wait()
}

// New returns a store. It answers appends only after SetReady.
func New(cfg Config) (*Store, error) {
	if cfg.Log == nil || cfg.Index == nil {
		return nil, errors.New("store: Log and Index are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: cfg.Log, ix: cfg.Index, logger: cfg.Logger}
	s.bg, s.stop = context.WithCancel(context.Background())
	for i := range s.shards {
		s.shards[i].m = make(map[string]*pending)
	}
	return s, nil
}

// SetReady marks the index as caught up with the log: appends and lookups
// are answered from then on.
func (s *Store) SetReady() { s.ready.Store(true) }

// Ready reports whether SetReady was called.
func (s *Store) Ready() bool { return s.ready.Load() }

func identityKey(ns string, ev *event.Event) string {
	// Length-prefixed parts: no (source, id) pair can spell another's key.
	return strconv.Itoa(len(ns)) + ":" + ns + strconv.Itoa(len(ev.Source)) + ":" + ev.Source + ev.ID
}

func (s *Store) shard(key string) *pendingShard {
	var h uint32 = 2166136261
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

// claim registers key as being appended by the caller, or returns the
// pending append that got there first.
func (s *Store) claim(key string) (mine *pending, theirs *pending) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if p, ok := sh.m[key]; ok {
		return nil, p
	}
	p := &pending{done: make(chan struct{})}
	sh.m[key] = p
	return p, nil
}

func (s *Store) release(key string, p *pending, res Result, err error) {
	p.res, p.err = res, err
	sh := s.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
	close(p.done)
}

func entryOf(ev *event.Event) eventlog.Entry {
	e := eventlog.Entry{Stream: ev.Subject, Expected: eventlog.AnyVersion, Data: ev.JSON}
	if ev.HasExpectedVersion {
		e.Expected = ev.ExpectedVersion
	}
	return e
}

// Append stores each event on its own, deduplicating by identity; errs[i]
// is set when event i was not stored.
func (s *Store) Append(ctx context.Context, ns string, evs []*event.Event) ([]Result, []error) {
	return s.append(ctx, ns, evs, 0)
}

func (s *Store) append(ctx context.Context, ns string, evs []*event.Event, depth int) ([]Result, []error) {
	results := make([]Result, len(evs))
	errs := make([]error, len(evs))
	if !s.Ready() {
		for i := range errs {
			errs[i] = ErrNotReady
		}
		return results, errs
	}
	keys := make([]string, len(evs))
	first := make(map[string]int, len(evs))
	dupOf := make([]int, len(evs))
	owned := make([]*pending, len(evs))
	waitOn := make([]*pending, len(evs))
	for i, ev := range evs {
		dupOf[i] = -1
		keys[i] = identityKey(ns, ev)
		if j, ok := first[keys[i]]; ok {
			dupOf[i] = j
			continue
		}
		first[keys[i]] = i
		owned[i], waitOn[i] = s.claim(keys[i])
	}
	// Look up owned identities; the rest go to the log.
	var toLog, mineIdx []int
	var ids []index.Identity
	for i, p := range owned {
		if p != nil {
			mineIdx = append(mineIdx, i)
			ids = append(ids, index.Identity{Source: evs[i].Source, ID: evs[i].ID})
		}
	}
	if len(ids) > 0 {
		found, ok, err := s.ix.LookupIdentities(ns, ids)
		for k, i := range mineIdx {
			switch {
			case err != nil:
				errs[i] = err
				s.release(keys[i], owned[i], Result{}, err)
			case ok[k]:
				e := found[k]
				results[i] = Result{Position: e.Position, Stream: e.Stream, Version: e.Version, Duplicate: true}
				s.release(keys[i], owned[i], results[i], nil)
			default:
				toLog = append(toLog, i)
			}
		}
	}
	if len(toLog) > 0 {
		entries := make([]eventlog.Entry, len(toLog))
		for k, i := range toLog {
			entries[k] = entryOf(evs[i])
		}
		// Not the caller's ctx: once published, an event may be stored
		// whether or not anyone waits for its acknowledgement. Giving up
		// when the client goes away would release its identity unremembered,
		// and the client's retry would store it again. The log bounds the
		// wait with its own timeout.
		lres := s.log.Append(context.WithoutCancel(ctx), ns, entries)
		ids := make([]index.Identity, 0, len(toLog))
		ies := make([]index.Entry, 0, len(toLog))
		for k, i := range toLog {
			if lres[k].Err == nil {
				results[i] = Result{Position: lres[k].Position, Stream: evs[i].Subject, Version: lres[k].Version}
				ids = append(ids, index.Identity{Source: evs[i].Source, ID: evs[i].ID})
				ies = append(ies, index.Entry{Position: lres[k].Position, Stream: evs[i].Subject, Version: lres[k].Version})
			} else {
				errs[i] = lres[k].Err
			}
		}
		// Remember before releasing the claims, so that a waiting append
		// of the same identity sees this one.
		s.ix.Remember(ns, ids, ies)
		s.offer(ns, evs, toLog, results, errs)
		for _, i := range toLog {
			if errors.Is(errs[i], ErrUnavailable) {
				// Published or not, nobody knows yet: keep the identity
				// claimed until the log says which (see resolve).
				s.goResolve(ns, keys[i], owned[i], evs[i])
				continue
			}
			s.release(keys[i], owned[i], results[i], errs[i])
		}
	}
	// Identities another request was appending: a duplicate of it when it
	// succeeded, another try when it failed.
	var again []int
	for i, p := range waitOn {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
			continue
		}
		if p.err == nil {
			results[i] = p.res
			results[i].Duplicate = true
		} else {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		if depth >= 3 {
			for _, i := range again {
				errs[i] = fmt.Errorf("%w: concurrent appends of this event kept failing", ErrUnavailable)
			}
		} else {
			sub := make([]*event.Event, len(again))
			for k, i := range again {
				sub[k] = evs[i]
			}
			r, e := s.append(ctx, ns, sub, depth+1)
			for k, i := range again {
				results[i], errs[i] = r[k], e[k]
			}
		}
	}
	for i, j := range dupOf {
		if j < 0 {
			continue
		}
		results[i], errs[i] = results[j], errs[j]
		if errs[i] == nil {
			results[i].Duplicate = true
		}
	}
	return results, errs
}

// AppendAtomic stores all events or none. A batch all of whose events are
// already stored answers duplicates; one partly stored is ErrPartlyStored.
// A failure caused by one event is an *eventlog.BatchError with its index.
func (s *Store) AppendAtomic(ctx context.Context, ns string, evs []*event.Event) ([]Result, error) {
	if !s.Ready() {
		return nil, ErrNotReady
	}
	results := make([]Result, len(evs))
	keys := make([]string, len(evs))
	first := make(map[string]int, len(evs))
	dupOf := make([]int, len(evs))
	var owned []int
	var mine []*pending
	defer func() {
		for k, i := range owned {
			if mine[k] != nil {
				s.release(keys[i], mine[k], results[i], errors.New("atomic batch not stored"))
			}
		}
	}()
	for i, ev := range evs {
		dupOf[i] = -1
		keys[i] = identityKey(ns, ev)
		if j, ok := first[keys[i]]; ok {
			dupOf[i] = j
			continue
		}
		first[keys[i]] = i
		for {
			p, theirs := s.claim(keys[i])
			if p != nil {
				owned = append(owned, i)
				mine = append(mine, p)
				break
			}
			select {
			case <-theirs.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
			}
		}
	}
	stored := 0
	ids := make([]index.Identity, len(owned))
	for k, i := range owned {
		ids[k] = index.Identity{Source: evs[i].Source, ID: evs[i].ID}
	}
	found, ok, err := s.ix.LookupIdentities(ns, ids)
	if err != nil {
		return nil, err
	}
	for k, i := range owned {
		if ok[k] {
			stored++
			e := found[k]
			results[i] = Result{Position: e.Position, Stream: e.Stream, Version: e.Version, Duplicate: true}
		}
	}
	switch {
	case stored == len(owned):
		s.fillDups(results, dupOf)
		return results, nil
	case stored > 0:
		return nil, ErrPartlyStored
	}
	entries := make([]eventlog.Entry, len(owned))
	for k, i := range owned {
		entries[k] = entryOf(evs[i])
	}
	// Not the caller's ctx, for the reason given in append: a committed
	// batch reported as failed would be stored again by a retry.
	lres, err := s.log.AppendAtomic(context.WithoutCancel(ctx), ns, entries)
	if err != nil && errors.Is(err, ErrUnavailable) {
		for k, i := range owned {
			s.goResolve(ns, keys[i], mine[k], evs[i])
			mine[k] = nil
		}
		return nil, err
	}
	if err != nil {
		var be *eventlog.BatchError
		if errors.As(err, &be) && be.Index >= 0 {
			be.Index = owned[be.Index]
		}
		return nil, err
	}
	ies := make([]index.Entry, len(owned))
	for k, i := range owned {
		results[i] = Result{Position: lres[k].Position, Stream: evs[i].Subject, Version: lres[k].Version}
		ids[k] = index.Identity{Source: evs[i].Source, ID: evs[i].ID}
		ies[k] = index.Entry{Position: lres[k].Position, Stream: evs[i].Subject, Version: lres[k].Version}
	}
	s.ix.Remember(ns, ids, ies)
	s.offer(ns, evs, owned, results, nil)
	for k, i := range owned {
		s.release(keys[i], mine[k], results[i], nil)
		mine[k] = nil
	}
	s.fillDups(results, dupOf)
	return results, nil
}

// offer hands the index the events of which evs[i] for i in which were
// appended (errs[i] nil), so that it need not read them back from the log.
func (s *Store) offer(ns string, evs []*event.Event, which []int, results []Result, errs []error) {
	recs := make([]index.Applied, 0, len(which))
	now := time.Now()
	for _, i := range which {
		if errs != nil && errs[i] != nil {
			continue
		}
		ev := evs[i]
		s.remember(ns, results[i].Position, ev.Subject, results[i].Version, ev.JSON, now)
		recs = append(recs, index.Applied{
			Position: results[i].Position, Namespace: ns, Stream: ev.Subject, Version: results[i].Version,
			Source: ev.Source, ID: ev.ID, CorrelationID: ev.CorrelationID,
		})
	}
	s.ix.Offer(recs)
}

func (s *Store) fillDups(results []Result, dupOf []int) {
	for i, j := range dupOf {
		if j >= 0 {
			results[i] = results[j]
			results[i].Duplicate = true
		}
	}
}
