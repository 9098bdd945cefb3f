package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

// httpClient talks to the children over loopback. Its timeout turns a hung
// server into a test failure instead of a test that never ends.
var httpClient = &http.Client{
	Timeout: 20 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
}

// identity is an event's (source, id) in the default namespace.
type identity struct{ Source, ID string }

func (id identity) String() string { return id.Source + " " + id.ID }

// testEvent is an event a test sends.
type testEvent struct {
	ID, Source, Type, Subject string
	// Data is the event's JSON data.
	Data json.RawMessage
	// Expected is the expectedversion extension, when HasExpected.
	Expected    uint64
	HasExpected bool
}

func (e testEvent) identity() identity { return identity{e.Source, e.ID} }

func (e testEvent) structured() map[string]any {
	m := map[string]any{"specversion": "1.0", "id": e.ID, "source": e.Source, "type": e.Type, "datacontenttype": "application/json", "data": e.Data}
	if e.Subject != "" {
		m["subject"] = e.Subject
	}
	if e.HasExpected {
		m["expectedversion"] = e.Expected
	}
	return m
}

// mode is how a request carries its events.
type mode int

const (
	modeStructured mode = iota
	modeBinary
	modeBatch
	modeAtomic
)

func (m mode) String() string {
	return [...]string{"structured", "binary", "batch", "atomic batch"}[m]
}

// appendRequest is one POST /v1/events.
type appendRequest struct {
	Mode   mode
	Events []testEvent
}

// appendResult is the answer for one stored (or deduplicated) event.
type appendResult struct {
	Position  uint64  `json:"position"`
	Stream    *string `json:"stream"`
	Version   *uint64 `json:"version"`
	Duplicate bool    `json:"duplicate"`
}

func (r appendResult) stream() string {
	if r.Stream == nil {
		return ""
	}
	return *r.Stream
}

func (r appendResult) version() uint64 {
	if r.Version == nil {
		return 0
	}
	return *r.Version
}

// problem is an RFC 9457 answer.
type problem struct {
	Type           string  `json:"type"`
	Title          string  `json:"title"`
	Status         int     `json:"status"`
	Detail         string  `json:"detail"`
	CurrentVersion *uint64 `json:"currentVersion"`
	Index          *int    `json:"index"`
}

// outcomeKind classifies what a client knows about one event it sent.
type outcomeKind int

const (
	// acked: answered 200 with a position: it must be stored, once.
	acked outcomeKind = iota
	// rejected: a 409 wrong expected version: it must not be stored.
	rejected
	// uncertain: no answer, or a 503 (the log did not answer in time, or
	// the server is still starting): it may or may not be stored.
	uncertain
	// unexpected: any other answer, a test failure.
	unexpected
)

// outcome is what one event's request answered.
type outcome struct {
	Kind   outcomeKind
	Result appendResult
	Prob   *problem
	// Err is the transport error or the unexpected answer.
	Err error
}

