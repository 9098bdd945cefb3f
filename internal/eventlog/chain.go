package eventlog

// Appending as the log's only writer: the chain.
//
// An Ensue node is normally the only process appending to its log. It then
// knows every stream's version without asking JetStream, and pipelines every
// append — across streams and within one — with nothing to wait for but the
// acknowledgements. Each publish names the message it must land right after:
// the first one after a quiet point names the log's last position
// (Nats-Expected-Last-Sequence), every later one the message id of the
// publish sent just before it (Nats-Expected-Last-Msg-Id). JetStream refuses
// a publish whose predecessor is not exactly the one named, so when one
// publish fails every later one in flight fails too, and none is ever stored
// after a gap or after another writer's event: the versions this process
// computed ahead of time are exactly the stored ones, dense.
//
// When nothing else can append at all (Config.SoleWriter: an embedded
// server listening on no port), every publish names the position it must
// follow, predicted, and carries no message id; a refusal then names the
// log's last position, which tells which publishes were stored.
//
// JetStream checks these headers against the stream's whole state, not
// per subject, which also spares it finding each subject's last message (the
// per-stream header costs a lookup per publish). On a JetStream cluster the
// message-id check runs as replicas apply a message, where a refusal counts
// as a write error: there the log always appends per stream (shared.go).
//
// Only the last publish of a call asks for an acknowledgement: once it is
// stored, the publishes before it are too, at the positions just before
// its own. When it is refused instead, the sole writer reads from the
// refusal which were stored; otherwise the call probes which of its
// publishes JetStream stored (see probe) while JetStream still remembers
// their message ids.
//
// After a failure the chain is re-synchronised: appends in flight end, the
// log's last position is read from the stream leader, the version cache is
// dropped (versions then come from the index, once it has applied the log up
// to that position, or from JetStream) and the refused entries are sent
// again, in their order.
//
// Another writer on the same log (a second Ensue node, a tool) breaks the
// chain with every event it appends. When a resynchronisation finds events
// that are not this process's, the log appends per stream (shared.go) for a
// while: each publish then states its stream's last position and a stream
// has one append in flight at a time, which is slower but lets writers share
// the log safely. It tries the chain again after sharedFor.

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/semaphore"
)

const (
	hdrMsgID              = "Nats-Msg-Id"
	hdrExpectedLastSeq    = "Nats-Expected-Last-Sequence"
	hdrExpectedLastMsgID  = "Nats-Expected-Last-Msg-Id"
	errCodeWrongLastMsgID = 10070
	// sharedFor is how long the log appends per stream after it saw
	// another writer's events.
	sharedFor = 30 * time.Second
	// maxAppendTries bounds how often an entry refused for a transient
	// reason is sent again.
	maxAppendTries = 100
)

// Heads gives the version of streams this process has not appended to
// since its chain was last synchronised. The index implements it; without
// one, the log asks JetStream.
type Heads interface {
	// StreamHead is the version of a stream's latest event among the
	// positions applied so far (0 when it has none).
	StreamHead(ns, stream string) (uint64, error)
	// WaitApplied returns once the positions up to pos are applied.
	WaitApplied(ctx context.Context, pos uint64) error
}

// chain is the state of this process's appends; see the top of the file.
type chain struct {
	// gate is held shared by every append while it is in flight and
	// exclusively to resynchronise, switch modes and append atomically.
	gate gate

	mu sync.Mutex
	// synced: end, lastID and heads describe the log; when false the next
	// append resynchronises first.
	synced bool
	// broken: a chained publish failed since the last resynchronisation.
	broken bool
	// gen counts resynchronisations.
	gen uint64
	// shared: append per stream (until sharedUntil).
	shared      bool
	sharedUntil time.Time
	// end is the highest position acknowledged since the last
	// resynchronisation: the log's last position when pending is 0.
	end uint64
	// pending is the number of chained publishes awaiting their outcome.
	pending int
	// lastID is the message id of the latest chained publish.
	lastID string
	// unknown counts chained publishes since the last resynchronisation
	// whose outcome never came (they may be stored).
	unknown uint64
	// heads holds the version of each stream appended to since the last
	// resynchronisation, counting publishes in flight, by subject.
	heads map[string]*head
	// sole: this process is the only one that can append (see
	// Config.SoleWriter): publishes then name the position they must
	// follow, predicted in next, and carry no message id.
	sole bool
	next uint64
	// idPrefix and ids make message ids unique to this process.
	idPrefix string
	ids      uint64
	// msg and its header values are reused by every chained publish.
	msg                   nats.Msg
	hID, hAfter, hVersion []string
}

