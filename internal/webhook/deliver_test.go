package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ensue-dev/ensue/internal/clock"
	"github.com/stretchr/testify/require"
)

// testTimeout is the per-attempt timeout of test requests: long and unlike
// any backoff, so a test can tell timeout timers from other waits and never
// fires one by accident.
const testTimeout = 24 * time.Hour

// signalTimeout bounds how long a test waits for a goroutine to act. It is a
// guard against hangs, never the condition itself.
const signalTimeout = 10 * time.Second

// recordingClock is a fake clock that reports each wait asked of it, after
// registering it, so a test that reads a wait can advance past it at once.
type recordingClock struct {
	*clock.Fake
	waits chan time.Duration
}

func (c *recordingClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.waits <- d
	return ch
}

type testBundle struct {
	clock *recordingClock
	d     *Deliverer
}

func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	// A whole second, so HTTP dates (second resolution) land exactly.
	clk := &recordingClock{Fake: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), waits: make(chan time.Duration, 1024)}
	cfg.Clock = clk
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	return &testBundle{clock: clk, d: New(cfg)}
}

// nextWait returns the next wait other than an attempt's timeout timer.
func (b *testBundle) nextWait(t *testing.T) time.Duration {
	t.Helper()
	for {
		if d := b.nextAnyWait(t); d != testTimeout {
			return d
		}
	}
}

func (b *testBundle) nextAnyWait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-b.clock.waits:
		return d
	case <-time.After(signalTimeout):
		t.Fatal("no wait started")
		return 0
	}
}

// deliver calls Deliver directly, for tests that need no clock moves; the
// deadline turns a delivery stuck on the fake clock into a failure, not a hang.
func (b *testBundle) deliver(t *testing.T, req Request, p Policy, done int) (*Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), signalTimeout)
	defer cancel()
	resp, err := b.d.Deliver(ctx, req, p, done, nil)
	require.NoError(t, ctx.Err(), "Deliver did not finish")
	return resp, err
}

// delivery is a Deliver call running in the background.
type delivery struct {
	attempts chan Attempt
	done     chan struct{}
	resp     *Response
	err      error
}

func (b *testBundle) start(ctx context.Context, req Request, p Policy, done int) *delivery {
	dl := &delivery{attempts: make(chan Attempt, 100), done: make(chan struct{})}
	go func() {
		defer close(dl.done)
		dl.resp, dl.err = b.d.Deliver(ctx, req, p, done, func(a Attempt) error {
			dl.attempts <- a
			return nil
		})
	}()
	return dl
}

func (dl *delivery) nextAttempt(t *testing.T) Attempt {
	t.Helper()
	select {
	case a := <-dl.attempts:
		return a
	case <-time.After(signalTimeout):
		t.Fatal("no attempt reported")
		return Attempt{}
	}
}

func (dl *delivery) wait(t *testing.T) (*Response, error) {
	t.Helper()
	select {
	case <-dl.done:
		return dl.resp, dl.err
	case <-time.After(signalTimeout):
		t.Fatal("Deliver did not return")
		return nil, nil
	}
}

// server answers with the statuses given, in order, the last one from then on,
// and records each request it receives.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
}

func newServer(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.bodies = append(s.bodies, body)
		n := len(s.requests)
		s.mu.Unlock()
		handle(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(codes[min(n, len(codes))-1])
		_, _ = w.Write([]byte(`{"n":` + string(rune('0'+n)) + `}`))
	}
}

// recorded returns the requests received so far and their bodies.
func (s *server) recorded() ([]*http.Request, [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.requests...), append([][]byte(nil), s.bodies...)
}

func (s *server) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func request(url string) Request {
	return Request{URL: url, Body: []byte(`{"order":"o-1"}`), IdempotencyKey: "idem-1", MessageID: "msg_1", Timeout: testTimeout}
}