// send posts one request and classifies the answer for each of its events.
func send(ctx context.Context, base string, req appendRequest) []outcome {
	out := make([]outcome, len(req.Events))
	status, body, err := post(ctx, base, req)
	if err != nil {
		for i := range out {
			out[i] = outcome{Kind: uncertain, Err: err}
		}
		return out
	}
	all := func(o outcome) []outcome {
		for i := range out {
			out[i] = o
		}
		return out
	}
	if status != http.StatusOK {
		var p problem
		if jerr := json.Unmarshal(body, &p); jerr != nil {
			return all(outcome{Kind: unexpected, Err: fmt.Errorf("%s: %d with a body that is not a problem: %q", req.Mode, status, body)})
		}
		switch {
		case status == http.StatusConflict && p.CurrentVersion != nil:
			return all(outcome{Kind: rejected, Prob: &p})
		case status == http.StatusServiceUnavailable:
			return all(outcome{Kind: uncertain, Prob: &p, Err: fmt.Errorf("%d %s: %s", status, p.Title, p.Detail)})
		default:
			return all(outcome{Kind: unexpected, Prob: &p, Err: fmt.Errorf("%s: %d %s: %s", req.Mode, status, p.Title, p.Detail)})
		}
	}
	if req.Mode == modeStructured || req.Mode == modeBinary {
		var r appendResult
		if err := json.Unmarshal(body, &r); err != nil || r.Position == 0 {
			return all(outcome{Kind: unexpected, Err: fmt.Errorf("%s: 200 with %q", req.Mode, body)})
		}
		return all(outcome{Kind: acked, Result: r})
	}
	var br struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(body, &br); err != nil || len(br.Results) != len(req.Events) {
		return all(outcome{Kind: unexpected, Err: fmt.Errorf("%s of %d: 200 with %.300q", req.Mode, len(req.Events), body)})
	}
	for i, raw := range br.Results {
		var probe struct {
			Status int `json:"status"`
		}
		_ = json.Unmarshal(raw, &probe)
		if probe.Status == 0 {
			var r appendResult
			if err := json.Unmarshal(raw, &r); err != nil || r.Position == 0 {
				out[i] = outcome{Kind: unexpected, Err: fmt.Errorf("%s result %d: %q", req.Mode, i, raw)}
			} else {
				out[i] = outcome{Kind: acked, Result: r}
			}
			continue
		}
		var p problem
		_ = json.Unmarshal(raw, &p)
		switch {
		case p.Status == http.StatusConflict && p.CurrentVersion != nil:
			out[i] = outcome{Kind: rejected, Prob: &p}
		case p.Status == http.StatusServiceUnavailable:
			out[i] = outcome{Kind: uncertain, Prob: &p, Err: fmt.Errorf("%d %s: %s", p.Status, p.Title, p.Detail)}
		default:
			out[i] = outcome{Kind: unexpected, Prob: &p, Err: fmt.Errorf("%s result %d: %d %s: %s", req.Mode, i, p.Status, p.Title, p.Detail)}
		}
	}
	return out
}

// post sends req and returns the status and body; err is a transport error
// (the request may or may not have reached the server).
func post(ctx context.Context, base string, req appendRequest) (int, []byte, error) {
	var hr *http.Request
	var err error
	switch req.Mode {
	case modeStructured:
		b, _ := json.Marshal(req.Events[0].structured())
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", bytes.NewReader(b))
		if err == nil {
			hr.Header.Set("Content-Type", "application/cloudevents+json")
		}
	case modeBinary:
		e := req.Events[0]
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", bytes.NewReader(e.Data))
		if err == nil {
			h := hr.Header
			h.Set("Content-Type", "application/json")
			h.Set("Ce-Specversion", "1.0")
			h.Set("Ce-Id", e.ID)
			h.Set("Ce-Source", e.Source)
			h.Set("Ce-Type", e.Type)
			if e.Subject != "" {
				h.Set("Ce-Subject", url.PathEscape(e.Subject))
			}
			if e.HasExpected {
				h.Set("Ce-Expectedversion", strconv.FormatUint(e.Expected, 10))
			}
		}
	case modeBatch, modeAtomic:
		evs := make([]map[string]any, len(req.Events))
		for i, e := range req.Events {
			evs[i] = e.structured()
		}
		b, _ := json.Marshal(evs)
		u := base + "/v1/events"
		if req.Mode == modeAtomic {
			u += "?atomic=true"
		}
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
		if err == nil {
			hr.Header.Set("Content-Type", "application/cloudevents-batch+json")
		}
	}
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// record is a stored event as the read API answers it.
type record struct {
	Position uint64          `json:"position"`
	Stream   *string         `json:"stream"`
	Version  *uint64         `json:"version"`
	Event    json.RawMessage `json:"event"`
}

func (r record) stream() string {
	if r.Stream == nil {
		return ""
	}
	return *r.Stream
}

func (r record) version() uint64 {
	if r.Version == nil {
		return 0
	}
	return *r.Version
}

// storedEvent is the part of a record's event the tests compare.
type storedEvent struct {
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Data            json.RawMessage `json:"data"`
	ExpectedVersion json.RawMessage `json:"expectedversion"`
}

func (r record) decode() (storedEvent, error) {
	var s storedEvent
	err := json.Unmarshal(r.Event, &s)
	return s, err
}

// sameEvent reports how a stored event differs from the one sent, "" when
// it does not.
func sameEvent(sent testEvent, r record) string {
	got, err := r.decode()
	if err != nil {
		return fmt.Sprintf("stored event is not JSON: %v", err)
	}
	if got.ID != sent.ID || got.Source != sent.Source || got.Type != sent.Type || got.Subject != sent.Subject {
		return fmt.Sprintf("stored (%q, %q, %q, %q), sent (%q, %q, %q, %q)", got.Source, got.ID, got.Type, got.Subject, sent.Source, sent.ID, sent.Type, sent.Subject)
	}
	if got.ExpectedVersion != nil {
		return "expectedversion was stored with the event"
	}
	var a, b any
	if json.Unmarshal(got.Data, &a) != nil || json.Unmarshal(sent.Data, &b) != nil || !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("stored data %s, sent %s", got.Data, sent.Data)
	}
	return ""
}

