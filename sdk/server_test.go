package sdk_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/sdk"
)

// These tests run the client against a real server (embedded JetStream, real
// HTTP listener): they check the SDK and the server agree on the contract.

type order struct {
	Total int    `json:"total"`
	Note  string `json:"note,omitempty"`
}

func newClient(t *testing.T, opts ...sdk.Option) *sdk.Client {
	t.Helper()
	srv := servertest.Start(t)
	return sdk.New(srv.URL, opts...)
}

// eventually polls f until it returns true, failing after 10s: filtered reads
// may lag an append by up to a second.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerAppendAndReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, sdk.WithNamespace("shop"))

	when := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	res, err := c.Append(ctx, sdk.Event{
		ID: "evt-1", Source: "/shop", Type: "order.placed", Subject: "order/123", Time: when,
		Data: order{Total: 1250}, Extensions: map[string]any{"correlationid": "evt-1", "sequence": 1},
	})
	require.NoError(t, err)
	require.Equal(t, sdk.AppendResult{ID: "evt-1", Position: res.Position, Stream: "order/123", Version: 1}, res)
	require.Positive(t, res.Position)

	rec, err := c.Get(ctx, res.Position)
	require.NoError(t, err)
	require.Equal(t, res.Position, rec.Position)
	require.Equal(t, "order/123", rec.Stream)
	require.Equal(t, int64(1), rec.Version)
	require.Equal(t, "shop", rec.Namespace)
	require.WithinDuration(t, time.Now(), rec.RecordedAt, time.Minute)
	require.Equal(t, "1.0", rec.Event.SpecVersion)
	require.Equal(t, "order.placed", rec.Event.Type)
	require.True(t, when.Equal(rec.Event.Time))
	require.Equal(t, "evt-1", rec.Event.CorrelationID())
	var got order
	require.NoError(t, rec.Event.DataAs(&got))
	require.Equal(t, order{Total: 1250}, got)

	byID, err := c.Lookup(ctx, "/shop", "evt-1")
	require.NoError(t, err)
	require.Equal(t, rec.Position, byID.Position)

	_, err = c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.paid", Subject: "order/123"})
	require.NoError(t, err)
	page, err := c.Stream(ctx, "order/123", sdk.StreamQuery{})
	require.NoError(t, err)
	require.Equal(t, "order/123", page.Stream)
	require.Equal(t, int64(2), page.Version)
	require.Len(t, page.Records, 2)
	require.Equal(t, "order.paid", page.Records[1].Event.Type)

	back, err := c.Stream(ctx, "order/123", sdk.StreamQuery{Backward: true, Limit: 1})
	require.NoError(t, err)
	require.Len(t, back.Records, 1)
	require.Equal(t, int64(2), back.Records[0].Version)

	empty, err := c.Stream(ctx, "order/999", sdk.StreamQuery{})
	require.NoError(t, err)
	require.Zero(t, empty.Version)
	require.Empty(t, empty.Records)
}

func TestServerBinaryDataAndNoSubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	res, err := c.Append(ctx, sdk.Event{Source: "/cam", Type: "frame.taken", DataContentType: "application/octet-stream", Data: []byte{0, 1, 2, 255}})
	require.NoError(t, err)
	require.Empty(t, res.Stream)
	require.Zero(t, res.Version)

	rec, err := c.Get(ctx, res.Position)
	require.NoError(t, err)
	require.Empty(t, rec.Stream)
	require.Equal(t, "default", rec.Namespace)
	var raw []byte
	require.NoError(t, rec.Event.DataAs(&raw))
	require.Equal(t, []byte{0, 1, 2, 255}, raw)
}

func TestServerDuplicateIsRecordedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	ev := sdk.Event{ID: "pay-1", Source: "/billing", Type: "payment.captured", Subject: "payment-9"}
	first, err := c.Append(ctx, ev)
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	again, err := c.Append(ctx, ev)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Position, again.Position)
	require.Equal(t, first.Version, again.Version)
}

func TestServerWrongExpectedVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	_, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.placed", Subject: "order-1", ExpectedVersion: sdk.ExpectVersion(0)})
	require.NoError(t, err)

	_, err = c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.placed", Subject: "order-1", ExpectedVersion: sdk.ExpectVersion(0)})
	require.ErrorIs(t, err, sdk.ErrWrongExpectedVersion)
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, 409, p.Status)
	require.Equal(t, int64(1), *p.CurrentVersion)

	res, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.shipped", Subject: "order-1", ExpectedVersion: p.CurrentVersion})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)
}

func TestServerBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)

	results, err := c.AppendBatch(ctx, []sdk.Event{
		{Source: "/shop", Type: "order.placed", Subject: "order-7"},
		{Source: "/shop", Subject: "order-7"}, // no type
		{Source: "/shop", Type: "order.paid", Subject: "order-7"},
	})
	require.NoError(t, err)
	require.Len(t, results, 3)
	require.NoError(t, results[0].Err())
	require.Equal(t, int64(1), results[0].Result.Version)
	require.Error(t, results[1].Err())
	require.Equal(t, 400, results[1].Problem.Status)
	require.Equal(t, 1, *results[1].Problem.Index)
	require.Equal(t, "/type", results[1].Problem.Errors[0].Pointer)
	require.NoError(t, results[2].Err())
	require.Equal(t, int64(2), results[2].Result.Version)

	atomic, err := c.AppendAtomic(ctx, []sdk.Event{
		{Source: "/billing", Type: "payment.authorized", Subject: "payment-1"},
		{Source: "/billing", Type: "payment.captured", Subject: "payment-1"},
	})
	require.NoError(t, err)
	require.Len(t, atomic, 2)
	require.Equal(t, atomic[0].Position+1, atomic[1].Position, "an atomic batch's positions are consecutive")

	_, err = c.AppendAtomic(ctx, []sdk.Event{
		{Source: "/billing", Type: "payment.authorized", Subject: "payment-2"},
		{Source: "/billing", Type: "ensue.reserved", Subject: "payment-2"},
	})
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, 400, p.Status)
	require.Equal(t, 1, *p.Index)
	page, err := c.Stream(ctx, "payment-2", sdk.StreamQuery{})
	require.NoError(t, err)
	require.Zero(t, page.Version, "a failed atomic batch stores nothing")
}

func TestServerNotFoundAndNamespaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := servertest.Start(t)
	shop := sdk.New(srv.URL, sdk.WithNamespace("shop"))
	other := sdk.New(srv.URL, sdk.WithNamespace("other"))

	res, err := shop.Append(ctx, sdk.Event{ID: "a", Source: "/s", Type: "t.x"})
	require.NoError(t, err)
	_, err = other.Get(ctx, res.Position)
	require.ErrorIs(t, err, sdk.ErrNotFound, "another namespace's positions answer 404")
	_, err = shop.Get(ctx, res.Position+1000)
	require.ErrorIs(t, err, sdk.ErrNotFound)
	_, err = shop.Lookup(ctx, "/s", "missing")
	require.ErrorIs(t, err, sdk.ErrNotFound)

	_, err = sdk.New(srv.URL, sdk.WithNamespace("Not_Valid")).Get(ctx, 1)
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, 400, p.Status)
}

func TestServerEventsPagesAndFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	var batch []sdk.Event
	for i := range 25 {
		typ := "order.placed"
		if i%5 == 0 {
			typ = "invoice.sent"
		}
		batch = append(batch, sdk.Event{ID: fmt.Sprint(i), Source: "/shop", Type: typ, Subject: fmt.Sprintf("order-%d", i%3),
			Extensions: map[string]any{"correlationid": "corr-" + fmt.Sprint(i%2)}})
	}
	results, err := c.AppendBatch(ctx, batch)
	require.NoError(t, err)
	for _, r := range results {
		require.NoError(t, r.Err())
	}

	var all []sdk.Record
	q := sdk.Query{Limit: 10}
	pages := 0
	for {
		page, err := c.Events(ctx, q)
		require.NoError(t, err)
		if page.End(q.After) {
			break
		}
		pages++
		all = append(all, page.Records...)
		q.After = page.Next
	}
	require.Len(t, all, 25)
	require.Equal(t, 3, pages)
	var iterated []sdk.Record
	for rec, err := range c.Records(ctx, sdk.Query{Limit: 7}) {
		require.NoError(t, err)
		iterated = append(iterated, rec)
	}
	require.Equal(t, all, iterated)
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i].Position, all[i-1].Position)
	}

	eventually(t, "filtered reads", func() bool {
		page, err := c.Events(ctx, sdk.Query{Type: "order.*", Subject: "order-1", Limit: 1000})
		require.NoError(t, err)
		return len(page.Records) == 7 // i%3 == 1 and i%5 != 0
	})
	page, err := c.Events(ctx, sdk.Query{Type: "invoice.sent", Source: "/shop", Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, page.Records, 5)

	eventually(t, "the correlation index", func() bool {
		corr, err := c.Correlation(ctx, "corr-0")
		require.NoError(t, err)
		return len(corr) == 13
	})
}

