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
//
// By default it follows the log with a subscription. With WriteThrough it
// applies the records this process appends as they are offered (Index.Offer)
// and reads from the log only what it was not offered: positions another
// writer filled, or appends whose acknowledgement was lost. That spares the
// log delivering, and the indexer decoding, every event a second time.
type Indexer struct {
	ix     *Index
	log    eventlog.Log
	logger *slog.Logger
	// WriteThrough: see above. Set before Start.
	WriteThrough bool

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

// How long the write-through indexer waits for a missing position to be
// offered before reading it from the log, and how often it looks for
// events it was not offered when nothing is offered.
const (
	gapWait  = 20 * time.Millisecond
	idlePoll = 200 * time.Millisecond
)

func (in *Indexer) follow(ctx context.Context) error {
	if in.WriteThrough {
		return in.tail(ctx)
	}
	return in.subscribe(ctx)
}

// tail is the write-through indexer's loop.
func (in *Indexer) tail(ctx context.Context) error {
	var p fastjson.Parser
	timer := time.NewTimer(0)
	defer timer.Stop()
	var gapSince time.Time
	// logEnd is the log's last position when last asked.
	logEnd, err := in.log.LastPosition(ctx)
	if err != nil {
		return err
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		run, next := in.ix.takeOffered(applyBatch)
		if len(run) > 0 {
			if err := in.ix.Apply(run, run[len(run)-1].Position); err != nil {
				return err
			}
			in.setErr(nil)
			gapSince = time.Time{}
			continue
		}
		applied := in.ix.Applied()
		var wait time.Duration
		switch {
		case next > 0:
			// Positions before next were not offered (yet).
			if gapSince.IsZero() {
				gapSince = time.Now()
			}
			if wait = gapWait - time.Since(gapSince); wait <= 0 {
				if _, err := in.readLog(ctx, &p, applied, next-1); err != nil {
					return err
				}
				gapSince = time.Time{}
				continue
			}
		case logEnd > applied:
			// Behind the log (catching up, or events not offered).
			read, err := in.readLog(ctx, &p, applied, logEnd)
			if err != nil {
				return err
			}
			if !read {
				logEnd = applied // ask again after idlePoll
			}
			continue
		default:
			wait = idlePoll
		}
		timer.Reset(wait)
		select {
		case <-in.ix.offerSig:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
			if next == 0 {
				last, err := in.log.LastPosition(ctx)
				if err != nil {
					return err
				}
				logEnd = last
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// readLog applies the log's records after `after`, up to `to` or one
// page; read tells whether there were any.
func (in *Indexer) readLog(ctx context.Context, p *fastjson.Parser, after, to uint64) (read bool, err error) {
	recs, upTo, err := in.log.Read(ctx, eventlog.Query{After: after, Limit: int(min(to-after, 1000))})
	if err != nil {
		return false, err
	}
	if upTo <= after {
		return false, nil
	}
	batch := make([]Applied, len(recs))
	for i, r := range recs {
		batch[i] = applied(p, r)
	}
	if err := in.ix.Apply(batch, upTo); err != nil {
		return false, err
	}
	in.ix.dropOffered(upTo)
	in.setErr(nil)
	return true, nil
}

func (in *Indexer) subscribe(ctx context.Context) error {
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
