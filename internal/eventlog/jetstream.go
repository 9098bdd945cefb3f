package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// SoleWriter promises that no other process can append to the stream
	// (an embedded server that listens on no port): appends then carry no
	// message ids (see chain.go). Leave it false when in doubt.
	SoleWriter bool
	// Heads, when set, gives the versions of streams the log has not
	// appended to lately (see chain.go); without it the log reads them
	// from JetStream.
	Heads Heads
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

	ch   chain // this process's appends (chain.go)
	acks *acks // their acknowledgements (acks.go)

	mu      sync.Mutex
	streams map[string]*streamState // by subject, when appending per stream (shared.go)

	// staleReads counts reads a direct get answered short and the stream
	// leader completed (see "Reads and replicas" in read.go).
	staleReads atomic.Uint64
	// inProcessRetries and conflictRetries count publishes refused with
	// 10164 and 10071 and tried again.
	inProcessRetries, conflictRetries atomic.Uint64
}

var _ Log = (*JetStream)(nil)

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
	// On a JetStream cluster the chain's message id check runs as replicas
	// apply a message, where a refusal is a write error: append per stream.
	l.ch.init(nc.ConnectedClusterName() == "", cfg.SoleWriter)
	if l.acks, err = newAcks(nc); err != nil {
		return nil, err
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
