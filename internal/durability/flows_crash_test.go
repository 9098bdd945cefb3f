package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlowRunsSurviveKill runs a two-step flow (an HTTP call, then an
// emitted event) for a burst of events, kills the server with SIGKILL in
// the middle of it, restarts it on the same data, and checks that every
// acknowledged trigger got exactly one completed run, one emitted event and
// one success record per step; that HTTP calls were repeated only for runs
// in flight at the kill (same Idempotency-Key); and that no call whose
// success was recorded before the kill was made again.
func TestFlowRunsSurviveKill(t *testing.T) {
	t.Parallel()
	const n = 400
	var (
		mu      sync.Mutex
		calls   = map[string][]time.Time{}
		total   atomic.Int64
		killed  atomic.Bool
		afterKl = map[string]bool{}
	)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		calls[key] = append(calls[key], time.Now())
		if killed.Load() {
			afterKl[key] = true
		}
		mu.Unlock()
		total.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer sink.Close()

	dir := t.TempDir()
	c1 := startChild(t, childConfig{DataDir: dir})
	c1.waitReady(30 * time.Second)
	flowDef := fmt.Sprintf(`
name: crashy
on: {type: crash.event}
concurrency: 20
steps:
  - id: call
    http: {url: %s/hook, body: '{"n": event.data.n}'}
    retry: {attempts: 20, initial: 20ms, max: 200ms}
  - id: done
    emit: {type: crash.done, data: '{"n": event.data.n}'}
`, sink.URL)
	putFlow(t, c1.URL, "crashy", flowDef)

	// The burst: 8 clients; each event is sent until acknowledged, against
	// whichever server is up.
	var base atomic.Value
	base.Store(c1.URL)
	acked := make([]atomic.Bool, n)
	send := func(i int) bool {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"e-%d","source":"/crash","type":"crash.event","data":{"n":%d}}`, i, i)
		resp, err := httpClient.Post(base.Load().(string)+"/v1/events", "application/cloudevents+json", bytes.NewBufferString(body))
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			acked[i].Store(true)
			return true
		}
		return false
	}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				send(i)
			}
		}()
	}
	// Kill once a third of the calls are made: runs are in flight.
	deadline := time.Now().Add(30 * time.Second)
	for total.Load() < n/3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls reached the sink in 30s", total.Load())
		}
		time.Sleep(time.Millisecond)
	}
	c1.kill()
	// Calls until the process was gone count as made before the kill.
	killed.Store(true)
	killTime := time.Now()
	wg.Wait()
	t.Logf("SIGKILL after %d calls", total.Load())

	c2 := startChild(t, childConfig{DataDir: dir})
	base.Store(c2.URL)
	c2.waitReady(30 * time.Second)
	for i := range n {
		for !acked[i].Load() {
			if !send(i) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}

	// Every trigger gets its completed run.
	deadline = time.Now().Add(60 * time.Second)
	var runs []flowRun
	for {
		runs = listRuns(t, c2.URL, "crashy")
		done := 0
		for _, r := range runs {
			if r.Status == "completed" {
				done++
			}
		}
		if done == n && len(runs) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs completed after 60s (%d runs)", done, n, len(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// One emitted event per run, and one success record per step.
	logRecs := readAllTypes(t, c2.URL, "crash.done")
	require(t, len(logRecs) == n, "%d crash.done events for %d runs", len(logRecs), n)
	seen := map[string]bool{}
	for _, r := range logRecs {
		require(t, !seen[r], "crash.done %s twice", r)
		seen[r] = true
	}
	succ := readAllTypes(t, c2.URL, "ensue.run.step.succeeded")
	require(t, len(succ) == 2*n, "%d step success records for %d runs of 2 steps", len(succ), n)

	// A repeated call is a run in flight at the kill: first made before it,
	// made again after it, with the same key.
	mu.Lock()
	defer mu.Unlock()
	require(t, len(calls) == n, "%d distinct idempotency keys for %d runs", len(calls), n)
	repeated := 0
	for key, at := range calls {
		if len(at) > 1 {
			repeated++
			require(t, at[0].Before(killTime) && afterKl[key], "call %s repeated without a crash between", key)
		}
	}
	require(t, repeated <= 20, "%d calls repeated, more than the flow's 20 runs in flight", repeated)
	t.Logf("%d runs completed; %d calls repeated after the kill (in flight then)", n, repeated)
}

func require(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func putFlow(t *testing.T, base, name, def string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/v1/flows/"+name, bytes.NewBufferString(def))
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("PUT flow: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT flow: %d %s", resp.StatusCode, body)
	}
}

type flowRun struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func listRuns(t *testing.T, base, flowName string) []flowRun {
	t.Helper()
	var all []flowRun
	cursor := ""
	for {
		var page struct {
			Runs []flowRun `json:"runs"`
			Next string    `json:"next"`
		}
		st, err := getJSON(context.Background(), base, "/v1/runs?limit=1000&flow="+flowName+"&cursor="+cursor, &page)
		if err != nil || st != http.StatusOK {
			t.Fatalf("GET /v1/runs: %d %v", st, err)
		}
		all = append(all, page.Runs...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
}

// readAllTypes returns the ids of every event of a type.
func readAllTypes(t *testing.T, base, typ string) []string {
	t.Helper()
	var ids []string
	after := uint64(0)
	for {
		var page struct {
			Records []struct {
				Position uint64          `json:"position"`
				Event    json.RawMessage `json:"event"`
			} `json:"records"`
			Next uint64 `json:"next"`
		}
		st, err := getJSON(context.Background(), base, fmt.Sprintf("/v1/events?type=%s&after=%d&limit=1000", typ, after), &page)
		if err != nil || st != http.StatusOK {
			t.Fatalf("GET events of %s: %d %v", typ, st, err)
		}
		for _, r := range page.Records {
			var ev struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r.Event, &ev)
			ids = append(ids, ev.ID)
		}
		if len(page.Records) == 0 || page.Next <= after {
			return ids
		}
		after = page.Next
	}
}
