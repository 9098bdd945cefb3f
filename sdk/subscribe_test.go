package sdk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

// sseLog serves /v1/subscribe the way the contract describes, over a fixed
// log of records 1..size, and lets a test make connections misbehave. It
// tests the client's reconnect logic, not the server.
type sseLog struct {
	size int64
	// perConn records are sent on one connection before it is dropped (0:
	// never dropped).
	perConn int
	// replay makes each reconnection start one record early, as a careless
	// server might, to check that the client drops what it already delivered.
	replay bool

	mu    sync.Mutex
	conns []*http.Request
	done  chan struct{} // closed when a connection's request context ends
}

func newSSELog(size int64, perConn int) *sseLog {
	return &sseLog{size: size, perConn: perConn, done: make(chan struct{}, 100)}
}

func recordLine(pos int64) string {
	return fmt.Sprintf(`{"position":%d,"stream":"s","version":%d,"recorded_at":"2026-03-01T10:00:00Z",`+
		`"namespace":"default","event":{"specversion":"1.0","id":"e%d","source":"src","type":"t"}}`, pos, pos, pos)
}

func (l *sseLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.conns = append(l.conns, r)
	n := len(l.conns)
	l.mu.Unlock()
	defer func() {
		select {
		case l.done <- struct{}{}:
		default:
		}
	}()

	start := l.size // no position given: the end of the log
	if v := r.URL.Query().Get("after"); v != "" {
		start, _ = strconv.ParseInt(v, 10, 64)
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		start, _ = strconv.ParseInt(v, 10, 64)
		if l.replay && start > 0 {
			start--
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": ping\n\n")
	sent := 0
	for pos := start + 1; pos <= l.size; pos++ {
		if l.perConn > 0 && sent == l.perConn {
			if n%2 == 0 {
				// A hard drop: the connection dies mid-response.
				rc := http.NewResponseController(w)
				_ = rc.Flush()
				conn, _, err := rc.Hijack()
				if err == nil {
					conn.Close()
				}
			}
			return // a clean end of the response: the client sees EOF
		}
		fmt.Fprintf(w, "id: %d\ndata: %s\n\n", pos, recordLine(pos))
		sent++
	}
	_ = http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

func (l *sseLog) requests() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.conns...)
}

var fastReconnect = sdk.WithReconnectPolicy(sdk.ReconnectPolicy{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 5})

func TestSubscribeResumesWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	for _, replay := range []bool{false, true} {
		t.Run(fmt.Sprintf("replay=%v", replay), func(t *testing.T) {
			t.Parallel()
			log := newSSELog(25, 4)
			log.replay = replay
			srv := httptest.NewServer(log)
			t.Cleanup(srv.Close)
			c := sdk.New(srv.URL, sdk.WithNamespace("shop"), fastReconnect)

			var got []int64
			for rec, err := range c.Subscribe(context.Background(), sdk.Query{Type: "order.*", Source: "src"}) {
				require.NoError(t, err)
				got = append(got, rec.Position)
				require.Equal(t, "src", rec.Event.Source)
				if rec.Position == 25 {
					break
				}
			}
			want := make([]int64, 25)
			for i := range want {
				want[i] = int64(i + 1)
			}
			require.Equal(t, want, got)

			// Each connection carries 4 records; a replaying server repeats one
			// of them, so only 3 are new after the first connection.
			step := 4
			if replay {
				step = 3
			}
			reqs := log.requests()
			require.Len(t, reqs, 1+(25-4+step-1)/step)
			for i, r := range reqs {
				require.Equal(t, "shop", r.Header.Get("Ensue-Namespace"))
				require.Equal(t, "order.*", r.URL.Query().Get("type"))
				require.Equal(t, "src", r.URL.Query().Get("source"))
				require.Equal(t, "text/event-stream", r.Header.Get("Accept"))
				if i == 0 {
					require.Equal(t, "0", r.URL.Query().Get("after"))
					require.Empty(t, r.Header.Get("Last-Event-ID"))
					continue
				}
				require.Equal(t, strconv.Itoa(4+step*(i-1)), r.Header.Get("Last-Event-ID"), "reconnect %d", i)
			}
		})
	}
}