// getJSON GETs base+path into v; it returns the status (v is filled on 200).
func getJSON(ctx context.Context, base, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return resp.StatusCode, fmt.Errorf("GET %s: %w in %.200q", path, err, body)
		}
	}
	return resp.StatusCode, nil
}

// readLog pages through the whole global log with GET /v1/events.
func readLog(t *testing.T, base string) []record {
	t.Helper()
	ctx := context.Background()
	var all []record
	after := uint64(0)
	for {
		var page struct {
			Records []record `json:"records"`
			Next    *uint64  `json:"next"`
		}
		st, err := getJSON(ctx, base, fmt.Sprintf("/v1/events?after=%d&limit=1000", after), &page)
		if err != nil || st != http.StatusOK {
			t.Fatalf("GET /v1/events?after=%d: %d %v", after, st, err)
		}
		if page.Next == nil {
			t.Fatalf("GET /v1/events?after=%d: no next", after)
		}
		for _, r := range page.Records {
			if r.Position <= after {
				t.Fatalf("GET /v1/events?after=%d answered position %d: the log is not in order", after, r.Position)
			}
			after = r.Position
			all = append(all, r)
		}
		if len(page.Records) == 0 {
			if *page.Next != after {
				t.Fatalf("GET /v1/events?after=%d: empty page with next %d", after, *page.Next)
			}
			return all
		}
	}
}

// readStream reads a whole stream forward, page by page.
func readStream(ctx context.Context, base, stream string) (version uint64, recs []record, err error) {
	from := uint64(1)
	for {
		var page struct {
			Stream  string   `json:"stream"`
			Version uint64   `json:"version"`
			Records []record `json:"records"`
		}
		st, err := getJSON(ctx, base, fmt.Sprintf("/v1/streams/%s?from=%d&limit=1000", url.PathEscape(stream), from), &page)
		if err != nil {
			return 0, nil, err
		}
		if st != http.StatusOK {
			return 0, nil, fmt.Errorf("GET stream %q from %d: %d", stream, from, st)
		}
		if page.Stream != stream {
			return 0, nil, fmt.Errorf("GET stream %q answered stream %q", stream, page.Stream)
		}
		version = page.Version
		recs = append(recs, page.Records...)
		if len(page.Records) == 0 || uint64(len(recs)) >= version {
			return version, recs, nil
		}
		from = page.Records[len(page.Records)-1].version() + 1
	}
}

// parallel runs f(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
