package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	hdrVersion          = "Ensue-Version"
	hdrExpectedSubjSeq  = "Nats-Expected-Last-Subject-Sequence"
	hdrBatchID          = "Nats-Batch-Id"
	hdrBatchSeq         = "Nats-Batch-Sequence"
	hdrBatchCommit      = "Nats-Batch-Commit"
	errCodeWrongLastSeq = 10071 // another write reached the subject first
	errCodeInProcess    = 10164 // an earlier write to the subject is still being replicated
	// HeaderRoom is what a message's headers may add to an event's size; the
	// server's max_payload must be at least MaxEventBytes + HeaderRoom.
	HeaderRoom = 16 << 10
)

// Config configures a JetStream log. Zero fields take the defaults.
type Config struct {
	// Stream is the JetStream stream's name. Default "ENSUE".
	Stream string
	// SubjectPrefix is the first tokens of every event subject. Default "ensue.ev".
	SubjectPrefix string
	// Replicas of the stream: 1 embedded (default), 3 on a cluster.
	Replicas int
	// MaxEventBytes is the largest event accepted. Default 1 MiB.
	MaxEventBytes int
	// Timeout bounds each call whose context has no deadline, and how long
	// an append waits for its acknowledgement. Default 10s.
	Timeout time.Duration
	// MaxCachedStreams bounds the per-stream version cache. Default 100,000.
	MaxCachedStreams int
	// Logger receives the log's rare notices. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Stream == "" {
		c.Stream = "ENSUE"
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "ensue.ev"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = 1 << 20
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxCachedStreams == 0 {
		c.MaxCachedStreams = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("eventlog: replicas must be 1..5, got %d", c.Replicas)
	}
	if c.MaxEventBytes < 1024 {
		return fmt.Errorf("eventlog: MaxEventBytes must be at least 1024, got %d", c.MaxEventBytes)
	}
	return nil
}

// JetStream is the Log kept in a NATS JetStream stream.
type JetStream struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	cfg  Config
	subj subjects

	directAPI string // batch and single direct gets
	msgGetAPI string // leader-served gets (authoritative)

	mu      sync.Mutex
	streams map[string]*streamState // by subject

	// staleReads counts reads a direct get answered short and the stream
	// leader completed (see "Reads and replicas" in read.go).
	staleReads atomic.Uint64
	// inProcessRetries and conflictRetries count publishes refused with
	// 10164 and 10071 and tried again.
	inProcessRetries, conflictRetries atomic.Uint64
}

var _ Log = (*JetStream)(nil)

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

// Open creates or updates the log's JetStream stream and returns the log.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*JetStream, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if mp := nc.MaxPayload(); mp < int64(cfg.MaxEventBytes+HeaderRoom) {
		return nil, fmt.Errorf("eventlog: the NATS server's max_payload is %d bytes; events of up to %d bytes need at least %d: raise max_payload in the server's configuration or lower the event size limit",
			mp, cfg.MaxEventBytes, cfg.MaxEventBytes+HeaderRoom)
	}
	// Without an ack timeout, a publish whose ack never comes (its stream
	// leader died with it in flight) stays pending in nats.go forever,
	// and 8192 of them stall every later append.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192), jetstream.WithPublishAsyncTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	l := &JetStream{
		nc:        nc,
		js:        js,
		cfg:       cfg,
		subj:      subjects{prefix: cfg.SubjectPrefix},
		directAPI: "$JS.API.DIRECT.GET." + cfg.Stream,
		msgGetAPI: "$JS.API.STREAM.MSG.GET." + cfg.Stream,
		streams:   make(map[string]*streamState),
	}
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	sc := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Ensue event log",
		Subjects:    []string{l.subj.all()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Replicas:    cfg.Replicas,
		MaxMsgSize:  int32(cfg.MaxEventBytes + HeaderRoom),
		// Ensue decides dedupe itself (see the store package) and sends no
		// Nats-Msg-Id: the window is kept at its minimum so it costs nothing.
		Duplicates:         time.Second,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return nil, fmt.Errorf("eventlog: create stream %s: %w", cfg.Stream, err)
	}
	return l, nil
}

