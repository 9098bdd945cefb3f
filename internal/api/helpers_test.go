package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// Media types of the contract.
const (
	ctStructured = "application/cloudevents+json"
	ctBatch      = "application/cloudevents-batch+json"
	ctJSON       = "application/json"
	ctProblem    = "application/problem+json"
)

// nsSeq makes namespaces unique within the test binary.
var nsSeq atomic.Int64

// newNS returns a fresh valid namespace, so that tests may share a server.
func newNS() string { return fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e6, nsSeq.Add(1)) }

// client talks to one server in one namespace.
type client struct {
	t    testing.TB
	base string
	ns   string // "" sends no Ensue-Namespace header
	// hc has a timeout, so that a hung server fails a test instead of the
	// whole run; its transport is the server's own (see newClient).
	hc *http.Client
}

// newClient starts a fresh server and returns a client in a fresh namespace.
func newClient(t testing.TB) *client {
	t.Helper()
	srv := servertest.Start(t)
	// http.Server.Shutdown waits up to 5s for a connection that was opened
	// but has not sent a request yet, and a shared transport leaves such
	// connections behind when requests race for one; each server gets its
	// own transport, whose idle connections close before the server stops.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: srv.URL, ns: newNS(), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// in returns a client of the same server in a fresh namespace, for subtest t.
func (c *client) in(t testing.TB) *client {
	return &client{t: t, base: c.base, ns: newNS(), hc: c.hc}
}

// with returns a copy of c with another namespace header ("" for none).
func (c *client) with(t testing.TB, ns string) *client {
	return &client{t: t, base: c.base, ns: ns, hc: c.hc}
}

// response is what a request answered.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) CT() string { return r.Header.Get("Content-Type") }

func (r *response) String() string {
	b := r.Body
	if len(b) > 2000 {
		b = append(b[:2000:2000], "…"...)
	}
	return fmt.Sprintf("%d %s %s", r.Status, r.CT(), b)
}

// do sends a request; hdr holds header name/value pairs.
func (c *client) do(method, path string, body io.Reader, hdr ...string) *response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if c.ns != "" {
		req.Header.Set("Ensue-Namespace", c.ns)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (c *client) get(path string, hdr ...string) *response {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, hdr...)
}

// post sends body with Content-Type ct (none when "") to /v1/events plus query.
func (c *client) post(query, ct string, body []byte, hdr ...string) *response {
	c.t.Helper()
	if ct != "" {
		hdr = append([]string{"Content-Type", ct}, hdr...)
	}
	return c.do(http.MethodPost, "/v1/events"+query, bytes.NewReader(body), hdr...)
}

// appendOK appends one structured event and returns its result object.
func (c *client) appendOK(ev map[string]any) map[string]any {
	c.t.Helper()
	r := c.post("", ctStructured, mustJSON(c.t, ev))
	return okJSON(c.t, r)
}

// appendBatchOK appends a batch (atomic when query says so) and returns results.
func (c *client) appendBatchOK(query string, evs []map[string]any) []map[string]any {
	c.t.Helper()
	r := c.post(query, ctBatch, mustJSON(c.t, evs))
	return results(c.t, okJSON(c.t, r))
}

// event returns a valid event with the given id and attributes overriding
// the defaults; a nil value removes the attribute.
func event(id string, kv ...any) map[string]any {
	ev := map[string]any{"specversion": "1.0", "id": id, "source": "/test", "type": "test.happened"}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(ev, k)
			continue
		}
		ev[k] = kv[i+1]
	}
	return ev
}