func TestDeliverSuccessFirstTry(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, statuses(200))
	dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 3}, 0)

	resp, err := dl.wait(t)
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status)
	require.JSONEq(t, `{"n":1}`, string(resp.Body))
	require.Equal(t, "application/json", resp.Headers["content-type"])
	a := dl.nextAttempt(t)
	require.Equal(t, 1, a.N)
	require.True(t, a.Final)
	require.Empty(t, a.Error)
	require.Equal(t, resp, a.Response)
	require.Equal(t, b.clock.Now(), a.Start)

	reqs, bodies := srv.recorded()
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "Ensue", r.Header.Get("User-Agent"))
	require.Equal(t, "idem-1", r.Header.Get("Idempotency-Key"))
	require.Empty(t, r.Header.Get(HeaderSignature), "unsigned without a secret")
	require.Equal(t, `{"order":"o-1"}`, string(bodies[0]))
}

func TestDeliverRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	for _, jitter := range []float64{0, 0.5, 0.999} {
		b := setup(t, Config{Rand: func() float64 { return jitter }})
		srv := newServer(t, statuses(500, 500, 200))
		p := Policy{Attempts: 5, Initial: time.Second, Max: time.Minute}
		dl := b.start(t.Context(), request(srv.URL), p, 0)

		for n := 1; n <= 2; n++ {
			a := dl.nextAttempt(t)
			require.Equal(t, n, a.N)
			require.Equal(t, 500, a.Status)
			require.Equal(t, "HTTP 500", a.Error)
			require.False(t, a.Final)
			ceiling := time.Second << (n - 1)
			require.Equal(t, time.Duration(jitter*float64(ceiling)), a.Delay)
			require.LessOrEqual(t, a.Delay, ceiling)
			require.Equal(t, a.Delay, b.nextWait(t), "waits the delay it reported")
			b.clock.Advance(a.Delay)
		}
		resp, err := dl.wait(t)
		require.NoError(t, err)
		require.Equal(t, 200, resp.Status)
		a := dl.nextAttempt(t)
		require.Equal(t, 3, a.N)
		require.True(t, a.Final)
		require.Equal(t, 3, srv.hits())
	}
}

func TestDeliverFinalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, statuses(404))
	dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 5}, 0)

	_, err := dl.wait(t)
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, 1, f.Attempts)
	require.Equal(t, "HTTP 404 is final", f.Reason)
	require.Equal(t, 404, f.Last.Status)
	require.True(t, f.Last.Final)
	require.NotNil(t, f.Last.Response)
	require.Equal(t, "webhook: delivery failed after 1 attempt: HTTP 404 is final", err.Error())
	require.Equal(t, 1, srv.hits())
	require.True(t, dl.nextAttempt(t).Final)
}

func TestDeliverRetriesRetryableClientErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusRequestTimeout, http.StatusTooManyRequests} {
		b := setup(t, Config{})
		srv := newServer(t, statuses(status, 200))
		dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 2, Initial: time.Second}, 0)
		a := dl.nextAttempt(t)
		require.Equal(t, status, a.Status)
		require.False(t, a.Final)
		b.clock.Advance(b.nextWait(t))
		resp, err := dl.wait(t)
		require.NoError(t, err)
		require.Equal(t, 200, resp.Status)
	}
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		value  func(now time.Time) string
		want   time.Duration
	}{
		{"seconds", 503, func(time.Time) string { return "7" }, 7 * time.Second},
		{"http date", 429, func(now time.Time) string { return now.Add(2 * time.Minute).Format(http.TimeFormat) }, 2 * time.Minute},
		{"capped", 503, func(time.Time) string { return "86400" }, MaxRetryAfter},
		{"past date falls back to backoff", 503, func(now time.Time) string { return now.Add(-time.Minute).Format(http.TimeFormat) }, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{})
			srv := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.value(b.clock.Now()))
					w.WriteHeader(tc.status)
					return
				}
				w.WriteHeader(204)
			})
			dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 2, Initial: time.Second}, 0)
			a := dl.nextAttempt(t)
			require.Equal(t, tc.want, a.Delay)
			require.Equal(t, tc.want, b.nextWait(t))
			b.clock.Advance(tc.want)
			resp, err := dl.wait(t)
			require.NoError(t, err)
			require.Equal(t, 204, resp.Status)
			require.Nil(t, resp.Body)
		})
	}
}

func TestDeliverExhaustsAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, statuses(502))
	dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 3, Backoff: BackoffFixed, Initial: 3 * time.Second}, 0)

	for n := 1; n <= 2; n++ {
		a := dl.nextAttempt(t)
		require.Equal(t, 3*time.Second, a.Delay)
		b.clock.Advance(b.nextWait(t))
	}
	_, err := dl.wait(t)
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, 3, f.Attempts)
	require.Equal(t, "retries exhausted", f.Reason)
	require.Equal(t, 3, f.Last.N)
	require.Equal(t, "HTTP 502", f.Last.Error)
	require.True(t, f.Last.Final)
	require.Zero(t, f.Last.Delay)
	require.Equal(t, f.Last, dl.nextAttempt(t))
	require.Contains(t, err.Error(), "retries exhausted (last: HTTP 502)")
	require.Equal(t, 3, srv.hits())
}

func TestDeliverContinuesFromDone(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, statuses(500))
	dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 4}, 2)

	require.Equal(t, 3, dl.nextAttempt(t).N)
	b.clock.Advance(b.nextWait(t))
	_, err := dl.wait(t)
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, 4, f.Attempts)
	require.Equal(t, 4, f.Last.N)
	require.Equal(t, 2, srv.hits(), "the budget counts earlier attempts")

	// A budget spent before a restart fails without sending.
	_, err = b.deliver(t, request(srv.URL), Policy{Attempts: 4}, 4)
	require.ErrorAs(t, err, &f)
	require.Equal(t, 4, f.Attempts)
	require.Equal(t, 2, srv.hits())
}

func TestDeliverAttemptTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	arrived := make(chan struct{}, 1)
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			arrived <- struct{}{}
			<-r.Context().Done() // hang until the client gives up
			return
		}
		w.WriteHeader(200)
	})
	req := request(srv.URL)
	req.Timeout = 3 * time.Second
	dl := b.start(t.Context(), req, Policy{Attempts: 2, Initial: time.Second}, 0)

	require.Equal(t, 3*time.Second, b.nextAnyWait(t), "the attempt's timer")
	<-arrived
	b.clock.Advance(3 * time.Second)
	a := dl.nextAttempt(t)
	require.Equal(t, "timeout after 3s", a.Error)
	require.Equal(t, 3*time.Second, a.Duration)
	require.False(t, a.Final)
	require.Equal(t, 500*time.Millisecond, b.nextAnyWait(t))
	b.clock.Advance(500 * time.Millisecond)
	resp, err := dl.wait(t)
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status)
}

func TestDeliverTransportErrorIsRetriedWithoutURL(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/secret-token"
	srv.Close() // nothing listens there now

	_, err := b.deliver(t, request(url), Policy{Attempts: 1}, 0)
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, "retries exhausted", f.Reason)
	require.Contains(t, f.Last.Error, "refused")
	require.NotContains(t, err.Error(), "secret-token")
}

func TestDeliverStopsFollowingRedirects(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusTemporaryRedirect)
	})
	_, err := b.deliver(t, request(srv.URL), Policy{Attempts: 3}, 0)
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, "HTTP 307 is final", f.Reason)
	require.Equal(t, 1+maxRedirects, srv.hits())
	_, bodies := srv.recorded()
	require.Equal(t, `{"order":"o-1"}`, string(bodies[maxRedirects]), "307 resends the body")
}

func TestDeliverSignsEveryAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{UserAgent: "Ensue/test"})
	secret, err := ParseSecret(vectorSecret)
	require.NoError(t, err)
	srv := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	req := request(srv.URL)
	req.Secret = secret
	req.Header = http.Header{"Content-Type": {"application/cloudevents+json"}, "X-Flow": {"f1"}}
	dl := b.start(t.Context(), req, Policy{Attempts: 2, Initial: time.Minute}, 0)
	dl.nextAttempt(t)
	first := b.clock.Now()
	b.clock.Advance(b.nextWait(t))
	_, err = dl.wait(t)
	require.NoError(t, err)

	reqs, bodies := srv.recorded()
	require.Len(t, reqs, 2)
	for i, r := range reqs {
		// The receiver checks against its own clock at arrival: the fake now.
		at := first.Add(time.Duration(i) * 30 * time.Second)
		require.NoError(t, Verify(secret, r.Header, bodies[i], time.Second, at), "attempt %d", i+1)
		require.Equal(t, "msg_1", r.Header.Get(HeaderID))
		require.Equal(t, "idem-1", r.Header.Get("Idempotency-Key"))
		require.Equal(t, "application/cloudevents+json", r.Header.Get("Content-Type"))
		require.Equal(t, "f1", r.Header.Get("X-Flow"))
		require.Equal(t, "Ensue/test", r.Header.Get("User-Agent"))
	}
	require.NotEqual(t, reqs[0].Header.Get(HeaderTimestamp), reqs[1].Header.Get(HeaderTimestamp),
		"each attempt is stamped with its own time")
	require.Nil(t, req.Header.Values(HeaderID), "the caller's header is not modified")
}

func TestDeliverCapsResponseBody(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1 << 20, 3 << 20} { // within the discard limit, and beyond it
		b := setup(t, Config{})
		srv := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("a", size)))
		})
		resp, err := b.deliver(t, request(srv.URL), Policy{Attempts: 1}, 0)
		require.NoError(t, err)
		require.True(t, resp.Truncated)
		require.LessOrEqual(t, len(resp.Body), MaxBody)
		var s string
		require.NoError(t, json.Unmarshal(resp.Body, &s))
		require.Equal(t, strings.Repeat("a", MaxBody-2), s)
	}
}

func TestDeliverTextBody(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("queued: 42\n"))
	})
	resp, err := b.deliver(t, request(srv.URL), Policy{}, 0)
	require.NoError(t, err)
	require.Equal(t, `"queued: 42\n"`, string(resp.Body))
	require.False(t, resp.Truncated)
	out, err := json.Marshal(resp)
	require.NoError(t, err)
	require.Contains(t, string(out), `"body":"queued: 42\n"`)
}

func TestDeliverBreaker(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Breaker: BreakerConfig{Failures: 3, OpenFor: 30 * time.Second}})
	var status atomic.Int32
	status.Store(500)
	srv := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) })

	// Two failures in one delivery, a third in another: the circuit opens.
	dl := b.start(t.Context(), request(srv.URL), Policy{Attempts: 2}, 0)
	dl.nextAttempt(t)
	b.clock.Advance(b.nextWait(t))
	_, err := dl.wait(t)
	require.ErrorAs(t, err, new(*Failure))
	_, err = b.deliver(t, request(srv.URL), Policy{Attempts: 1}, 0)
	require.ErrorAs(t, err, new(*Failure))
	require.Equal(t, 3, srv.hits())

	// A third delivery waits for the circuit, not spending its one attempt.
	status.Store(200)
	dl = b.start(t.Context(), request(srv.URL), Policy{Attempts: 1}, 0)
	require.Equal(t, 30*time.Second, b.nextWait(t))
	require.Equal(t, 3, srv.hits())
	require.Empty(t, dl.attempts)
	b.clock.Advance(30 * time.Second)
	resp, err := dl.wait(t)
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status)
	require.Equal(t, 1, dl.nextAttempt(t).N)

	// Closed again, and forgotten: nothing is kept for a healthy idle host.
	b.d.breakers.mu.Lock()
	require.Empty(t, b.d.breakers.byHost)
	b.d.breakers.mu.Unlock()
}

func TestDeliverFinalAnswersKeepBreakerClosed(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Breaker: BreakerConfig{Failures: 1}})
	srv := newServer(t, statuses(404, 404, 404, 200))
	for range 3 {
		_, err := b.deliver(t, request(srv.URL), Policy{Attempts: 1}, 0)
		require.ErrorAs(t, err, new(*Failure))
	}
	_, err := b.deliver(t, request(srv.URL), Policy{Attempts: 1}, 0)
	require.NoError(t, err, "404s are answers, not host failures")
}

