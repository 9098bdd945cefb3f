package runtime_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// TestConcurrencyAndOrder: runs of a flow start in log order, at most its
// concurrency at once.
func TestConcurrencyAndOrder(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	var mu sync.Mutex
	inFlight, most := 0, 0
	var order []int
	release := make(chan struct{})
	target := newTimedSink(t, nil)
	target.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ I int }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		order = append(order, body.I)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	c.json("PUT", "/v1/flows/narrow", fmt.Sprintf(`
name: narrow
on: {type: narrow.go}
concurrency: 2
steps:
  - id: call
    http: {url: %s, body: '{"i": event.data.i}'}
`, target.URL), 201, nil)
	var pos []uint64
	for i := range 6 {
		pos = append(pos, c.emit(map[string]any{"id": fmt.Sprint(i), "source": "/t", "type": "narrow.go", "data": map[string]any{"i": i}}))
	}
	// Two calls arrive, the first two events', and no third while they hang.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 }, 10*time.Second, 5*time.Millisecond)
	mu.Lock()
	require.ElementsMatch(t, []int{0, 1}, order)
	mu.Unlock()
	close(release)
	for _, p := range pos {
		require.Equal(t, "completed", c.waitRun(fmt.Sprintf("narrow-%d", p), finished).Status)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, most)
	require.Len(t, order, 6)
}

// TestNamespacesAreApart: a flow sees only its namespace's events, and
// its metrics count per namespace and flow.
func TestNamespacesAreApart(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	do := func(ns, method, path, body string) (int, []byte) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Ensue-Namespace", ns)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := do("team-a", "PUT", "/v1/flows/echo", `{"name": "echo", "on": {"type": "ping"}, "steps": [{"id": "pong", "emit": {"type": "pong", "data": "{}"}}]}`)
	require.Equal(t, 201, status, "%s", body)
	status, _ = do("team-b", "GET", "/v1/flows/echo", "")
	require.Equal(t, 404, status)
	for _, ns := range []string{"team-b", "team-a"} {
		status, body = do(ns, "POST", "/v1/events", `{"specversion": "1.0", "id": "p", "source": "/t", "type": "ping"}`)
		require.Equal(t, 200, status, "%s", body)
	}
	require.Eventually(t, func() bool {
		_, b := do("team-a", "GET", "/v1/events?type=pong", "")
		return strings.Contains(string(b), `"type":"pong"`)
	}, 10*time.Second, 10*time.Millisecond)
	_, b := do("team-b", "GET", "/v1/events?type=pong", "")
	require.NotContains(t, string(b), `"type":"pong"`)
	_, b = do("team-b", "GET", "/v1/runs", "")
	require.JSONEq(t, `{"runs": []}`, string(b))
	require.Eventually(t, func() bool {
		_, m := do("team-a", "GET", "/metrics", "")
		return strings.Contains(string(m), `ensue_flow_runs_triggered_total{flow="echo",namespace="team-a"} 1`) &&
			strings.Contains(string(m), `ensue_flow_runs_succeeded_total{flow="echo",namespace="team-a"} 1`)
	}, 10*time.Second, 10*time.Millisecond)
}
