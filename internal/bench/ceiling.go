package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ensue-dev/ensue/internal/eventlog"
)

const (
	ceilingStream = "BENCH"
	ceilingPrefix = "bench."
)

// ceiling is the raw JetStream Ensue is measured against: an embedded
// server of its own, set up as Ensue's embedded log is (file storage, fsync
// every second, in-process client connection), and one stream.
type ceiling struct {
	emb *eventlog.Embedded
	nc  *nats.Conn
	js  jetstream.JetStream

	mu       sync.Mutex
	failures atomic.Int64
	first    error
}

func startCeiling(ctx context.Context, dir string, maxPending int) (*ceiling, error) {
	emb, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{Dir: dir, SyncInterval: time.Second, ServerName: "bench-ceiling"})
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	c := &ceiling{emb: emb}
	if c.nc, err = emb.Connect("bench-ceiling"); err != nil {
		emb.Shutdown()
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	c.js, err = jetstream.New(c.nc,
		jetstream.WithPublishAsyncMaxPending(maxPending),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { c.fail(err) }))
	if err == nil {
		_, err = c.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        ceilingStream,
			Subjects:    []string{ceilingPrefix + ">"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Replicas:    1,
			Duplicates:  time.Second, // as Ensue's log: no Nats-Msg-Id is sent
			AllowDirect: true,
		})
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	return c, nil
}

func (c *ceiling) fail(err error) {
	c.failures.Add(1)
	c.mu.Lock()
	if c.first == nil {
		c.first = err
	}
	c.mu.Unlock()
}

func (c *ceiling) close() {
	if c.nc != nil {
		c.nc.Close()
	}
	c.emb.Shutdown()
}

// publish sends every message of w with PublishAsync from one goroutine
// and waits for every acknowledgement.
func (c *ceiling) publish(ctx context.Context, w *workload) (appendResult, error) {
	subjects := make([]string, len(w.subjects))
	for i, s := range w.subjects {
		subjects[i] = ceilingPrefix + s
	}
	before, err := c.msgs(ctx)
	if err != nil {
		return appendResult{}, err
	}
	start := time.Now()
	for i, data := range w.bodies {
		if err := c.publishOne(subjects[i], data); err != nil {
			c.fail(err)
			break
		}
	}
	select {
	case <-c.js.PublishAsyncComplete():
	case <-ctx.Done():
		return appendResult{}, fmt.Errorf("ceiling: waiting for acknowledgements: %w", ctx.Err())
	}
	res := appendResult{events: w.nEvents, elapsed: time.Since(start)}
	if n := c.failures.Load(); n > 0 {
		return res, fmt.Errorf("ceiling: %d publish(es) failed; the first: %w", n, c.first)
	}
	after, err := c.msgs(ctx)
	if err != nil {
		return res, err
	}
	if got := after - before; got != uint64(w.nEvents) {
		return res, fmt.Errorf("ceiling: %d messages acknowledged but the stream grew by %d", w.nEvents, got)
	}
	return res, nil
}

// publishOne publishes one message, waiting while the acknowledgements
// are behind: PublishAsync gives up after 200 ms with too many pending
// (which a busy machine reaches), and a publish option to wait longer
// would cost every publish its processing.
func (c *ceiling) publishOne(subject string, data []byte) error {
	for stalls := 0; ; stalls++ {
		_, err := c.js.PublishAsync(subject, data)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || stalls == 150 {
			return err
		}
	}
}

func (c *ceiling) msgs(ctx context.Context) (uint64, error) {
	s, err := c.js.Stream(ctx, ceilingStream)
	if err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	return info.State.Msgs, nil
}