func TestServerSubscribe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t)
	for i := range 3 {
		_, err := c.Append(ctx, sdk.Event{ID: fmt.Sprint(i), Source: "/s", Type: "tick"})
		require.NoError(t, err)
	}

	var ids []string
	for rec, err := range c.Subscribe(ctx, sdk.Query{Type: "tick"}) {
		require.NoError(t, err)
		ids = append(ids, rec.Event.ID)
		if len(ids) == 3 {
			// Live: what is appended now arrives next; other types do not.
			_, err := c.Append(ctx, sdk.Event{ID: "x", Source: "/s", Type: "other"})
			require.NoError(t, err)
			_, err = c.Append(ctx, sdk.Event{ID: "3", Source: "/s", Type: "tick"})
			require.NoError(t, err)
		}
		if len(ids) == 4 {
			break
		}
	}
	require.Equal(t, []string{"0", "1", "2", "3"}, ids)

}

func TestServerSubscribeFromEndOfLog(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := servertest.Start(t)
	c := sdk.New(srv.URL)
	_, err := c.Append(ctx, sdk.Event{ID: "old", Source: "/s", Type: "tick"})
	require.NoError(t, err)

	appended := make(chan error, 1)
	go func() {
		// Append only once the subscription is open, as the server's gauge
		// tells, so that "new" is after its start.
		deadline := time.Now().Add(10 * time.Second)
		for !subscribers(srv.URL, 1) {
			if time.Now().After(deadline) {
				appended <- fmt.Errorf("the subscription never opened")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, err := c.Append(ctx, sdk.Event{ID: "new", Source: "/s", Type: "tick"})
		appended <- err
	}()
	for rec, err := range c.Subscribe(ctx, sdk.Query{After: sdk.EndOfLog}) {
		require.NoError(t, err)
		require.Equal(t, "new", rec.Event.ID)
		break
	}
	require.NoError(t, <-appended)
}

// subscribers reports whether the server's ensue_sse_subscribers gauge is n.
func subscribers(baseURL string, n int) bool {
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), fmt.Sprintf("\nensue_sse_subscribers %d\n", n))
}

func TestServerSubscribeRefused(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	var errs []error
	for _, err := range sdk.New(srv.URL, sdk.WithNamespace("-bad")).Subscribe(context.Background(), sdk.Query{}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	var p *sdk.Problem
	require.ErrorAs(t, errs[0], &p)
	require.Equal(t, 400, p.Status)
}

// connTracker dials TCP connections it can all cut at once, as a network
// failure would.
type connTracker struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (ct *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		ct.mu.Lock()
		ct.conns = append(ct.conns, conn)
		ct.mu.Unlock()
	}
	return conn, err
}

func (ct *connTracker) cutAll() {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, conn := range ct.conns {
		conn.Close()
	}
	ct.conns = nil
}

func TestServerSubscribeSurvivesARestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := servertest.Start(t)
	var ct connTracker
	hc := &http.Client{Transport: &http.Transport{DialContext: ct.dial}}
	c := sdk.New(first.URL, sdk.WithHTTPClient(hc),
		sdk.WithReconnectPolicy(sdk.ReconnectPolicy{MaxDelay: 200 * time.Millisecond, MaxAttempts: 50}))
	for i := 1; i <= 3; i++ {
		_, err := c.Append(ctx, sdk.Event{ID: fmt.Sprint(i), Source: "/s", Type: "tick"})
		require.NoError(t, err)
	}

	var ids []string
	for rec, err := range c.Subscribe(ctx, sdk.Query{}) {
		require.NoError(t, err)
		ids = append(ids, rec.Event.ID)
		if len(ids) == 3 {
			// The network drops and the server restarts on the same address
			// and data: the subscription must resume after position 3.
			ct.cutAll()
			stopCtx, stopCancel := context.WithTimeout(ctx, 15*time.Second)
			require.NoError(t, first.Server.Stop(stopCtx))
			stopCancel()
			addr := strings.TrimPrefix(first.URL, "http://")
			second := servertest.StartWith(t, servertest.Options{Config: server.Config{Addr: addr, DataDir: first.DataDir}})
			require.Equal(t, first.URL, second.URL)
			for i := 3; i <= 5; i++ { // 3 again: a duplicate, not a new record
				_, err := c.Append(ctx, sdk.Event{ID: fmt.Sprint(i), Source: "/s", Type: "tick"})
				require.NoError(t, err)
			}
		}
		if len(ids) == 5 {
			break
		}
	}
	require.Equal(t, []string{"1", "2", "3", "4", "5"}, ids)
}
