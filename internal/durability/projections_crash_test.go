package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countsProjection counts, per key, the events and the sum of their n:
// a fold whose result after any history is easy to compute independently.
const countsProjection = `
name: counts
key: event.subject
initial: '{"events": 0, "sum": 0}'
on:
  tick: 'state.with({"events": state.events + 1, "sum": state.sum + event.data.n})'
`

// TestProjectionSurvivesKill kills the server with SIGKILL while a
// projection applies a burst of events, and again in the middle of a
// rebuild; after each restart the documents must equal the fold of the
// stored events: every event applied exactly once.
func TestProjectionSurvivesKill(t *testing.T) {
	t.Parallel()
	const n, keys = 3000, 50
	dir := t.TempDir()
	c1 := startChild(t, childConfig{DataDir: dir})
	c1.waitReady(30 * time.Second)
	put(t, c1.URL+"/v1/projections/counts", countsProjection, http.StatusCreated)

	var base atomic.Value
	base.Store(c1.URL)
	acked := make([]atomic.Bool, n)
	send := func(i int) {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"t-%d","source":"/tick","type":"tick","subject":"k-%d","data":{"n":%d}}`, i, i%keys, i)
		resp, err := httpClient.Post(base.Load().(string)+"/v1/events", "application/cloudevents+json", strings.NewReader(body))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			acked[i].Store(true)
		}
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				send(i)
			}
		}()
	}
	// Kill once a good part is in, while the projection is applying.
	deadline := time.Now().Add(30 * time.Second)
	for ackedCount(acked) < n/3 {
		if time.Now().After(deadline) {
			t.Fatal("the burst did not get going")
		}
		time.Sleep(time.Millisecond)
	}
	c1.kill()
	wg.Wait()

	c2 := startChild(t, childConfig{DataDir: dir})
	base.Store(c2.URL)
	c2.waitReady(30 * time.Second)
	for i := range n {
		for !acked[i].Load() {
			send(i)
		}
	}
	checkCounts(t, c2.URL, n, keys)

	// Kill in the middle of a rebuild.
	postExpect(t, c2.URL+"/v1/projections/counts/rebuild", http.StatusAccepted)
	c2.kill()
	c3 := startChild(t, childConfig{DataDir: dir})
	c3.waitReady(30 * time.Second)
	checkCounts(t, c3.URL, n, keys)
}

func ackedCount(acked []atomic.Bool) int {
	c := 0
	for i := range acked {
		if acked[i].Load() {
			c++
		}
	}
	return c
}

// checkCounts waits for the projection to apply the whole log, then
// compares every document with the fold of events 0..n-1.
func checkCounts(t *testing.T, base string, n, keys int) {
	t.Helper()
	var last struct {
		Position uint64 `json:"position"`
	}
	// The log's end: append a marker nobody projects and read its position.
	resp, err := httpClient.Post(base+"/v1/events", "application/cloudevents+json",
		strings.NewReader(fmt.Sprintf(`{"specversion":"1.0","id":"marker-%d","source":"/marker","type":"marker"}`, time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &last); err != nil || last.Position == 0 {
		t.Fatalf("marker: %s", b)
	}
	for k := range keys {
		wantEvents, wantSum := 0, 0
		for i := k; i < n; i += keys {
			wantEvents++
			wantSum += i
		}
		var doc struct {
			State struct {
				Events int `json:"events"`
				Sum    int `json:"sum"`
			} `json:"state"`
			Updates int `json:"updates"`
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, err := getJSON(context.Background(), base, fmt.Sprintf("/v1/projections/counts/documents/k-%d?min_position=%d", k, last.Position), &doc)
			if err == nil && st == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("document k-%d not caught up: %d %v", k, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if doc.State.Events != wantEvents || doc.State.Sum != wantSum || doc.Updates != wantEvents {
			t.Fatalf("k-%d: events %d sum %d updates %d, the fold gives %d events, sum %d", k, doc.State.Events, doc.State.Sum, doc.Updates, wantEvents, wantSum)
		}
	}
}

func put(t *testing.T, url, body string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("PUT %s: %d %s", url, resp.StatusCode, b)
	}
}

func postExpect(t *testing.T, url string, want int) {
	t.Helper()
	resp, err := httpClient.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}
