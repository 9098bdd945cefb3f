package runtime_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// timedSink records when each request arrived.
type timedSink struct {
	*sink
	mu sync.Mutex
	at []time.Time
}

func newTimedSink(t *testing.T, answer func(n int, w http.ResponseWriter) int) *timedSink {
	ts := &timedSink{}
	ts.sink = newSink(t, nil)
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.at = append(ts.at, time.Now())
		n := len(ts.at)
		ts.mu.Unlock()
		w.WriteHeader(answer(n, w))
	})
	return ts
}

func (ts *timedSink) times() []time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]time.Time(nil), ts.at...)
}

func oneStepFlow(name, url, retry string) string {
	return fmt.Sprintf(`
name: %s
on: {type: %s.go}
steps:
  - id: call
    http: {url: %s}
    retry: %s
`, name, name, url, retry)
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	target := newTimedSink(t, func(n int, w http.ResponseWriter) int {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	c.json("PUT", "/v1/flows/polite", oneStepFlow("polite", target.URL, "{attempts: 3, initial: 10ms, max: 20ms}"), 201, nil)
	pos := c.emit(map[string]any{"id": "1", "source": "/t", "type": "polite.go"})
	r := c.waitRun(fmt.Sprintf("polite-%d", pos), finished)
	require.Equal(t, "completed", r.Status)
	at := target.times()
	require.Len(t, at, 2)
	// The backoff alone would wait at most 20ms.
	require.GreaterOrEqual(t, at[1].Sub(at[0]), 900*time.Millisecond)
}

func TestOpenCircuitDelaysWithoutUsingAttempts(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{Config: server.Config{
		Webhook: webhook.Config{Breaker: webhook.BreakerConfig{Failures: 2, OpenFor: 400 * time.Millisecond}},
	}})
	c := client{t: t, base: srv.URL}
	target := newTimedSink(t, func(n int, _ http.ResponseWriter) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	// Three attempts: two failures open the circuit; the third waits for it
	// to half-open instead of failing on the spot, and succeeds.
	c.json("PUT", "/v1/flows/breaker", oneStepFlow("breaker", target.URL, "{attempts: 3, initial: 10ms, max: 20ms}"), 201, nil)
	pos := c.emit(map[string]any{"id": "1", "source": "/t", "type": "breaker.go"})
	r := c.waitRun(fmt.Sprintf("breaker-%d", pos), finished)
	require.Equal(t, "completed", r.Status, "%+v", r)
	require.Equal(t, 3, r.Steps[0].Attempts)
	at := target.times()
	require.Len(t, at, 3)
	require.GreaterOrEqual(t, at[2].Sub(at[1]), 350*time.Millisecond, "the third attempt waited for the circuit")
}

func TestRunFinishesOnItsVersion(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	release := make(chan struct{})
	slow := newTimedSink(t, func(int, http.ResponseWriter) int { <-release; return 200 })
	fast := newTimedSink(t, func(int, http.ResponseWriter) int { return 200 })
	def := func(url, emitted string) string {
		return strings.NewReplacer("URL", url, "EMITTED", emitted).Replace(`
name: versioned
on: {type: v.go}
steps:
  - id: call
    http: {url: URL}
  - id: note
    emit: {type: EMITTED, data: '{}'}
`)
	}
	c.json("PUT", "/v1/flows/versioned", def(slow.URL, "v.one"), 201, nil)
	p1 := c.emit(map[string]any{"id": "1", "source": "/t", "type": "v.go"})
	require.Eventually(t, func() bool { return len(slow.times()) == 1 }, 10*time.Second, 5*time.Millisecond)
	var res struct {
		Version uint64   `json:"version"`
		Outcome string   `json:"outcome"`
		Changes []string `json:"changes"`
	}
	c.json("PUT", "/v1/flows/versioned", def(fast.URL, "v.two"), 200, &res)
	require.Equal(t, uint64(2), res.Version)
	require.Equal(t, "updated", res.Outcome)
	require.Contains(t, res.Changes, "steps[0].http.url")
	p2 := c.emit(map[string]any{"id": "2", "source": "/t", "type": "v.go"})
	r2 := c.waitRun(fmt.Sprintf("versioned-%d", p2), finished)
	require.Equal(t, uint64(2), r2.FlowVersion)
	close(release)
	r1 := c.waitRun(fmt.Sprintf("versioned-%d", p1), finished)
	require.Equal(t, "completed", r1.Status)
	require.Equal(t, uint64(1), r1.FlowVersion)
	require.Len(t, slow.times(), 1)
	require.Len(t, fast.times(), 1)
	mustEmitted(t, c, "v.one")
	mustEmitted(t, c, "v.two")
}
