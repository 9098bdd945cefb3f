package eventlog

// Appending while other writers share the log: every publish states the
// last position of its stream (Nats-Expected-Last-Subject-Sequence), and this
// process keeps one append per stream in flight. See chain.go for when.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamState caches a stream's version and the position of its last event.
// Holding lock serialises this process's appends to the stream (JetStream's
// expected subject sequence keeps other processes honest); it is a channel
// so that a caller waiting for it gives up when its context ends, never
// later because another caller's context is longer.
type streamState struct {
	lock    chan struct{} // holds one token while an append owns the stream
	known   bool
	version uint64
	lastSeq uint64
}

// state returns the cache entry of a stream subject.
func (l *JetStream) state(subject string) *streamState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.streams[subject]
	if !ok {
		if len(l.streams) >= l.cfg.MaxCachedStreams {
			// Dropping the cache is always safe: an entry is only a hint that
			// JetStream's expected sequence check confirms or refutes.
			clear(l.streams)
		}
		st = &streamState{lock: make(chan struct{}, 1)}
		l.streams[subject] = st
	}
	return st
}

// refresh reads a stream's latest record from the stream leader.
func (l *JetStream) refresh(ctx context.Context, subject string, st *streamState) error {
	ver, seq, err := l.lastOnSubject(ctx, subject)
	if err != nil {
		st.known = false
		return err
	}
	st.version, st.lastSeq, st.known = ver, seq, true
	return nil
}

// lockStreams locks the state of every stream named in entries, in sorted
// order so that concurrent batches cannot deadlock, and returns them by
// stream name with an unlock function. It fails when ctx ends first.
func (l *JetStream) lockStreams(ctx context.Context, ns string, entries []Entry) (map[string]*streamState, func(), error) {
	var names []string
	for _, e := range entries {
		if e.Stream != "" {
			names = append(names, e.Stream)
		}
	}
	if len(names) == 0 {
		return nil, func() {}, nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	states := make(map[string]*streamState, len(names))
	locked := make([]*streamState, 0, len(names))
	unlock := func() {
		for _, st := range locked {
			<-st.lock
		}
	}
	for _, n := range names {
		st := l.state(l.subj.stream(ns, n))
		select {
		case st.lock <- struct{}{}:
		case <-ctx.Done():
			unlock()
			return nil, nil, fmt.Errorf("%w: waiting for earlier appends to stream %q: %v", ErrUnavailable, n, ctx.Err())
		}
		states[n] = st
		locked = append(locked, st)
	}
	return states, unlock, nil
}

// appendShared appends with per-stream locks and expected subject sequences.
func (l *JetStream) appendShared(ctx context.Context, ns string, entries []Entry) []Result {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	results := make([]Result, len(entries))
	states, _, err := l.lockStreams(ctx, ns, entries)
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	// A stream is released as soon as its last entry of this call has its
	// outcome, not when the whole call ends: concurrent batches sharing a
	// stream then wait for one acknowledgement, not for all of ours.
	left := make(map[string]int, len(states))
	for _, e := range entries {
		if e.Stream != "" {
			left[e.Stream]++
		}
	}
	finished := func(stream string) {
		if stream == "" {
			return
		}
		if left[stream]--; left[stream] == 0 {
			<-states[stream].lock
		}
	}
	defer func() {
		for stream, n := range left {
			if n > 0 {
				<-states[stream].lock
			}
		}
	}()
	// Entries are published in segments in which each stream occurs at
	// most once: within a segment every publish is pipelined; the next
	// entry of a stream needs the position of its previous one, known only
	// when the segment's acks are in.
	seen := make(map[string]struct{})
	for i := 0; i < len(entries); {
		clear(seen)
		j := i
		for ; j < len(entries); j++ {
			if s := entries[j].Stream; s != "" {
				if _, dup := seen[s]; dup {
					break
				}
				seen[s] = struct{}{}
			}
		}
		l.appendSegment(ctx, ns, entries[i:j], results[i:j], states, finished)
		i = j
	}
	return results
}

// appendSegment publishes a segment and calls finished(stream) once each
// entry's outcome is final.
func (l *JetStream) appendSegment(ctx context.Context, ns string, seg []Entry, res []Result, states map[string]*streamState, finished func(stream string)) {
	futures := make([]jetstream.PubAckFuture, len(seg))
	for k, e := range seg {
		subject := l.subj.stream(ns, e.Stream)
		var st *streamState
		if e.Stream != "" {
			st = states[e.Stream]
			if err := l.checkExpected(ctx, subject, e, st); err != nil {
				res[k].Err = err
				finished(e.Stream)
				continue
			}
		}
		fut, err := l.js.PublishMsgAsync(l.message(subject, e, st))
		if err != nil {
			res[k].Err = fmt.Errorf("%w: publish: %v", ErrUnavailable, err)
			if st != nil {
				st.known = false
			}
			finished(e.Stream)
			continue
		}
		futures[k] = fut
	}
	var retry []int
	for k, fut := range futures {
		if fut == nil {
			continue
		}
		var st *streamState
		if seg[k].Stream != "" {
			st = states[seg[k].Stream]
		}
		ack, err := awaitAck(ctx, fut)
		switch {
		case ack != nil:
			res[k].Position = ack.Sequence
			if st != nil {
				st.version++
				st.lastSeq = ack.Sequence
				res[k].Version = st.version
			}
		case err != nil:
			if st != nil {
				st.known = false
				if retryable(err) {
					l.countRetry(err)
					retry = append(retry, k)
					continue
				}
			}
			res[k].Err = fmt.Errorf("%w: publish: %v", ErrUnavailable, err)
		default:
			// Maybe stored, maybe not: the next append re-reads the stream.
			if st != nil {
				st.known = false
			}
			res[k].Err = fmt.Errorf("%w: no acknowledgement from the log: %v", ErrUnavailable, ctx.Err())
		}
		finished(seg[k].Stream)
	}
	for _, k := range retry {
		e := seg[k]
		res[k] = l.appendOne(ctx, l.subj.stream(ns, e.Stream), e, states[e.Stream])
		finished(e.Stream)
	}
}

// awaitAck waits for a publish's outcome: its ack, or its error, or the end
// of ctx (nil, nil). An outcome already in wins over the end of ctx.
func awaitAck(ctx context.Context, fut jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-fut.Ok():
		return ack, nil
	case err := <-fut.Err():
		return nil, err
	default:
	}
	select {
	case ack := <-fut.Ok():
		return ack, nil
	case err := <-fut.Err():
		return nil, err
	case <-ctx.Done():
		return nil, nil
	}
}