func TestDeliverCancel(t *testing.T) {
	t.Parallel()
	t.Run("during backoff", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		srv := newServer(t, statuses(500))
		ctx, cancel := context.WithCancel(t.Context())
		dl := b.start(ctx, request(srv.URL), Policy{Attempts: 3}, 0)
		dl.nextAttempt(t)
		b.nextWait(t)
		cancel()
		_, err := dl.wait(t)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, srv.hits())
	})
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		arrived := make(chan struct{}, 1)
		srv := newServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-r.Context().Done()
		})
		ctx, cancel := context.WithCancel(t.Context())
		dl := b.start(ctx, request(srv.URL), Policy{Attempts: 3}, 0)
		<-arrived
		cancel()
		_, err := dl.wait(t)
		require.ErrorIs(t, err, context.Canceled)
		require.Empty(t, dl.attempts, "an interrupted attempt is not reported")
	})
}

func TestDeliverStopsWhenAttemptCannotBeRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	srv := newServer(t, statuses(500))
	errStore := errors.New("store down")
	_, err := b.d.Deliver(t.Context(), request(srv.URL), Policy{Attempts: 3}, 0, func(Attempt) error { return errStore })
	require.ErrorIs(t, err, errStore)
	require.Equal(t, 1, srv.hits())
}

func TestDeliverRejectsInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, tc := range []struct {
		name string
		req  Request
		p    Policy
		done int
		want string
	}{
		{"scheme", Request{URL: "ftp://example.com/x"}, Policy{}, 0, `scheme "ftp"`},
		{"relative", Request{URL: "/hooks"}, Policy{}, 0, `scheme ""`},
		{"no host", Request{URL: "http:///x"}, Policy{}, 0, "no host"},
		{"bad url hides it", Request{URL: "http://tok:se cret@h/\x7f"}, Policy{}, 0, "url: net/url: invalid control character"},
		{"method", Request{URL: "http://h", Method: "PO ST"}, Policy{}, 0, `method "PO ST"`},
		{"header value", Request{URL: "http://h", Header: http.Header{"X": {"a\r\nb"}}}, Policy{}, 0, "header X"},
		{"signed without id", Request{URL: "http://h", Secret: []byte("k")}, Policy{}, 0, "message id"},
		{"timeout", Request{URL: "http://h", Timeout: -1}, Policy{}, 0, "timeout"},
		{"policy", Request{URL: "http://h"}, Policy{Backoff: "linear"}, 0, "backoff"},
		{"done", Request{URL: "http://h"}, Policy{}, -1, "-1 attempts"},
	} {
		_, err := b.deliver(t, tc.req, tc.p, tc.done)
		require.ErrorIs(t, err, ErrInvalid, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.NotContains(t, err.Error(), "se cret", tc.name)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                               0,
		"120":                            2 * time.Minute,
		" 5 ":                            5 * time.Second,
		"-5":                             0,
		"1.5":                            0,
		"99999999999999999999999":        MaxRetryAfter,
		"Sun, 01 Mar 2026 12:00:30 GMT":  30 * time.Second,
		"Sunday, 01-Mar-26 12:01:00 GMT": time.Minute,
		"Sun, 01 Mar 2026 11:00:00 GMT":  0,
		"soon":                           0,
	} {
		require.Equal(t, want, parseRetryAfter(v, now), "Retry-After %q", v)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, Config{Breaker: BreakerConfig{Failures: -1}}.Validate(), "breaker failures is -1")
	require.ErrorContains(t, Config{Breaker: BreakerConfig{OpenFor: -time.Second}}.Validate(), "open-for -1s")
	require.Panics(t, func() { New(Config{Breaker: BreakerConfig{Failures: -1}}) })
	require.NoError(t, Config{}.Validate())
}
