package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Durable consumers: a named, filtered position in the log whose checkpoint
// the server keeps. Consumer.Run fetches the records after the checkpoint
// (history first, then live by long polling), hands each to a handler in
// log order, and acknowledges what was handled, so that a consumer
// restarted — or whose server restarted — resumes right after the last
// acknowledged record: no gap, and no acknowledged record twice.

// ConsumerFilter selects the records a consumer receives; empty fields
// select all.
type ConsumerFilter struct {
	// Type is one event type, or a prefix when it ends with "*" ("order.*").
	Type string `json:"type,omitempty"`
	// Source is one event source.
	Source string `json:"source,omitempty"`
	// Subject is one subject (stream).
	Subject string `json:"subject,omitempty"`
}

// ConsumerInfo is a consumer as the server keeps it.
type ConsumerInfo struct {
	Name   string         `json:"name"`
	Filter ConsumerFilter `json:"filter"`
	// Checkpoint is the last acknowledged position: the consumer receives
	// the records after it.
	Checkpoint int64     `json:"checkpoint"`
	CreatedAt  time.Time `json:"created_at"`
}

// ErrCheckpointMoved: an acknowledgement named a position before the
// consumer's checkpoint, which another instance of the consumer (or a
// reset) has moved past it. The checkpoint never moves back.
var ErrCheckpointMoved = errors.New("sdk: the consumer's checkpoint is past this position")

func consumerPath(name string) string { return "/v1/consumers/" + url.PathEscape(name) }

// CreateConsumer creates the consumer name, receiving the records filter
// selects after start: 0 for the beginning of the log, EndOfLog for only
// records recorded from now on, or a position. It is idempotent: when the
// consumer exists with the same filter it is answered as is (its checkpoint
// untouched); with another filter it fails with a 409 *Problem — use
// ResetConsumer to change it.
func (c *Client) CreateConsumer(ctx context.Context, name string, filter ConsumerFilter, start int64) (ConsumerInfo, error) {
	return c.putConsumer(ctx, name, filter, start, false)
}

// ResetConsumer creates or replaces the consumer name with filter, its
// checkpoint set to start (see CreateConsumer), so that it receives again,
// or skips, records.
func (c *Client) ResetConsumer(ctx context.Context, name string, filter ConsumerFilter, start int64) (ConsumerInfo, error) {
	return c.putConsumer(ctx, name, filter, start, true)
}

func (c *Client) putConsumer(ctx context.Context, name string, filter ConsumerFilter, start int64, reset bool) (ConsumerInfo, error) {
	var s any = start
	switch {
	case start == 0:
		s = "beginning"
	case start < 0:
		s = "end"
	}
	body, err := json.Marshal(map[string]any{"filter": filter, "start": s})
	if err != nil {
		return ConsumerInfo{}, err
	}
	var q url.Values
	if reset {
		q = url.Values{"reset": {"true"}}
	}
	var info ConsumerInfo
	err = c.do(ctx, "PUT", consumerPath(name), q, body, "application/json", &info)
	return info, err
}

// ConsumerInfo returns the consumer's state, or an error matching ErrNotFound.
func (c *Client) ConsumerInfo(ctx context.Context, name string) (ConsumerInfo, error) {
	var info ConsumerInfo
	err := c.do(ctx, "GET", consumerPath(name), nil, nil, "", &info)
	return info, err
}

// DeleteConsumer removes the consumer and its checkpoint, or fails with an
// error matching ErrNotFound.
func (c *Client) DeleteConsumer(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", consumerPath(name), nil, nil, "", nil)
}

// FetchConsumer returns up to limit records after the consumer's checkpoint
// (0: the server's default, 100). With none, it waits up to wait (at most a
// minute) for one to be recorded. Page.Next is the position to acknowledge
// once the page is handled: it may be past the last record when the filter
// skipped records.
func (c *Client) FetchConsumer(ctx context.Context, name string, limit int, wait time.Duration) (Page, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, wait+max(c.timeout, 10*time.Second))
			defer cancel()
		}
	}
	var p Page
	err := c.do(ctx, "GET", consumerPath(name)+"/events", q, nil, "", &p)
	return p, err
}

// Ack moves the consumer's checkpoint to position: every record up to it
// was handled. Acknowledging the checkpoint again does nothing, so a
// retried Ack is safe; a position before it fails with an error matching
// ErrCheckpointMoved.
func (c *Client) Ack(ctx context.Context, name string, position int64) (ConsumerInfo, error) {
	body, _ := json.Marshal(map[string]int64{"position": position})
	var info ConsumerInfo
	err := c.do(ctx, "POST", consumerPath(name)+"/ack", nil, body, "application/json", &info)
	if p, ok := errors.AsType[*Problem](err); ok && p.Type == "urn:ensue:problem:checkpoint-behind" {
		err = fmt.Errorf("%w: %w", ErrCheckpointMoved, p)
	}
	return info, err
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*Consumer)

// StartAt sets where a consumer that does not exist yet starts: 0 (the
// default) for the beginning of the log, EndOfLog for records recorded from
// then on, or after a position. An existing consumer keeps its checkpoint.
func StartAt(position int64) ConsumerOption { return func(k *Consumer) { k.start = position } }

// FetchLimit sets how many records one fetch asks for (default 100, at
// most 1000).
func FetchLimit(n int) ConsumerOption {
	return func(k *Consumer) {
		if n > 0 {
			k.limit = n
		}
	}
}