// checkExpected makes sure st is known and matches e's expected version,
// re-reading the stream once before reporting a mismatch (another node may
// have written since the cache was filled).
func (l *JetStream) checkExpected(ctx context.Context, subject string, e Entry, st *streamState) error {
	fresh := false
	if !st.known {
		if err := l.refresh(ctx, subject, st); err != nil {
			return err
		}
		fresh = true
	}
	if e.Expected < 0 || uint64(e.Expected) == st.version {
		return nil
	}
	if !fresh {
		if err := l.refresh(ctx, subject, st); err != nil {
			return err
		}
		if uint64(e.Expected) == st.version {
			return nil
		}
	}
	return &VersionError{Stream: e.Stream, Expected: e.Expected, Current: st.version}
}

func (l *JetStream) message(subject string, e Entry, st *streamState) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: e.Data}
	if st != nil {
		m.Header = nats.Header{
			hdrExpectedSubjSeq: {strconv.FormatUint(st.lastSeq, 10)},
			hdrVersion:         {strconv.FormatUint(st.version+1, 10)},
		}
	}
	return m
}

// appendOne appends one stream entry synchronously, re-reading the stream
// and trying again while other writers get there first (when no version was
// expected) or the cluster is still replicating an earlier write.
func (l *JetStream) appendOne(ctx context.Context, subject string, e Entry, st *streamState) Result {
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		if err := l.checkExpected(ctx, subject, e, st); err != nil {
			return Result{Err: err}
		}
		ack, err := l.js.PublishMsg(ctx, l.message(subject, e, st))
		if err == nil {
			st.version++
			st.lastSeq = ack.Sequence
			return Result{Position: ack.Sequence, Version: st.version}
		}
		st.known = false
		if !retryable(err) || attempt >= 100 {
			return Result{Err: fmt.Errorf("%w: publish: %v", ErrUnavailable, err)}
		}
		l.countRetry(err)
		if inProcess(err) {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return Result{Err: fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())}
			}
			backoff = min(2*backoff, 50*time.Millisecond)
		}
	}
}

// countRetry records why a publish is about to be retried.
func (l *JetStream) countRetry(err error) {
	if inProcess(err) {
		l.inProcessRetries.Add(1)
	} else {
		l.conflictRetries.Add(1)
	}
}

func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == errCodeWrongLastSeq || apiErr.ErrorCode == errCodeInProcess
}

func inProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeInProcess
}

// atomicShared is AppendAtomic with per-stream locks.
func (l *JetStream) atomicShared(ctx context.Context, ns string, entries []Entry) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	states, unlock, err := l.lockStreams(ctx, ns, entries)
	if err != nil {
		return nil, &BatchError{Index: -1, Err: err}
	}
	defer unlock()
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		res, err := l.tryAtomic(ctx, ns, entries, states)
		if err == nil || !retryable(err) {
			return res, err
		}
		if attempt >= 100 {
			return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: batch refused %d times: %v", ErrUnavailable, attempt+1, err)}
		}
		l.countRetry(err)
		// A stale cache or a write still replicating: re-read and retry.
		for _, st := range states {
			st.known = false
		}
		if inProcess(err) {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())}
			}
			backoff = min(2*backoff, 50*time.Millisecond)
		}
	}
}