// bigEvent is a structured event whose data is a string of n bytes, built
// without encoding/json, which is slow on megabytes under the race detector.
func bigEvent(id string, n int) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"/test","type":"test.happened","data":"` + strings.Repeat("d", n) + `"}`
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// decodeJSON decodes a JSON object keeping numbers exact.
func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m), "%s", b)
	return m
}

// okJSON asserts a 200 application/json answer and decodes it.
func okJSON(t testing.TB, r *response) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
	require.Equal(t, ctJSON, r.CT(), "%s", r)
	return decodeJSON(t, r.Body)
}

// num reads a JSON number of a decoded object as an integer; -1 when the
// member is absent or null.
func num(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	v, ok := m[key]
	if !ok || v == nil {
		return -1
	}
	n, ok := v.(json.Number)
	require.True(t, ok, "%s is %T %v, not a number", key, v, v)
	i, err := n.Int64()
	require.NoError(t, err)
	return i
}

func results(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["results"].([]any)
	require.True(t, ok, "no results array in %v", m)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// requireResult asserts a single append result: position > 0, stream and
// version (stream "" means null or absent), and duplicate.
func requireResult(t testing.TB, m map[string]any, stream string, version int64, dup bool) int64 {
	t.Helper()
	pos := num(t, m, "position")
	require.Positive(t, pos, "%v", m)
	if stream == "" {
		require.Nil(t, m["stream"], "%v", m)
		require.Nil(t, m["version"], "%v", m)
	} else {
		require.Equal(t, stream, m["stream"], "%v", m)
		require.Equal(t, version, num(t, m, "version"), "%v", m)
	}
	require.Equal(t, dup, m["duplicate"], "%v", m)
	for k := range m {
		require.Contains(t, []string{"position", "stream", "version", "duplicate"}, k, "unexpected member in %v", m)
	}
	return pos
}

// requireProblem asserts an RFC 9457 answer with status and, when given,
// the JSON pointers its errors must name (each at least once). It returns
// the decoded problem.
func requireProblem(t testing.TB, r *response, status int, pointers ...string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r)
	require.Equal(t, ctProblem, r.CT(), "%s", r)
	p := decodeJSON(t, r.Body)
	checkProblem(t, p, status, pointers...)
	return p
}

// checkProblem asserts the members of a decoded problem object.
func checkProblem(t testing.TB, p map[string]any, status int, pointers ...string) {
	t.Helper()
	require.Equal(t, int64(status), num(t, p, "status"), "%v", p)
	for _, k := range []string{"type", "title", "detail"} {
		s, ok := p[k].(string)
		require.True(t, ok && s != "", "problem member %s missing in %v", k, p)
	}
	// Every problem lists what was wrong in errors, even when there is one
	// thing wrong with the request as a whole.
	got := problemPointers(t, p)
	require.NotEmpty(t, got, "problem without errors: %v", p)
	for _, want := range pointers {
		require.Contains(t, got, want, "problem %v", p)
	}
}

func problemPointers(t testing.TB, p map[string]any) []string {
	t.Helper()
	errs, ok := p["errors"].([]any)
	require.True(t, ok, "problem without errors: %v", p)
	var ptrs []string
	for _, e := range errs {
		fe := e.(map[string]any)
		ptr, ok := fe["pointer"].(string)
		require.True(t, ok, "error without pointer: %v", fe)
		msg, _ := fe["message"].(string)
		require.NotEmpty(t, msg, "error without message: %v", fe)
		ptrs = append(ptrs, ptr)
	}
	return ptrs
}

// record is a decoded read record.
type record struct {
	Position   int64           `json:"position"`
	Stream     *string         `json:"stream"`
	Version    *int64          `json:"version"`
	RecordedAt string          `json:"recorded_at"`
	Namespace  string          `json:"namespace"`
	Event      json.RawMessage `json:"event"`
}

// attrs decodes the record's event.
func (r record) attrs(t testing.TB) map[string]any { return decodeJSON(t, r.Event) }

func (r record) id(t testing.TB) string { return r.attrs(t)["id"].(string) }

func (r record) recordedAt(t testing.TB) time.Time {
	at, err := time.Parse(time.RFC3339Nano, r.RecordedAt)
	require.NoError(t, err, r.RecordedAt)
	return at
}

// records decodes a 200 answer holding "records" (and the rest into extra).
func decodeRecords(t testing.TB, r *response) ([]record, map[string]json.RawMessage) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
	require.Equal(t, ctJSON, r.CT(), "%s", r)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.Body, &m), "%s", r.Body)
	raw, ok := m["records"]
	require.True(t, ok, "no records in %s", r.Body)
	require.NotEqual(t, "null", string(raw), "records must be an array, even empty")
	var recs []record
	require.NoError(t, json.Unmarshal(raw, &recs))
	return recs, m
}

// getRecord reads GET /v1/events/{pos}.
func (c *client) getRecord(pos int64) record {
	c.t.Helper()
	r := c.get("/v1/events/" + strconv.FormatInt(pos, 10))
	require.Equal(c.t, http.StatusOK, r.Status, "%s", r)
	require.Equal(c.t, ctJSON, r.CT())
	var rec record
	require.NoError(c.t, json.Unmarshal(r.Body, &rec))
	return rec
}

// list reads GET /v1/events with a query and returns records and next.
func (c *client) list(query string) ([]record, int64) {
	c.t.Helper()
	recs, m := decodeRecords(c.t, c.get("/v1/events?"+query))
	raw, ok := m["next"]
	require.True(c.t, ok, "next is always present")
	next, err := strconv.ParseInt(string(raw), 10, 64)
	require.NoError(c.t, err, "next %s", raw)
	return recs, next
}

// stream reads GET /v1/streams/{name} (name percent-encoded here) with a query.
func (c *client) stream(name, query string) ([]record, int64) {
	c.t.Helper()
	r := c.get("/v1/streams/" + url.PathEscape(name) + "?" + query)
	recs, m := decodeRecords(c.t, r)
	var got string
	require.NoError(c.t, json.Unmarshal(m["stream"], &got))
	require.Equal(c.t, name, got)
	var ver int64
	require.NoError(c.t, json.Unmarshal(m["version"], &ver))
	return recs, ver
}

func ids(t testing.TB, recs []record) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.id(t)
	}
	return out
}

func versions(recs []record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		if r.Version != nil {
			out[i] = *r.Version
		}
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNowf(t, "condition not met in time", msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID    string
	Event string
	Data  string
}

// sse is a subscription read by a small SSE parser.
type sse struct {
	t      testing.TB
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	done   chan struct{}
}

// subscribe opens GET /v1/subscribe?query with headers and checks that it
// streams.
func (c *client) subscribe(query string, hdr ...string) *sse {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/subscribe?"+query, nil)
	require.NoError(c.t, err)
	if c.ns != "" {
		req.Header.Set("Ensue-Namespace", c.ns)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Transport.RoundTrip(req) // no client timeout: it streams
	if err != nil {
		cancel()
		require.NoError(c.t, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		require.FailNowf(c.t, "subscribe failed", "%d %s", resp.StatusCode, b)
	}
	require.Equal(c.t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &sse{t: c.t, resp: resp, cancel: cancel, events: make(chan sseEvent, 1024), done: make(chan struct{})}
	go s.read()
	c.t.Cleanup(s.close)
	return s
}

func (s *sse) read() {
	defer close(s.done)
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				ev.Data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// next returns the next event, failing the test after within.
func (s *sse) next(within time.Duration) sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		require.True(s.t, ok, "the event stream ended")
		return ev
	case <-time.After(within):
		require.FailNow(s.t, "no event in time")
	}
	return sseEvent{}
}

// nextRecord returns the next event as a record, checking id = position.
func (s *sse) nextRecord(within time.Duration) record {
	s.t.Helper()
	ev := s.next(within)
	require.Empty(s.t, ev.Event, "unexpected event type %q: %s", ev.Event, ev.Data)
	var rec record
	require.NoError(s.t, json.Unmarshal([]byte(ev.Data), &rec), ev.Data)
	require.Equal(s.t, strconv.FormatInt(rec.Position, 10), ev.ID)
	return rec
}

func (s *sse) close() {
	s.cancel()
	s.resp.Body.Close()
	<-s.done
}
