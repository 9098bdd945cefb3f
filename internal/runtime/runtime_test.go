package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// sink is a real HTTP server standing for a flow's target.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	requests []sinkRequest
	// answer decides the status of the n-th request (1-based).
	answer func(n int) int
}

type sinkRequest struct {
	Header http.Header
	Body   []byte
}

func newSink(t *testing.T, answer func(n int) int) *sink {
	s := &sink{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, sinkRequest{Header: r.Header.Clone(), Body: body})
		n := len(s.requests)
		s.mu.Unlock()
		status := 200
		if s.answer != nil {
			status = s.answer(n)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"received": %d}`, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) got() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRequest(nil), s.requests...)
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, contentType string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, b
}

func (c client) json(method, path string, body any, want int, out any) {
	c.t.Helper()
	var b []byte
	ct := ""
	switch v := body.(type) {
	case nil:
	case string:
		b, ct = []byte(v), "application/yaml"
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(c.t, err)
		ct = "application/json"
	}
	status, resp := c.do(method, path, ct, b)
	require.Equal(c.t, want, status, "%s %s: %s", method, path, resp)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(resp, out), "%s", resp)
	}
}

func (c client) emit(ev map[string]any) uint64 {
	c.t.Helper()
	ev["specversion"] = "1.0"
	var res struct {
		Position uint64 `json:"position"`
	}
	c.json("POST", "/v1/events", ev, 200, &res)
	return res.Position
}

type run struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Flow          string `json:"flow"`
	FlowVersion   uint64 `json:"flow_version"`
	CorrelationID string `json:"correlation_id"`
	Error         string `json:"error"`
	FailedStep    string `json:"failed_step"`
	Steps         []struct {
		ID       string          `json:"id"`
		Status   string          `json:"status"`
		Attempts int             `json:"attempts"`
		Output   json.RawMessage `json:"output"`
	} `json:"steps"`
}

// waitRun polls a run until cond holds.
func (c client) waitRun(id string, cond func(run) bool) run {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var r run
	for {
		status, body := c.do("GET", "/v1/runs/"+id, "", nil)
		if status == 200 {
			r = run{}
			require.NoError(c.t, json.Unmarshal(body, &r))
			if cond(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s: condition not met in time; last (%d): %s", id, status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func finished(r run) bool { return r.Status == "completed" || r.Status == "dead_lettered" }

const bigOrders = `
kind: flow
name: notify-big-orders
on:
  type: order.placed
  source: /shop/*
  when: event.data.total > 1000
steps:
  - id: notify
    http:
      method: POST
      url: %s/orders
      headers: {X-Team: sales}
      body: '{"order": event.subject, "total": event.data.total}'
    retry: {attempts: 4, backoff: exponential, initial: 10ms, max: 50ms}
  - id: flag
    emit:
      type: order.flagged
      data: '{"total": event.data.total, "status": steps.notify.output.status}'
`

func TestFlowCallsAndEmits(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	target := newSink(t, func(n int) int {
		if n <= 2 {
			return 503 // retried
		}
		return 200
	})

	before := c.emit(map[string]any{"id": "o-0", "source": "/shop/eu", "type": "order.placed", "subject": "order-0", "data": map[string]any{"total": 5000}})
	var applied struct {
		Version uint64 `json:"version"`
		Outcome string `json:"outcome"`
	}
	c.json("PUT", "/v1/flows/notify-big-orders", fmt.Sprintf(bigOrders, target.URL), 201, &applied)
	require.Equal(t, uint64(1), applied.Version)
	require.Equal(t, "created", applied.Outcome)
	c.json("PUT", "/v1/flows/notify-big-orders", fmt.Sprintf(bigOrders, target.URL), 200, &applied)
	require.Equal(t, "unchanged", applied.Outcome)

	var secret struct {
		Secret string `json:"secret"`
	}
	c.json("POST", "/v1/flows/notify-big-orders/secret", nil, 201, &secret)
	c.json("POST", "/v1/flows/notify-big-orders/secret", nil, 409, nil)
	key, err := webhook.ParseSecret(secret.Secret)
	require.NoError(t, err)

	small := c.emit(map[string]any{"id": "o-1", "source": "/shop/eu", "type": "order.placed", "subject": "order-1", "data": map[string]any{"total": 900}})
	big := c.emit(map[string]any{"id": "o-2", "source": "/shop/eu", "type": "order.placed", "subject": "order-2", "data": map[string]any{"total": 1000.5}})

	r := c.waitRun(fmt.Sprintf("notify-big-orders-%d", big), finished)
	require.Equal(t, "completed", r.Status, "%+v", r)
	require.Equal(t, "o-2", r.CorrelationID)
	require.Len(t, r.Steps, 2)
	require.Equal(t, 3, r.Steps[0].Attempts)
	require.JSONEq(t, `{"total": 1000.5, "status": 200}`, string(mustEmitted(t, c, "order.flagged").Data))

	reqs := target.got()
	require.Len(t, reqs, 3, "two 503s, then 200")
	for _, rq := range reqs {
		require.JSONEq(t, `{"order": "order-2", "total": 1000.5}`, string(rq.Body))
		require.Equal(t, "sales", rq.Header.Get("X-Team"))
		require.Equal(t, reqs[0].Header.Get("Idempotency-Key"), rq.Header.Get("Idempotency-Key"))
		require.NoError(t, webhook.Verify(key, rq.Header, rq.Body, time.Minute, time.Now()))
	}
	require.NotEmpty(t, reqs[0].Header.Get("Idempotency-Key"))

	// Neither the event before the flow nor the small order started a run.
	for _, pos := range []uint64{before, small} {
		status, _ := c.do("GET", fmt.Sprintf("/v1/runs/notify-big-orders-%d", pos), "", nil)
		require.Equal(t, 404, status)
	}
	var explained struct {
		Triggered bool `json:"triggered"`
		Checks    []struct {
			Condition string         `json:"condition"`
			Passed    bool           `json:"passed"`
			Values    map[string]any `json:"values"`
		} `json:"checks"`
	}
	c.json("POST", "/v1/flows/notify-big-orders/explain", map[string]any{"position": small}, 200, &explained)
	require.False(t, explained.Triggered)
	last := explained.Checks[len(explained.Checks)-1]
	require.Equal(t, "when", last.Condition)
	require.False(t, last.Passed)
	require.EqualValues(t, 900, last.Values["event.data.total"])

	// Run records stay out of plain reads, and show with type=ensue.*.
	var page struct {
		Records []json.RawMessage `json:"records"`
	}
	c.json("GET", "/v1/events?limit=1000", nil, 200, &page)
	for _, e := range page.Records {
		require.NotContains(t, string(e), `"type":"ensue.`)
	}
	c.json("GET", "/v1/events?limit=1000&type=ensue.*", nil, 200, &page)
	require.NotEmpty(t, page.Records)
}

type emitted struct {
	ID            string          `json:"id"`
	CausationID   string          `json:"causationid"`
	CorrelationID string          `json:"correlationid"`
	Data          json.RawMessage `json:"data"`
}

func mustEmitted(t *testing.T, c client, typ string) emitted {
	t.Helper()
	var page struct {
		Records []struct {
			Event emitted `json:"event"`
		} `json:"records"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.json("GET", "/v1/events?type="+typ, nil, 200, &page)
		if len(page.Records) > 0 {
			require.Len(t, page.Records, 1)
			return page.Records[0].Event
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event", typ)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeadLetterThenRedrive(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	var mu sync.Mutex
	broken := true
	target := newSink(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return 404 // final: no retry
		}
		return 200
	})
	flowFile := strings.ReplaceAll(`
name: forward
on: {type: thing.happened}
steps:
  - id: call
    http: {url: URL/hook, body: 'event.data'}
    retry: {attempts: 3, initial: 10ms, max: 20ms}
`, "URL", target.URL)
	c.json("PUT", "/v1/flows/forward", flowFile, 201, nil)
	pos := c.emit(map[string]any{"id": "t-1", "source": "/t", "type": "thing.happened", "data": map[string]any{"n": 1}})
	id := fmt.Sprintf("forward-%d", pos)
	r := c.waitRun(id, finished)
	require.Equal(t, "dead_lettered", r.Status)
	require.Equal(t, "call", r.FailedStep)
	require.Contains(t, r.Error, "404")
	require.Len(t, target.got(), 1, "a 404 is final")
	var details struct {
		Request struct {
			Method, URL, Body string
		} `json:"request"`
		LastAttempt struct {
			Status   int `json:"status"`
			Response struct {
				Body json.RawMessage `json:"body"`
			} `json:"response"`
		} `json:"last_attempt"`
	}
	c.json("GET", "/v1/deadletters/"+id, nil, 200, &details)
	require.Equal(t, "POST", details.Request.Method)
	require.Equal(t, target.URL+"/hook", details.Request.URL)
	require.JSONEq(t, `{"n": 1}`, details.Request.Body)
	require.Equal(t, 404, details.LastAttempt.Status)
	require.JSONEq(t, `{"received": 1}`, string(details.LastAttempt.Response.Body))

	var dl struct {
		Runs []run `json:"runs"`
	}
	c.json("GET", "/v1/deadletters?flow=forward", nil, 200, &dl)
	require.Len(t, dl.Runs, 1)

	mu.Lock()
	broken = false
	mu.Unlock()
	c.json("POST", "/v1/deadletters/"+id+"/redrive", nil, 200, nil)
	r = c.waitRun(id, func(r run) bool { return r.Status == "completed" })
	reqs := target.got()
	require.Len(t, reqs, 2)
	require.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	c.json("GET", "/v1/deadletters?flow=forward", nil, 200, &dl)
	require.Empty(t, dl.Runs)
	c.json("POST", "/v1/deadletters/"+id+"/redrive", nil, 409, nil)
}

func TestEmitLoopStopsAtEightHops(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	c.json("PUT", "/v1/flows/echo", `
name: echo
on: {type: ping}
steps:
  - id: again
    emit: {type: ping, data: '{"n": 1}'}
`, 201, nil)
	c.emit(map[string]any{"id": "p-0", "source": "/p", "type": "ping"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var dl struct {
			Runs []run `json:"runs"`
		}
		c.json("GET", "/v1/deadletters?flow=echo", nil, 200, &dl)
		if len(dl.Runs) == 1 {
			require.Contains(t, dl.Runs[0].Error, "loop")
			break
		}
		require.True(t, time.Now().Before(deadline), "no dead letter")
		time.Sleep(10 * time.Millisecond)
	}
	var page struct {
		Records []json.RawMessage `json:"records"`
	}
	c.json("GET", "/v1/events?type=ping&limit=100", nil, 200, &page)
	require.Len(t, page.Records, 1+8, "the first ping and 8 emitted")
}

func TestInvalidFlowNamesLineAndColumn(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	status, body := c.do("PUT", "/v1/flows/bad", "application/yaml", []byte(`
name: bad
on:
  type: order.placed
  when: event.data.total >
steps:
  - id: a
    emit: {type: x, data: '{}'}
`))
	require.Equal(t, 422, status, "%s", body)
	var p struct {
		Errors []struct {
			Pointer string `json:"pointer"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(body, &p))
	require.NotEmpty(t, p.Errors)
	require.Equal(t, "/on/when", p.Errors[0].Pointer)
	require.Equal(t, 5, p.Errors[0].Line)
}