// gate is a readers-writer lock whose waits end with a context. Waiters
// are served in order, so a waiting writer holds back later readers.
type gate struct{ sem *semaphore.Weighted }

const gateWeight = 1 << 40

func (g gate) rlock(ctx context.Context) error { return g.acquire(ctx, 1) }
func (g gate) runlock()                        { g.sem.Release(1) }
func (g gate) lock(ctx context.Context) error  { return g.acquire(ctx, gateWeight) }
func (g gate) unlock()                         { g.sem.Release(gateWeight) }

func (g gate) acquire(ctx context.Context, n int64) error {
	if err := g.sem.Acquire(ctx, n); err != nil {
		return fmt.Errorf("%w: waiting for earlier appends: %v", ErrUnavailable, err)
	}
	return nil
}

// head is a stream's version, counting publishes in flight.
type head struct {
	version uint64
}

func (c *chain) init(chainable, sole bool) {
	c.gate = gate{sem: semaphore.NewWeighted(gateWeight)}
	c.sole = sole
	if !chainable {
		c.shared, c.sharedUntil = true, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	c.idPrefix = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]) + "-"
	c.heads = make(map[string]*head)
}

// nextID returns a message id no other publish has. Called with mu held.
func (c *chain) nextID() string {
	c.ids++
	return c.idPrefix + strconv.FormatUint(c.ids, 36)
}

// enter waits until appends may proceed and returns holding the gate
// shared, with the mode to append in and the current generation.
func (l *JetStream) enter(ctx context.Context) (shared bool, gen uint64, err error) {
	c := &l.ch
	for {
		if err := c.gate.rlock(ctx); err != nil {
			return false, 0, err
		}
		c.mu.Lock()
		var ok bool
		if c.shared {
			ok = time.Now().Before(c.sharedUntil)
		} else {
			ok = c.synced && len(c.heads) <= l.cfg.MaxCachedStreams
		}
		shared, gen = c.shared, c.gen
		c.mu.Unlock()
		if ok {
			return shared, gen, nil
		}
		c.gate.runlock()
		if err := l.resync(ctx, gen); err != nil {
			return false, 0, err
		}
	}
}

// resync resynchronises the chain unless another caller did since gen.
func (l *JetStream) resync(ctx context.Context, gen uint64) error {
	c := &l.ch
	if err := c.gate.lock(ctx); err != nil {
		return err
	}
	defer c.gate.unlock()
	c.mu.Lock()
	done := c.gen != gen
	c.mu.Unlock()
	if done {
		return nil
	}
	return l.resyncLocked(ctx)
}

