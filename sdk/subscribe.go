package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// ReconnectPolicy says how Subscribe reconnects after it lost its connection
// or could not open one.
type ReconnectPolicy struct {
	// MinDelay is the wait before the first reconnect attempt (default
	// 100ms). A "retry:" field sent by the server replaces it.
	MinDelay time.Duration
	// MaxDelay caps the wait, which doubles after each failed attempt
	// (default 5s). Each wait is drawn between half of it and all of it, so
	// that many subscribers do not reconnect in step.
	MaxDelay time.Duration
	// MaxAttempts bounds consecutive failed attempts (default 20, about a
	// minute and a half with the default delays); after that Subscribe
	// yields the last error and stops. A connection that delivered a record
	// or stayed open for at least MaxDelay resets the count. Negative means
	// no bound.
	MaxAttempts int
	// OnReconnect, when set, is called before each wait with the error that
	// ended the connection (or prevented it), the attempt number (from 1)
	// and the wait, so that a program can say it is reconnecting. It runs
	// on the subscribing goroutine: keep it short.
	OnReconnect func(err error, attempt int, wait time.Duration)
}

var defaultReconnect = ReconnectPolicy{MinDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second, MaxAttempts: 20}

// WithReconnectPolicy changes how Subscribe reconnects. Zero fields keep
// their defaults.
func WithReconnectPolicy(p ReconnectPolicy) Option {
	return func(c *Client) {
		if p.MinDelay > 0 {
			c.reconnect.MinDelay = p.MinDelay
		}
		if p.MaxDelay > 0 {
			c.reconnect.MaxDelay = p.MaxDelay
		}
		if p.MaxAttempts != 0 {
			c.reconnect.MaxAttempts = p.MaxAttempts
		}
		if p.OnReconnect != nil {
			c.reconnect.OnReconnect = p.OnReconnect
		}
	}
}

// Subscribe delivers the records q selects as they are recorded, in log
// order, starting after q.After (0: the beginning of the log; EndOfLog: only
// events recorded from now on). q.Limit is ignored.
//
// When the connection drops, Subscribe reconnects by itself (see
// ReconnectPolicy), resuming after the last position it delivered, so the
// loop sees no gap and no record twice. A subscription started at EndOfLog
// that has not yet seen a position resumes at the end of the log again.
//
// The sequence ends when ctx is done or the loop stops. It yields an error,
// then ends, when the server refuses the subscription (a bad filter, say) or
// when reconnecting failed MaxAttempts times in a row. A record that cannot
// be decoded is yielded as an error; the loop may go on past it.
//
// Leave the SDK client's http.Client without a Timeout: it would cut the
// subscription.
func (c *Client) Subscribe(ctx context.Context, q Query) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s := subscription{c: c, q: q, last: q.After, known: q.After >= 0, minDelay: c.reconnect.MinDelay}
		s.run(ctx, yield)
	}
}

type subscription struct {
	c *Client
	q Query
	// last is the position after which the next record is wanted, valid when
	// known.
	last     int64
	known    bool
	resumed  bool
	minDelay time.Duration
}

// errStopped tells run that the loop broke out.
var errStopped = errors.New("stopped")

// permanentError marks an error a reconnect cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func (s *subscription) run(ctx context.Context, yield func(Record, error) bool) {
	failures := 0
	for {
		progressed, err := s.connect(ctx, yield)
		if errors.Is(err, errStopped) || ctx.Err() != nil {
			return
		}
		if perm, ok := errors.AsType[permanentError](err); ok {
			yield(Record{}, perm.err)
			return
		}
		if progressed {
			failures = 0
		}
		failures++
		if limit := s.c.reconnect.MaxAttempts; limit >= 0 && failures > limit {
			yield(Record{}, fmt.Errorf("sdk: subscription lost, %d reconnect attempts failed: %w", limit, err))
			return
		}
		wait := s.backoff(failures)
		if s.c.reconnect.OnReconnect != nil {
			s.c.reconnect.OnReconnect(err, failures, wait)
		}
		if !sleep(ctx, wait) {
			return
		}
		s.resumed = true
	}
}

// backoff returns the wait before attempt n (from 1): MinDelay doubled n-1
// times, capped at MaxDelay, then drawn in [d/2, d].
func (s *subscription) backoff(n int) time.Duration {
	d := s.minDelay
	for i := 1; i < n && d < s.c.reconnect.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, max(s.c.reconnect.MaxDelay, s.minDelay))
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// connect opens one connection and delivers what it carries until it ends.
// progressed reports that the connection moved the resume point or lasted
// long enough to count as healthy, so that a server accepting and at once
// dropping connections still exhausts MaxAttempts.
func (s *subscription) connect(ctx context.Context, yield func(Record, error) bool) (progressed bool, err error) {
	startLast, startKnown := s.last, s.known
	var opened time.Time // when the event stream started, zero if it did not
	defer func() {
		moved := s.known != startKnown || s.last != startLast
		progressed = moved || (!opened.IsZero() && time.Since(opened) >= s.c.reconnect.MaxDelay)
	}()
	q := s.q
	q.After = EndOfLog
	if s.known {
		q.After = s.last
	}
	req, err := s.c.newRequest(ctx, "GET", "/v1/subscribe", q.values(true, false), nil, "")
	if err != nil {
		return false, permanentError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.known && s.resumed && s.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	resp, err := s.c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p := decodeProblem(resp)
		switch resp.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests:
			return false, p
		}
		if resp.StatusCode < 500 {
			return false, permanentError{p}
		}
		return false, p
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, permanentError{fmt.Errorf("sdk: %s answered with Content-Type %q, not an event stream", req.URL.Path, resp.Header.Get("Content-Type"))}
	}

	opened = time.Now()
	r := newSSEReader(resp.Body)
	for {
		msg, err := r.next()
		if err != nil {
			return false, err
		}
		if msg.Retry >= 0 {
			s.minDelay = time.Duration(msg.Retry) * time.Millisecond
		}
		switch msg.Event {
		case "", "message":
		case "error":
			// The server lost its source mid-stream; a new connection may
			// find it again.
			var detail string
			if json.Unmarshal([]byte(msg.Data), &detail) != nil {
				detail = msg.Data
			}
			return false, fmt.Errorf("sdk: the server ended the subscription: %s", detail)
		default:
			continue // a kind of message this client does not know
		}
		if msg.HasData && msg.Data != "" {
			var rec Record
			if err := json.Unmarshal([]byte(msg.Data), &rec); err != nil {
				if !yield(Record{}, fmt.Errorf("sdk: subscription: undecodable record (id %q): %w", msg.ID, err)) {
					return false, errStopped
				}
			} else if !s.known || rec.Position > s.last {
				if !yield(rec, nil) {
					return false, errStopped
				}
				s.last, s.known = rec.Position, true
				continue
			} else {
				continue // already delivered
			}
		}
		// An id alone (or with a record that failed to decode) still moves
		// the resume point, as the event stream standard has it.
		if msg.HasID {
			if pos, err := strconv.ParseInt(msg.ID, 10, 64); err == nil && (!s.known || pos > s.last) {
				s.last, s.known = pos, true
			}
		}
	}
}
