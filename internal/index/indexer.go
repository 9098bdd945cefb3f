package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ensue-dev/ensue/internal/eventlog"
)

// Indexer applies the log to an Index: it catches up from the index's
// checkpoint, then follows the log live. Start it once; Stop it once.
type Indexer struct {
	ix     *Index
	log    eventlog.Log
	logger *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// NewIndexer returns an indexer of lg into ix.
func NewIndexer(ix *Index, lg eventlog.Log, logger *slog.Logger) *Indexer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Indexer{ix: ix, log: lg, logger: logger}
}

// applyBatch is the most records applied in one Pebble batch.
const applyBatch = 2000

// Start begins following the log in the background.
func (in *Indexer) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancel
	in.done = make(chan struct{})
	go func() {
		defer close(in.done)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := in.follow(ctx)
			if ctx.Err() != nil {
				return
			}
			in.setErr(err)
			in.logger.Warn("index: following the log failed; retrying", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}()
	return nil
}

// Stop stops following the log and waits for the goroutine to end.
func (in *Indexer) Stop(ctx context.Context) error {
	if in.cancel == nil {
		return nil
	}
	in.cancel()
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err is the last error met while following the log, nil when healthy.
func (in *Indexer) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

func (in *Indexer) setErr(err error) {
	in.mu.Lock()
	in.err = err
	in.mu.Unlock()
}

func (in *Indexer) follow(ctx context.Context) error {
	sub, err := in.log.Subscribe(ctx, eventlog.Query{After: in.ix.Applied()})
	if err != nil {
		return err
	}
	defer sub.Stop()
	recs := make(chan eventlog.Record, applyBatch)
	errc := make(chan error, 1)
	go func() {
		defer close(recs)
		for {
			r, err := sub.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case recs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	var p fastjson.Parser
	batch := make([]Applied, 0, applyBatch)
	for {
		r, ok := <-recs
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return <-errc
		}
		batch = batch[:0]
		last := r.Position
		batch = append(batch, applied(&p, r))
	drain:
		for len(batch) < applyBatch {
			select {
			case r, ok := <-recs:
				if !ok {
					break drain
				}
				batch = append(batch, applied(&p, r))
				last = r.Position
			default:
				break drain
			}
		}
		if err := in.ix.Apply(batch, last); err != nil {
			return err
		}
		in.setErr(nil)
	}
}

func applied(p *fastjson.Parser, r eventlog.Record) Applied {
	a := Applied{Position: r.Position, Namespace: r.Namespace, Stream: r.Stream, Version: r.Version}
	v, err := p.ParseBytes(r.Data)
	if err != nil {
		// Only valid events are ever stored; a record that is not one is
		// kept out of the identity index rather than stopping the indexer.
		return a
	}
	a.Source = string(v.GetStringBytes("source"))
	a.ID = string(v.GetStringBytes("id"))
	a.CorrelationID = string(v.GetStringBytes("correlationid"))
	return a
}

// CatchUp waits until the index has applied the whole log as it is now.
func (in *Indexer) CatchUp(ctx context.Context) error {
	last, err := in.log.LastPosition(ctx)
	if err != nil {
		return fmt.Errorf("index: catch up: %w", err)
	}
	if err := in.ix.WaitApplied(ctx, last); err != nil {
		if e := in.Err(); e != nil {
			return errors.Join(err, e)
		}
		return err
	}
	return nil
}