// resyncLocked resynchronises the chain; the caller holds the gate
// exclusively, so nothing is in flight.
func (l *JetStream) resyncLocked(ctx context.Context) error {
	c := &l.ch
	end, err := l.LastPosition(ctx)
	if err != nil {
		return err
	}
	if l.cfg.Heads != nil {
		if err := l.cfg.Heads.WaitApplied(ctx, end); err != nil {
			return fmt.Errorf("%w: waiting for the index to apply the log up to position %d: %v", ErrUnavailable, end, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	switch {
	case c.broken && end > c.end+c.unknown:
		// Positions this process never published: another writer.
		if !c.shared {
			l.cfg.Logger.Warn("eventlog: another process appends to this log; appending per stream for a while", "stream", l.cfg.Stream, "for", sharedFor)
		}
		c.shared, c.sharedUntil = true, now.Add(sharedFor)
	case c.shared && !now.Before(c.sharedUntil):
		c.shared = false
	}
	clear(c.heads)
	l.mu.Lock()
	clear(l.streams)
	l.mu.Unlock()
	c.end, c.pending, c.lastID, c.unknown = end, 0, "", 0
	c.next = end + 1
	c.synced, c.broken = true, false
	c.gen++
	return nil
}

// breakChain marks the chain as needing a resynchronisation because a
// publish failed (unknown: its outcome never came).
func (c *chain) breakChain(unknown uint64) {
	c.synced, c.broken = false, true
	c.unknown += unknown
}

// invalidate makes the next append resynchronise, when nobody did since gen:
// the cache may describe a stream another writer has appended to.
func (l *JetStream) invalidate(gen uint64) {
	c := &l.ch
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && !c.shared {
		c.breakChain(0)
	}
}

// headOf reads the version of a stream this process has not appended to
// since the last resynchronisation.
func (l *JetStream) headOf(ctx context.Context, ns, stream, subject string) (uint64, error) {
	if l.cfg.Heads != nil {
		v, err := l.cfg.Heads.StreamHead(ns, stream)
		if err != nil {
			return 0, fmt.Errorf("%w: read stream %q's version from the index: %v", ErrUnavailable, stream, err)
		}
		return v, nil
	}
	v, _, err := l.lastOnSubject(ctx, subject)
	return v, err
}

// Append implements Log.
func (l *JetStream) Append(ctx context.Context, ns string, entries []Entry) []Result {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	results := make([]Result, len(entries))
	todo := make([]int, len(entries))
	for i := range todo {
		todo[i] = i
	}
	backoff := time.Millisecond
	for try := 0; len(todo) > 0; try++ {
		if try == maxAppendTries {
			for _, k := range todo {
				results[k].Err = fmt.Errorf("%w: the log refused this append %d times", ErrUnavailable, try)
			}
			break
		}
		if try > 1 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 50*time.Millisecond)
		}
		shared, gen, err := l.enter(ctx)
		if err != nil {
			for _, k := range todo {
				results[k].Err = err
			}
			break
		}
		if shared {
			sub := make([]Entry, len(todo))
			for j, k := range todo {
				sub[j] = entries[k]
			}
			res := l.appendShared(ctx, ns, sub)
			l.ch.gate.runlock()
			for j, k := range todo {
				results[k] = res[j]
			}
			break
		}
		again, recheck := l.appendChained(ctx, ns, entries, todo, results)
		l.ch.gate.runlock()
		for _, k := range recheck {
			e := entries[k]
			// The version the chain expects differs from the one stated:
			// the leader decides (publishes in flight may yet fail, and
			// another writer may have appended).
			v, _, err := l.lastOnSubject(ctx, l.subj.stream(ns, e.Stream))
			switch {
			case err != nil:
				results[k].Err = err
			case v != uint64(e.Expected):
				results[k].Err = &VersionError{Stream: e.Stream, Expected: e.Expected, Current: v}
			default:
				again = append(again, k)
				if try >= 2 {
					l.invalidate(gen)
				}
			}
		}
		if len(again) > 0 {
			l.conflictRetries.Add(uint64(len(again)))
		}
		slices.Sort(again)
		todo = again
	}
	return results
}

// prepared is a chained publish: entry k, its message id, and what it
// must follow (a position when afterSeq, else a message id).
type prepared struct {
	k        int
	pos      uint64 // the position predicted (sole writer only)
	subject  string
	data     []byte
	id       string
	after    string
	afterSeq bool
	h        *head
	version  uint64
}

// message fills the chain's one reusable message with p (nats.go copies it
// while publishing; the caller holds mu).
func (c *chain) message(p *prepared) *nats.Msg {
	m := &c.msg
	if m.Header == nil {
		m.Header = make(nats.Header, 4)
		c.hID, c.hAfter, c.hVersion = make([]string, 1), make([]string, 1), make([]string, 1)
	}
	m.Subject, m.Data, m.Reply = p.subject, p.data, ""
	if p.id != "" {
		c.hID[0] = p.id
		m.Header[hdrMsgID] = c.hID
	} else {
		delete(m.Header, hdrMsgID)
	}
	c.hAfter[0] = p.after
	if p.afterSeq {
		delete(m.Header, hdrExpectedLastMsgID)
		m.Header[hdrExpectedLastSeq] = c.hAfter
	} else {
		delete(m.Header, hdrExpectedLastSeq)
		m.Header[hdrExpectedLastMsgID] = c.hAfter
	}
	if p.h != nil {
		c.hVersion[0] = strconv.FormatUint(p.version, 10)
		m.Header[hdrVersion] = c.hVersion
	} else {
		delete(m.Header, hdrVersion)
	}
	return m
}

// appendChained publishes the entries todo names on the chain and waits for
// their outcomes, filling results. It returns the entries to send again
// (refused because the chain broke) and those whose stated version differs
// from the chain's. The caller holds the gate shared.
func (l *JetStream) appendChained(ctx context.Context, ns string, entries []Entry, todo []int, results []Result) (again, recheck []int) {
	c := &l.ch
	subjects := make([]string, len(todo))
	var missing []int // indexes into todo of streams not in the cache
	c.mu.Lock()
	for j, k := range todo {
		subjects[j] = l.subj.stream(ns, entries[k].Stream)
		if entries[k].Stream != "" && c.heads[subjects[j]] == nil {
			missing = append(missing, j)
		}
	}
	c.mu.Unlock()
	// Read outside the lock. A stream absent from the cache has had no
	// publish of this process since the last resynchronisation, which
	// cannot happen while the gate is held: a value read now stays right
	// unless another of our appends caches the stream first, and then its
	// cached value wins below.
	var looked map[string]uint64
	var lookupErr map[int]error
	for _, j := range missing {
		if looked == nil {
			looked = make(map[string]uint64, len(missing))
		}
		if _, ok := looked[subjects[j]]; ok {
			continue
		}
		v, err := l.headOf(ctx, ns, entries[todo[j]].Stream, subjects[j])
		if err != nil {
			if lookupErr == nil {
				lookupErr = make(map[int]error)
			}
			lookupErr[todo[j]] = err
			continue
		}
		looked[subjects[j]] = v
	}

	pubs := make([]prepared, 0, len(todo))
	batch := newAckBatch(1)
	// Streams with an entry to recheck: their later entries wait for the
	// next round, so that each entry is checked after the one before it.
	var blocked map[string]bool
	c.mu.Lock()
	for j, k := range todo {
		if !c.synced {
			// A publish failed meanwhile: what is left waits for the
			// resynchronisation.
			again = append(again, todo[j:]...)
			break
		}
		e := entries[k]
		var h *head
		var version uint64
		if e.Stream != "" {
			if blocked[subjects[j]] {
				again = append(again, k)
				continue
			}
			h = c.heads[subjects[j]]
			if h == nil {
				v, ok := looked[subjects[j]]
				if !ok {
					results[k].Err = lookupErr[k]
					continue
				}
				h = &head{version: v}
				c.heads[subjects[j]] = h
			}
			if e.Expected >= 0 && uint64(e.Expected) != h.version {
				recheck = append(recheck, k)
				if blocked == nil {
					blocked = make(map[string]bool)
				}
				blocked[subjects[j]] = true
				continue
			}
			version = h.version + 1
		}
		p := prepared{k: k, subject: subjects[j], data: e.Data, h: h, version: version}
		switch {
		case c.sole:
			// Nobody else can append: positions are known ahead.
			p.pos = c.next
			c.next++
			p.after, p.afterSeq = strconv.FormatUint(p.pos-1, 10), true
		case c.pending+len(pubs) == 0:
			p.id = c.nextID()
			p.after, p.afterSeq = strconv.FormatUint(c.end, 10), true
		default:
			p.id = c.nextID()
			p.after = c.lastID
		}
		pubs = append(pubs, p)
		c.lastID = p.id
		if h != nil {
			h.version = version
		}
	}
	c.pending += len(pubs)
	// Only the call's last publish asks for an acknowledgement: when it is
	// stored, the chain guarantees that the ones before it are too, each
	// right after the other (see the top of the file), which spares
	// JetStream an acknowledgement per event.
	sentUpTo := len(pubs)
	for i := range pubs {
		m := c.message(&pubs[i])
		if i == len(pubs)-1 {
			m.Reply = l.acks.reserve(batch)
		}
		if err := l.nc.PublishMsg(m); err != nil {
			if i == len(pubs)-1 {
				l.acks.unreserve(batch)
			}
			// Most likely never sent; maybe sent. Either way the chain
			// cannot go on from here.
			sentUpTo = i
			break
		}
	}
	published := time.Now()
	c.mu.Unlock()

	var end, unknown uint64
	failed := false
	if sentUpTo == len(pubs) && len(pubs) > 0 {
		l.acks.wait(ctx, batch)
		seq, err, got := batch.outcome(0)
		switch {
		case got && err == nil:
			for i, p := range pubs {
				results[p.k] = Result{Position: seq - uint64(len(pubs)-1-i), Version: p.version}
			}
			end = seq
		case got && c.sole:
			// Only this process appends, at the positions it predicted: the
			// log's last position, which the refusal names, tells which of
			// the call's publishes are stored.
			failed = true
			last, known := wrongLastSequence(err)
			for i, p := range pubs {
				switch {
				case known && p.pos <= last:
					results[p.k] = Result{Position: p.pos, Version: p.version}
					end = max(end, p.pos)
				case known || i == len(pubs)-1:
					if a, u := settle(probeOutcome{err: err}, p, results); a {
						again = append(again, p.k)
					} else if u {
						unknown++
					}
				default:
					results[p.k].Err = fmt.Errorf("%w: no acknowledgement from the log", ErrUnavailable)
					unknown++
				}
			}
		case got:
			// The last was refused: find out which before it are stored.
			failed = true
			var probed []probeOutcome
			if time.Since(published) < probeTrust {
				probed = l.probe(ctx, pubs[:len(pubs)-1])
			}
			for i, p := range pubs {
				var o probeOutcome
				switch {
				case i == len(pubs)-1:
					o = probeOutcome{err: err}
				case probed != nil:
					o = probed[i]
				default:
					o = probeOutcome{unknown: true}
				}
				a, u := settle(o, p, results)
				if a {
					again = append(again, p.k)
				}
				if u {
					unknown++
				}
				end = max(end, results[p.k].Position)
			}
		default:
			unknown = uint64(len(pubs))
			for _, p := range pubs {
				results[p.k].Err = fmt.Errorf("%w: no acknowledgement from the log: %v", ErrUnavailable, ctx.Err())
			}
		}
	} else {
		for i, p := range pubs {
			if i <= sentUpTo {
				results[p.k].Err = fmt.Errorf("%w: publish failed; the event may or may not be stored", ErrUnavailable)
				unknown++
			} else {
				again = append(again, p.k)
			}
		}
	}
	c.mu.Lock()
	c.pending -= len(pubs)
	c.end = max(c.end, end)
	if failed || unknown > 0 {
		c.breakChain(unknown)
	}
	c.mu.Unlock()
	return again, recheck
}

// probeTrust bounds how long after publishing the chain may ask JetStream
// which publishes it stored: it remembers message ids for the stream's
// Duplicates window (see Open), and an id forgotten would pass for a
// publish never stored.
const probeTrust = time.Second / 2

// probeOutcome is what a probe learnt of one publish.
type probeOutcome struct {
	pos     uint64 // stored at pos
	err     error  // refused (not stored) with err
	unknown bool
}

// settle records a publish's outcome in results; again: it was refused
// because the chain broke (send it again); unknown: nobody knows.
func settle(o probeOutcome, p prepared, results []Result) (again, unknown bool) {
	var apiErr *jetstream.APIError
	switch {
	case o.unknown:
		results[p.k].Err = fmt.Errorf("%w: no acknowledgement from the log", ErrUnavailable)
		return false, true
	case o.err == nil:
		results[p.k] = Result{Position: o.pos, Version: p.version}
		return false, false
	case errors.As(o.err, &apiErr) && (apiErr.ErrorCode == errCodeWrongLastMsgID || apiErr.ErrorCode == errCodeWrongLastSeq):
		// Not stored: an earlier publish failed, or another writer
		// appended. Sent again after the resynchronisation.
		return true, false
	case apiErr != nil:
		results[p.k].Err = fmt.Errorf("%w: publish: %v", ErrUnavailable, o.err)
		return false, false
	default:
		results[p.k].Err = fmt.Errorf("%w: publish: %v", ErrUnavailable, o.err)
		return false, true
	}
}

// probeLastID is a message id no publish has: a probe names it as the
// expected last message, so that JetStream never stores the probe.
const probeLastID = "ensue-probe-never-stored"

// probe asks JetStream which of pubs it stored, by publishing each again
// with its message id and an expected last message that never is: a
// stored one is answered as a duplicate with its position, one not stored
// is refused (10070) and still not stored.
func (l *JetStream) probe(ctx context.Context, pubs []prepared) []probeOutcome {
	out := make([]probeOutcome, len(pubs))
	if len(pubs) == 0 {
		return out
	}
	batch := newAckBatch(len(pubs))
	for i, p := range pubs {
		m := &nats.Msg{Subject: p.subject, Data: p.data, Header: nats.Header{
			hdrMsgID:             {p.id},
			hdrExpectedLastMsgID: {probeLastID},
		}}
		m.Reply = l.acks.reserve(batch)
		if err := l.nc.PublishMsg(m); err != nil {
			l.acks.unreserve(batch)
			for j := i; j < len(pubs); j++ {
				out[j].unknown = true
			}
			break
		}
	}
	l.acks.wait(ctx, batch)
	for i := range pubs {
		if out[i].unknown {
			continue
		}
		seq, err, got := batch.outcome(i)
		switch {
		case !got:
			out[i].unknown = true
		case err == nil:
			out[i].pos = seq
		default:
			out[i].err = err
		}
	}
	return out
}

// AppendAtomic implements Log with a JetStream atomic batch.
func (l *JetStream) AppendAtomic(ctx context.Context, ns string, entries []Entry) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	c := &l.ch
	backoff := time.Millisecond
	for try := 0; ; try++ {
		if try == maxAppendTries {
			return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: batch refused %d times", ErrUnavailable, try)}
		}
		if try > 1 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 50*time.Millisecond)
		}
		shared, _, err := l.enter(ctx)
		if err != nil {
			return nil, &BatchError{Index: -1, Err: err}
		}
		if shared {
			defer c.gate.runlock()
			return l.atomicShared(ctx, ns, entries)
		}
		c.gate.runlock()
		res, err, retry := l.atomicChained(ctx, ns, entries)
		if !retry {
			return res, err
		}
		l.conflictRetries.Add(1)
	}
}