func TestSubscribeFromEndOfLogResumesAfterAnIDOnlyMessage(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reqs []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r)
		first := len(reqs) == 1
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if first {
			// Caught up at 10, then the connection drops before record 11.
			fmt.Fprint(w, "id: 10\n\n")
			return
		}
		fmt.Fprintf(w, "id: 11\ndata: %s\n\n", recordLine(11))
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	for rec, err := range sdk.New(srv.URL, fastReconnect).Subscribe(context.Background(), sdk.Query{After: sdk.EndOfLog}) {
		require.NoError(t, err)
		require.Equal(t, int64(11), rec.Position)
		break
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reqs, 2)
	require.False(t, reqs[0].URL.Query().Has("after"), "EndOfLog sends no position")
	require.Empty(t, reqs[0].Header.Get("Last-Event-ID"))
	require.Equal(t, "10", reqs[1].Header.Get("Last-Event-ID"))
	require.Equal(t, "10", reqs[1].URL.Query().Get("after"))
}

func TestSubscribeStopsOnARefusal(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 400, "application/problem+json",
		`{"title":"Invalid query","status":400,"errors":[{"pointer":"/since","message":"must be RFC 3339"}]}`)
	var errs []error
	for rec, err := range sdk.New(cs.URL, fastReconnect).Subscribe(context.Background(), sdk.Query{}) {
		require.Zero(t, rec)
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	var p *sdk.Problem
	require.ErrorAs(t, errs[0], &p)
	require.Equal(t, "/since", p.Errors[0].Pointer)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	require.Len(t, cs.reqs, 1, "a 4xx is not retried")
}

func TestSubscribeGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 503, "application/problem+json", `{"title":"Unavailable","status":503}`)
	var attempts []int
	c := sdk.New(cs.URL, sdk.WithReconnectPolicy(sdk.ReconnectPolicy{
		MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxAttempts: 3,
		OnReconnect: func(err error, attempt int, wait time.Duration) {
			require.ErrorContains(t, err, "Unavailable")
			require.LessOrEqual(t, wait, 2*time.Millisecond)
			attempts = append(attempts, attempt)
		},
	}))
	var errs []error
	for _, err := range c.Subscribe(context.Background(), sdk.Query{}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "3 reconnect attempts failed")
	var p *sdk.Problem
	require.ErrorAs(t, errs[0], &p)
	require.Equal(t, 503, p.Status)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	require.Len(t, cs.reqs, 4)
	require.Equal(t, []int{1, 2, 3}, attempts)
}

func TestSubscribeEndsWithItsContextOrABreak(t *testing.T) {
	t.Parallel()
	log := newSSELog(3, 0)
	srv := httptest.NewServer(log)
	t.Cleanup(srv.Close)
	c := sdk.New(srv.URL, fastReconnect)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []int64
	for rec, err := range c.Subscribe(ctx, sdk.Query{}) {
		require.NoError(t, err)
		got = append(got, rec.Position)
		if rec.Position == 3 {
			cancel() // the server has nothing more and holds the connection open
		}
	}
	require.Equal(t, []int64{1, 2, 3}, got)
	waitDone(t, log.done)

	for rec := range c.Subscribe(context.Background(), sdk.Query{After: 1}) {
		require.Equal(t, int64(2), rec.Position)
		break
	}
	waitDone(t, log.done) // breaking out closed the connection
}

func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's handler did not end")
	}
}

func TestSubscribeReconnectsAfterAServerError(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			fmt.Fprintf(w, ": subscribed after position 0\nretry: 1\n\nid: 1\ndata: %s\n\n", recordLine(1))
			fmt.Fprint(w, "event: future\ndata: {\"ignored\": true}\n\n")
			fmt.Fprint(w, "event: error\ndata: \"log unreachable\"\n\n")
			return
		}
		fmt.Fprintf(w, "id: 2\ndata: %s\n\n", recordLine(2))
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	var got []int64
	for rec, err := range sdk.New(srv.URL, fastReconnect).Subscribe(context.Background(), sdk.Query{}) {
		require.NoError(t, err)
		got = append(got, rec.Position)
		if len(got) == 2 {
			break
		}
	}
	require.Equal(t, []int64{1, 2}, got)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"", "1"}, lastIDs)
}
