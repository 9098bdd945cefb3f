package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

// captured is one request as a handler saw it.
type captured struct {
	Method, Path, EscapedPath, Query string
	Header                           http.Header
	Body                             []byte
}

// cannedServer answers every request with status, contentType and body, and
// keeps the requests it got. It checks client behaviour only; the real
// server's behaviour is tested in server_test.go.
type cannedServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func newCannedServer(t *testing.T, status int, contentType, body string) *cannedServer {
	t.Helper()
	cs := &cannedServer{}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cs.mu.Lock()
		cs.reqs = append(cs.reqs, captured{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), b})
		cs.mu.Unlock()
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *cannedServer) last(t *testing.T) captured {
	t.Helper()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	require.NotEmpty(t, cs.reqs, "the server got no request")
	return cs.reqs[len(cs.reqs)-1]
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestAppendSendsAStructuredCloudEvent(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 200, "application/json", `{"position": 17, "stream": "order-123", "version": 3, "duplicate": false}`)
	c := sdk.New(cs.URL+"/", sdk.WithNamespace("shop"), sdk.WithHeader("Authorization", "Bearer k"))

	when := time.Date(2026, 3, 1, 10, 15, 2, 0, time.UTC)
	res, err := c.Append(context.Background(), sdk.Event{
		Source:          "shop/checkout",
		Type:            "order.placed",
		Subject:         "order-123",
		Time:            when,
		Data:            map[string]any{"total": 42},
		Extensions:      map[string]any{"correlationid": "c-1", "sequence": 7},
		ExpectedVersion: sdk.ExpectVersion(2),
	})
	require.NoError(t, err)
	require.Regexp(t, uuidV4, res.ID)
	require.Equal(t, sdk.AppendResult{ID: res.ID, Position: 17, Stream: "order-123", Version: 3}, res)

	req := cs.last(t)
	require.Equal(t, "POST", req.Method)
	require.Equal(t, "/v1/events", req.Path)
	require.Equal(t, "application/cloudevents+json", req.Header.Get("Content-Type"))
	require.Equal(t, "shop", req.Header.Get("Ensue-Namespace"))
	require.Equal(t, "Bearer k", req.Header.Get("Authorization"))
	require.JSONEq(t, `{
		"specversion": "1.0", "id": "`+res.ID+`", "source": "shop/checkout", "type": "order.placed",
		"subject": "order-123", "time": "2026-03-01T10:15:02Z", "data": {"total": 42},
		"correlationid": "c-1", "sequence": 7, "expectedversion": 2
	}`, string(req.Body))
}

func TestAppendWithoutSubjectHasNoStream(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 200, "application/json", `{"position": 5, "stream": null, "version": null, "duplicate": true}`)
	res, err := sdk.New(cs.URL).Append(context.Background(), sdk.Event{ID: "e1", Source: "s", Type: "t", Data: []byte{0, 1, 2}})
	require.NoError(t, err)
	require.Equal(t, sdk.AppendResult{ID: "e1", Position: 5, Duplicate: true}, res)
	req := cs.last(t)
	require.Empty(t, req.Header.Get("Ensue-Namespace"), "no namespace option means the server's default")
	require.JSONEq(t, `{"specversion":"1.0","id":"e1","source":"s","type":"t","data_base64":"AAEC"}`, string(req.Body))
}

func TestAppendRejectsBadEventsBeforeSending(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 200, "application/json", `{}`)
	c := sdk.New(cs.URL)
	for _, ev := range []sdk.Event{
		{Source: "s", Type: "t", Extensions: map[string]any{"Bad-Name": 1}},
		{Source: "s", Type: "t", Extensions: map[string]any{"id": "x"}},
		{Source: "s", Type: "t", Data: json.RawMessage(`{not json`)},
		{Source: "s", Type: "t", Data: func() {}},
	} {
		_, err := c.Append(context.Background(), ev)
		require.Error(t, err)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	require.Empty(t, cs.reqs)
}