// atomicChained appends an atomic batch while nothing else is in flight, so
// that the position it must follow is known exactly. retry: it was refused
// for a reason that may have passed.
func (l *JetStream) atomicChained(ctx context.Context, ns string, entries []Entry) (res []Result, err error, retry bool) {
	c := &l.ch
	if err := c.gate.lock(ctx); err != nil {
		return nil, &BatchError{Index: -1, Err: err}, false
	}
	defer c.gate.unlock()
	c.mu.Lock()
	ok := c.synced && !c.shared
	c.mu.Unlock()
	if !ok {
		return nil, nil, true // enter resynchronises
	}
	// Nothing is in flight: the cache, completed from the index, is exact.
	versions := make([]uint64, len(entries))
	next := make(map[string]uint64)
	for i, e := range entries {
		if e.Stream == "" {
			continue
		}
		subject := l.subj.stream(ns, e.Stream)
		v, seen := next[subject]
		if !seen {
			if h := c.heads[subject]; h != nil {
				v = h.version
			} else if v, err = l.headOf(ctx, ns, e.Stream, subject); err != nil {
				return nil, &BatchError{Index: i, Err: err}, false
			}
		}
		if e.Expected >= 0 && uint64(e.Expected) != v && !seen {
			// Make sure the cache is right before refusing.
			cur, _, err := l.lastOnSubject(ctx, subject)
			if err != nil {
				return nil, &BatchError{Index: i, Err: err}, false
			}
			if cur != v {
				// The cache is out of date: another writer.
				c.mu.Lock()
				c.breakChain(0)
				c.mu.Unlock()
				return nil, nil, true
			}
		}
		if e.Expected >= 0 && uint64(e.Expected) != v {
			return nil, &BatchError{Index: i, Err: &VersionError{Stream: e.Stream, Expected: e.Expected, Current: v}}, false
		}
		v++
		next[subject] = v
		versions[i] = v
	}
	msgs := make([]*nats.Msg, len(entries))
	for i, e := range entries {
		m := &nats.Msg{Subject: l.subj.stream(ns, e.Stream), Data: e.Data, Header: nats.Header{}}
		if i == 0 {
			m.Header[hdrExpectedLastSeq] = []string{strconv.FormatUint(c.end, 10)}
		}
		if e.Stream != "" {
			m.Header[hdrVersion] = []string{strconv.FormatUint(versions[i], 10)}
		}
		msgs[i] = m
	}
	last, err := l.commitAtomic(ctx, msgs)
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			// Refused as a whole (10071: another writer appended).
			c.breakChain(0)
			return nil, nil, true
		}
		// Maybe stored, maybe not.
		c.breakChain(uint64(len(entries)))
		return nil, err, false
	}
	first := last - uint64(len(entries)) + 1
	res = make([]Result, len(entries))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range entries {
		res[i] = Result{Position: first + uint64(i), Version: versions[i]}
		if e.Stream != "" {
			subject := l.subj.stream(ns, e.Stream)
			h := c.heads[subject]
			if h == nil {
				h = &head{}
				c.heads[subject] = h
			}
			h.version = versions[i]
		}
	}
	c.end, c.next = last, last+1
	return res, nil, false
}

// wrongLastSequence reads the log's last position from a 10071 refusal
// ("wrong last sequence: 123").
func wrongLastSequence(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeWrongLastSeq {
		return 0, false
	}
	i := strings.LastIndexByte(apiErr.Description, ' ')
	n, perr := strconv.ParseUint(apiErr.Description[i+1:], 10, 64)
	return n, perr == nil
}