// PollWait sets how long one fetch waits on the server for new records
// (default 10s, at most a minute). It bounds how long Run takes to notice
// nothing; new records are delivered as soon as they are recorded.
func PollWait(d time.Duration) ConsumerOption {
	return func(k *Consumer) {
		if d > 0 {
			k.wait = d
		}
	}
}

// AckEachBatch makes Run acknowledge once per fetched batch instead of after
// each record: fewer requests, but a consumer stopped mid-batch receives the
// batch's handled records again.
func AckEachBatch() ConsumerOption { return func(k *Consumer) { k.perBatch = true } }

// Consumer is a durable consumer: see Client.Consumer.
type Consumer struct {
	c        *Client
	name     string
	filter   ConsumerFilter
	start    int64
	limit    int
	wait     time.Duration
	perBatch bool
}

// Consumer returns the durable consumer name (1 to 100 letters, digits, '-'
// and '_') receiving the records filter selects. Run creates it on the
// server when it does not exist.
func (c *Client) Consumer(name string, filter ConsumerFilter, opts ...ConsumerOption) *Consumer {
	k := &Consumer{c: c, name: name, filter: filter, limit: 100, wait: 10 * time.Second}
	for _, o := range opts {
		o(k)
	}
	return k
}

// Name is the consumer's name.
func (k *Consumer) Name() string { return k.name }

// Run delivers the consumer's records to handle, one at a time, in log
// order: first those already recorded after the checkpoint, then new ones
// as they are recorded. A record is acknowledged once handle returns nil
// for it (see AckEachBatch), even when ctx ended meanwhile.
//
// When handle returns an error, Run returns it (wrapped, with the record's
// position) without acknowledging that record or any after it: the next Run
// delivers it again. Run returns ctx.Err() when ctx is done. A server that
// cannot be reached or answers 5xx is retried with the client's
// ReconnectPolicy; other refusals (a filter that differs from the existing
// consumer's, a deleted consumer) are returned.
//
// Delivery is at least once: a record is delivered again only if it was not
// acknowledged (the process stopped between handling and acknowledging), so
// make handle idempotent or acknowledge soon. Run one instance of a
// consumer at a time: two instances receive the same records, and the one
// behind fails with ErrCheckpointMoved.
func (k *Consumer) Run(ctx context.Context, handle func(context.Context, Record) error) error {
	var info ConsumerInfo
	err := k.retry(ctx, func() error {
		var err error
		info, err = k.c.CreateConsumer(ctx, k.name, k.filter, k.start)
		return err
	})
	if err != nil {
		return err
	}
	acked := info.Checkpoint
	ack := func(pos int64) error {
		if pos <= acked {
			return nil
		}
		// Not ctx: a record handled is acknowledged even if ctx ended while
		// it was handled, so that it is not delivered again.
		actx := context.WithoutCancel(ctx)
		err := k.retry(ctx, func() error {
			_, err := k.c.Ack(actx, k.name, pos)
			return err
		})
		if err != nil && ctx.Err() != nil {
			// One last try when the retry loop stopped for ctx.
			_, err = k.c.Ack(actx, k.name, pos)
		}
		if err != nil {
			return fmt.Errorf("sdk: consumer %q: acknowledge position %d: %w", k.name, pos, err)
		}
		acked = pos
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page Page
		err := k.retry(ctx, func() error {
			var err error
			page, err = k.c.FetchConsumer(ctx, k.name, k.limit, k.wait)
			return err
		})
		if err != nil {
			return err
		}
		last := acked
		for _, rec := range page.Records {
			if err := handle(ctx, rec); err != nil {
				if aerr := ack(last); aerr != nil {
					return errors.Join(fmt.Errorf("sdk: consumer %q: record at position %d: %w", k.name, rec.Position, err), aerr)
				}
				return fmt.Errorf("sdk: consumer %q: record at position %d: %w", k.name, rec.Position, err)
			}
			last = rec.Position
			if !k.perBatch {
				if err := ack(last); err != nil {
					return err
				}
			}
			if ctx.Err() != nil {
				if err := ack(last); err != nil {
					return err
				}
				return ctx.Err()
			}
		}
		// Next covers records the filter skipped after the last one.
		if err := ack(max(last, page.Next)); err != nil {
			return err
		}
	}
}

// retry runs f until it succeeds, fails for good (a 4xx answer), ctx ends,
// or the client's ReconnectPolicy gives up.
func (k *Consumer) retry(ctx context.Context, f func() error) error {
	s := subscription{c: k.c, minDelay: k.c.reconnect.MinDelay}
	for failures := 1; ; failures++ {
		err := f()
		if err == nil || !k.transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if limit := k.c.reconnect.MaxAttempts; limit >= 0 && failures > limit {
			return fmt.Errorf("sdk: consumer %q: %d attempts failed: %w", k.name, limit, err)
		}
		wait := s.backoff(failures)
		if k.c.reconnect.OnReconnect != nil {
			k.c.reconnect.OnReconnect(err, failures, wait)
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// transient reports whether a request may succeed if tried again: the
// server could not be reached or did not answer in time, or answered 5xx,
// 408 or 429.
func (k *Consumer) transient(err error) bool {
	if p, ok := errors.AsType[*Problem](err); ok {
		return p.Status >= 500 || p.Status == http.StatusTooManyRequests || p.Status == http.StatusRequestTimeout
	}
	return k.c.baseErr == nil
}