func (l *JetStream) tryAtomic(ctx context.Context, ns string, entries []Entry, states map[string]*streamState) ([]Result, error) {
	// Check every expected version first, in input order, against the
	// versions the batch itself produces.
	next := make(map[string]uint64, len(states))
	firstOf := make(map[string]bool, len(states))
	for i, e := range entries {
		if e.Stream == "" {
			continue
		}
		st := states[e.Stream]
		if _, ok := next[e.Stream]; !ok {
			if err := l.checkExpected(ctx, l.subj.stream(ns, e.Stream), Entry{Stream: e.Stream, Expected: AnyVersion}, st); err != nil {
				return nil, &BatchError{Index: i, Err: err}
			}
			next[e.Stream] = st.version
		}
		if e.Expected >= 0 && uint64(e.Expected) != next[e.Stream] {
			if err := l.refresh(ctx, l.subj.stream(ns, e.Stream), st); err != nil {
				return nil, &BatchError{Index: i, Err: err}
			}
			return nil, &BatchError{Index: i, Err: &VersionError{Stream: e.Stream, Expected: e.Expected, Current: next[e.Stream]}}
		}
		next[e.Stream]++
	}
	versions := make([]uint64, len(entries))
	for s := range next {
		next[s] = states[s].version
	}
	msgs := make([]*nats.Msg, len(entries))
	for i, e := range entries {
		m := &nats.Msg{Subject: l.subj.stream(ns, e.Stream), Data: e.Data, Header: nats.Header{}}
		if e.Stream != "" {
			st := states[e.Stream]
			if !firstOf[e.Stream] {
				firstOf[e.Stream] = true
				m.Header[hdrExpectedSubjSeq] = []string{strconv.FormatUint(st.lastSeq, 10)}
			}
			next[e.Stream]++
			versions[i] = next[e.Stream]
			m.Header[hdrVersion] = []string{strconv.FormatUint(versions[i], 10)}
		}
		msgs[i] = m
	}
	last, err := l.commitAtomic(ctx, msgs)
	if err != nil {
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			// No answer: the batch may or may not be stored.
			for _, st := range states {
				st.known = false
			}
		}
		return nil, err
	}
	first := last - uint64(len(entries)) + 1
	res := make([]Result, len(entries))
	for i, e := range entries {
		res[i] = Result{Position: first + uint64(i), Version: versions[i]}
		if e.Stream != "" {
			st := states[e.Stream]
			st.version = versions[i]
			st.lastSeq = res[i].Position
		}
	}
	return res, nil
}

// commitAtomic publishes msgs as one JetStream atomic batch and returns the
// position of its last message. A refusal JetStream may lift by itself
// (10071, 10164) is returned as the *jetstream.APIError; any other failure
// is a *BatchError.
func (l *JetStream) commitAtomic(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	id := nats.NewInbox()[len(nats.InboxPrefix):]
	var ackMsg *nats.Msg
	for i, m := range msgs {
		m.Header[hdrBatchID] = []string{id}
		m.Header[hdrBatchSeq] = []string{strconv.Itoa(i + 1)}
		if i < len(msgs)-1 {
			if err := l.nc.PublishMsg(m); err != nil {
				return 0, &BatchError{Index: -1, Err: fmt.Errorf("%w: publish batch: %v", ErrUnavailable, err)}
			}
			continue
		}
		m.Header[hdrBatchCommit] = []string{"1"}
		var err error
		ackMsg, err = l.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return 0, &BatchError{Index: -1, Err: fmt.Errorf("%w: commit batch: %v", ErrUnavailable, err)}
		}
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Seq   uint64              `json:"seq"`
		Count int                 `json:"count"`
	}
	if err := json.Unmarshal(ackMsg.Data, &ack); err != nil {
		return 0, &BatchError{Index: -1, Err: fmt.Errorf("%w: decode batch ack: %v", ErrUnavailable, err)}
	}
	if ack.Error != nil {
		if ack.Error.ErrorCode == errCodeWrongLastSeq || ack.Error.ErrorCode == errCodeInProcess {
			return 0, ack.Error
		}
		return 0, &BatchError{Index: -1, Err: fmt.Errorf("%w: batch refused: %v", ErrUnavailable, ack.Error)}
	}
	if ack.Count != len(msgs) {
		return 0, &BatchError{Index: -1, Err: fmt.Errorf("%w: batch stored %d of %d events", ErrUnavailable, ack.Count, len(msgs))}
	}
	return ack.Seq, nil
}