func (l *JetStream) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.cfg.Timeout)
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

func parseVersion(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("eventlog: stream event without " + hdrVersion + " header")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("eventlog: bad %s header %q", hdrVersion, s)
	}
	return v, nil
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

// Append implements Log.
func (l *JetStream) Append(ctx context.Context, ns string, entries []Entry) []Result {
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

// AppendAtomic implements Log with a JetStream atomic batch.
func (l *JetStream) AppendAtomic(ctx context.Context, ns string, entries []Entry) ([]Result, error) {
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
	id := nats.NewInbox()[len(nats.InboxPrefix):]
	versions := make([]uint64, len(entries))
	for s := range next {
		next[s] = states[s].version
	}
	var ackMsg *nats.Msg
	for i, e := range entries {
		subject := l.subj.stream(ns, e.Stream)
		m := &nats.Msg{Subject: subject, Data: e.Data, Header: nats.Header{
			hdrBatchID:  {id},
			hdrBatchSeq: {strconv.Itoa(i + 1)},
		}}
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
		if i < len(entries)-1 {
			if err := l.nc.PublishMsg(m); err != nil {
				return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: publish batch: %v", ErrUnavailable, err)}
			}
			continue
		}
		m.Header[hdrBatchCommit] = []string{"1"}
		var err error
		ackMsg, err = l.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			for _, st := range states {
				st.known = false
			}
			return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: commit batch: %v", ErrUnavailable, err)}
		}
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Seq   uint64              `json:"seq"`
		Count int                 `json:"count"`
	}
	if err := json.Unmarshal(ackMsg.Data, &ack); err != nil {
		return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: decode batch ack: %v", ErrUnavailable, err)}
	}
	if ack.Error != nil {
		if ack.Error.ErrorCode == errCodeWrongLastSeq || ack.Error.ErrorCode == errCodeInProcess {
			return nil, ack.Error
		}
		return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: batch refused: %v", ErrUnavailable, ack.Error)}
	}
	if ack.Count != len(entries) {
		return nil, &BatchError{Index: -1, Err: fmt.Errorf("%w: batch stored %d of %d events", ErrUnavailable, ack.Count, len(entries))}
	}
	first := ack.Seq - uint64(len(entries)) + 1
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

// Subscribe implements Log with an ordered consumer.
func (l *JetStream) Subscribe(ctx context.Context, q Query) (Subscription, error) {
	filter := l.subj.filter(q)
	cctx, cancel := l.withTimeout(ctx)
	defer cancel()
	cons, err := l.js.OrderedConsumer(cctx, l.cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    q.After + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: subscribe: %v", ErrUnavailable, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("%w: subscribe: %v", ErrUnavailable, err)
	}
	return &subscription{l: l, it: it}, nil
}

type subscription struct {
	l    *JetStream
	it   jetstream.MessagesContext
	once sync.Once
}

func (s *subscription) Next(ctx context.Context) (Record, error) {
	m, err := s.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return Record{}, ctx.Err()
		}
		return Record{}, fmt.Errorf("%w: subscription: %v", ErrUnavailable, err)
	}
	md, err := m.Metadata()
	if err != nil {
		return Record{}, fmt.Errorf("eventlog: subscription metadata: %w", err)
	}
	return s.l.record(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Headers(), m.Data())
}

func (s *subscription) Stop() { s.once.Do(s.it.Stop) }

// record builds a Record from a stored message's parts.
func (l *JetStream) record(subject string, seq uint64, ts time.Time, h nats.Header, data []byte) (Record, error) {
	ns, stream, err := l.subj.parse(subject)
	if err != nil {
		return Record{}, fmt.Errorf("eventlog: message %d on unexpected subject %q", seq, subject)
	}
	r := Record{Position: seq, Namespace: ns, Stream: stream, RecordedAt: ts.UTC(), Data: data}
	if stream != "" {
		if r.Version, err = parseVersion(h.Get(hdrVersion)); err != nil {
			return Record{}, fmt.Errorf("message %d: %w", seq, err)
		}
	}
	return r, nil
}