func TestAppendBatchGivesOneResultPerEvent(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 200, "application/json", `{"results": [
		{"position": 1, "stream": "a", "version": 1, "duplicate": false},
		{"type": "https://ensue.dev/problems/invalid-event", "title": "Invalid event", "status": 400,
		 "detail": "the event is not valid", "errors": [{"pointer": "/type", "message": "is required"}], "index": 1},
		{"position": 2, "duplicate": true}
	]}`)
	results, err := sdk.New(cs.URL).AppendBatch(context.Background(), []sdk.Event{
		{ID: "1", Source: "s", Type: "t", Subject: "a"},
		{ID: "2", Source: "s"},
		{Source: "s", Type: "t"},
	})
	require.NoError(t, err)
	require.Len(t, results, 3)
	require.NoError(t, results[0].Err())
	require.Equal(t, sdk.AppendResult{ID: "1", Position: 1, Stream: "a", Version: 1}, results[0].Result)

	var p *sdk.Problem
	require.ErrorAs(t, results[1].Err(), &p)
	require.Equal(t, 400, p.Status)
	require.Equal(t, 1, *p.Index)
	require.Equal(t, []sdk.FieldError{{Pointer: "/type", Message: "is required"}}, p.Errors)

	require.NoError(t, results[2].Err())
	require.True(t, results[2].Result.Duplicate)
	require.Regexp(t, uuidV4, results[2].Result.ID)

	req := cs.last(t)
	require.Equal(t, "application/cloudevents-batch+json", req.Header.Get("Content-Type"))
	require.Empty(t, req.Query)
	var sent []map[string]any
	require.NoError(t, json.Unmarshal(req.Body, &sent))
	require.Len(t, sent, 3)
	require.Equal(t, results[2].Result.ID, sent[2]["id"])
}

func TestAppendAtomicFailureNamesTheEvent(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 409, "application/problem+json", `{"type": "https://ensue.dev/problems/wrong-expected-version",
		"title": "Wrong expected version", "status": 409, "detail": "stream order-1 is at version 4, not 2",
		"currentVersion": 4, "index": 1}`)
	_, err := sdk.New(cs.URL).AppendAtomic(context.Background(), []sdk.Event{
		{Source: "s", Type: "t", Subject: "order-1"},
		{Source: "s", Type: "t", Subject: "order-1", ExpectedVersion: sdk.ExpectVersion(2)},
	})
	require.ErrorIs(t, err, sdk.ErrWrongExpectedVersion)
	require.NotErrorIs(t, err, sdk.ErrNotFound)
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, int64(4), *p.CurrentVersion)
	require.Equal(t, 1, *p.Index)
	require.Equal(t, "event 1: Wrong expected version: stream order-1 is at version 4, not 2 (409)", p.Error())
	require.Equal(t, "atomic=true", cs.last(t).Query)
}

func TestErrorResponsesBecomeProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		notFound    bool
		wantTitle   string
		wantDetail  string
	}{
		{
			name: "problem document", status: 404, contentType: "application/problem+json",
			body:     `{"type":"about:blank","title":"Not found","status":404,"detail":"no event at position 99"}`,
			notFound: true, wantTitle: "Not found", wantDetail: "no event at position 99",
		},
		{
			name: "plain text from a proxy", status: 502, contentType: "text/plain",
			body:      "upstream unavailable\n",
			wantTitle: "Bad Gateway", wantDetail: "the server answered 502 without a problem document: upstream unavailable",
		},
		{
			name: "empty body", status: 404, contentType: "",
			notFound: true, wantTitle: "Not Found", wantDetail: "the server answered 404 with an empty body",
		},
		{
			name: "JSON that is no problem", status: 500, contentType: "application/json", body: `{"oops": true}`,
			wantTitle: "Internal Server Error", wantDetail: `the server answered 500 without a problem document: {"oops": true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCannedServer(t, tt.status, tt.contentType, tt.body)
			_, err := sdk.New(cs.URL).Get(context.Background(), 99)
			var p *sdk.Problem
			require.ErrorAs(t, err, &p)
			require.Equal(t, tt.status, p.Status)
			require.Equal(t, tt.wantTitle, p.Title)
			require.Equal(t, tt.wantDetail, p.Detail)
			require.Equal(t, tt.notFound, errors.Is(err, sdk.ErrNotFound))
			require.NotErrorIs(t, err, sdk.ErrWrongExpectedVersion)
		})
	}
}

const recordJSON = `{"position": 17, "stream": "order/123", "version": 3, "recorded_at": "2026-03-01T10:15:02.5Z",
	"namespace": "shop", "event": {"specversion": "1.0", "id": "e-17", "source": "shop/checkout",
	"type": "order.placed", "subject": "order/123", "time": "2026-03-01T10:15:00Z",
	"correlationid": "c-1", "sequence": 9, "data": {"total": 42}}}`

func TestReadsBuildTheContractsURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		body      string
		call      func(c *sdk.Client) (any, error)
		wantPath  string // escaped
		wantQuery string
	}{
		{"get", recordJSON, func(c *sdk.Client) (any, error) { return c.Get(ctx, 17) }, "/v1/events/17", ""},
		{"lookup", recordJSON, func(c *sdk.Client) (any, error) { return c.Lookup(ctx, "shop/checkout", "e 17") },
			"/v1/events/lookup", "id=e+17&source=shop%2Fcheckout"},
		{"events", `{"records": [` + recordJSON + `], "next": 17}`, func(c *sdk.Client) (any, error) {
			return c.Events(ctx, sdk.Query{After: 5, Limit: 10, Type: "order.*", Source: "s", Subject: "o",
				CorrelationID: "c-1", Since: since, Until: since.Add(time.Hour)})
		}, "/v1/events", "after=5&correlationid=c-1&limit=10&since=2026-03-01T00%3A00%3A00Z&source=s&subject=o&type=order.%2A&until=2026-03-01T01%3A00%3A00Z"},
		{"events zero query", `{"records": [], "next": 0}`, func(c *sdk.Client) (any, error) { return c.Events(ctx, sdk.Query{}) },
			"/v1/events", "after=0"},
		{"stream", `{"stream": "order/123", "version": 3, "records": [` + recordJSON + `]}`, func(c *sdk.Client) (any, error) {
			return c.Stream(ctx, "order/123", sdk.StreamQuery{From: 3, Limit: 2, Backward: true})
		}, "/v1/streams/order%2F123", "direction=backward&from=3&limit=2"},
		{"correlation", `{"records": [` + recordJSON + `]}`, func(c *sdk.Client) (any, error) { return c.Correlation(ctx, "c 1") },
			"/v1/correlations/c%201", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCannedServer(t, 200, "application/json", tt.body)
			_, err := tt.call(sdk.New(cs.URL))
			require.NoError(t, err)
			req := cs.last(t)
			require.Equal(t, "GET", req.Method)
			require.Equal(t, tt.wantPath, req.EscapedPath)
			require.Equal(t, tt.wantQuery, req.Query)
		})
	}
}

func TestRecordDecoding(t *testing.T) {
	t.Parallel()
	var rec sdk.Record
	require.NoError(t, json.Unmarshal([]byte(recordJSON), &rec))
	require.Equal(t, int64(17), rec.Position)
	require.Equal(t, "order/123", rec.Stream)
	require.Equal(t, int64(3), rec.Version)
	require.Equal(t, time.Date(2026, 3, 1, 10, 15, 2, 500_000_000, time.UTC), rec.RecordedAt)
	require.Equal(t, "shop", rec.Namespace)
	require.Equal(t, "e-17", rec.Event.ID)
	require.Equal(t, "c-1", rec.Event.CorrelationID())
	require.Equal(t, json.Number("9"), rec.Event.Extensions["sequence"])
	var data struct{ Total int }
	require.NoError(t, rec.Event.DataAs(&data))
	require.Equal(t, 42, data.Total)

	// Re-encoding gives back the same record.
	again, err := json.Marshal(rec)
	require.NoError(t, err)
	require.JSONEq(t, recordJSON, string(again))

	var bare sdk.Record
	require.NoError(t, json.Unmarshal([]byte(`{"position": 2, "stream": null, "version": null,
		"recorded_at": "2026-03-01T10:15:02Z", "namespace": "default",
		"event": {"specversion": "1.0", "id": "b", "source": "s", "type": "t", "data_base64": "aGk="}}`), &bare))
	require.Empty(t, bare.Stream)
	require.Zero(t, bare.Version)
	var raw []byte
	require.NoError(t, bare.Event.DataAs(&raw))
	require.Equal(t, []byte("hi"), raw)

	var none sdk.Record
	require.NoError(t, json.Unmarshal([]byte(`{"position": 3, "event": {"id": "n", "source": "s", "type": "t"}}`), &none))
	require.ErrorIs(t, none.Event.DataAs(&data), sdk.ErrNoData)
}

func TestEventJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"specversion":"1.0","id":"a-1","source":"shop","type":"order.placed","subject":"order-1",
		"time":"2026-03-01T10:15:00.123Z","datacontenttype":"application/json","dataschema":"https://s/x",
		"correlationid":"c","sequence":12345678901234567,"flag":true,"expectedversion":0,"data":{"n":[1,2]}}`
	var ev sdk.Event
	require.NoError(t, json.Unmarshal([]byte(in), &ev))
	require.Equal(t, int64(0), *ev.ExpectedVersion)
	require.Equal(t, json.Number("12345678901234567"), ev.Extensions["sequence"])
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	require.JSONEq(t, in, string(out))

	require.Error(t, json.Unmarshal([]byte(`{"specversion":"0.3","id":"x"}`), &ev))
	require.Error(t, json.Unmarshal([]byte(`{"id": 5}`), &ev))
	require.Error(t, json.Unmarshal([]byte(`{"time": "yesterday"}`), &ev))
	require.Error(t, json.Unmarshal([]byte(`null`), &ev))
}

func TestNewIDIsAUUIDv4(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := sdk.NewID()
		require.Regexp(t, uuidV4, id)
		require.False(t, seen[id])
		seen[id] = true
	}
}

func TestDefaultTimeoutOnlyWithoutDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	_, err := sdk.New(srv.URL, sdk.WithTimeout(50*time.Millisecond)).Get(context.Background(), 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestInvalidBaseURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"127.0.0.1:7600", "ftp://host", "http://", "::"} {
		_, err := sdk.New(base).Get(context.Background(), 1)
		require.ErrorContains(t, err, "invalid server URL", base)
	}
}

func TestRecordsReadsOnPastEmptyFilteredPages(t *testing.T) {
	t.Parallel()
	rec := func(pos int) string {
		return fmt.Sprintf(`{"position": %d, "recorded_at": "2026-03-01T10:00:00Z", "event": {"id": "e%d", "source": "s", "type": "t"}}`, pos, pos)
	}
	pages := map[string]string{
		"0":  `{"records": [` + rec(1) + `,` + rec(2) + `], "next": 2}`,
		"2":  `{"records": [], "next": 50}`, // the scan budget ran out before a match
		"50": `{"records": [` + rec(51) + `], "next": 51}`,
		"51": `{"records": [], "next": 51}`,
	}
	var mu sync.Mutex
	var afters []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("after")
		mu.Lock()
		afters = append(afters, after)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, pages[after])
	}))
	t.Cleanup(srv.Close)

	var got []int64
	for r, err := range sdk.New(srv.URL).Records(context.Background(), sdk.Query{Type: "t"}) {
		require.NoError(t, err)
		got = append(got, r.Position)
	}
	require.Equal(t, []int64{1, 2, 51}, got)
	require.Equal(t, []string{"0", "2", "50", "51"}, afters)
}
