package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

const sseWait = 10 * time.Second

// TestSubscribeHandover: history, then live, with no gap and no duplicate,
// while appends race with the subscription.
func TestSubscribeHandover(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	c := srv.in(t)
	const n, m = 60, 60
	var want []int64
	for i := range n / 10 {
		evs := make([]map[string]any, 10)
		for k := range evs {
			evs[k] = event(fmt.Sprintf("h%d", i*10+k), "subject", "s")
		}
		for _, r := range c.appendBatchOK("", evs) {
			want = append(want, num(t, r, "position"))
		}
	}
	// Another namespace's events interleave in the log and never show.
	noise := srv.in(t)
	noise.appendOK(event("noise"))

	sub := c.subscribe("after=0")
	live := make([]int64, m)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range m {
			r := c.post("", ctStructured, mustJSON(t, event(fmt.Sprintf("l%d", i), "subject", "s")))
			if r.Status != http.StatusOK {
				t.Errorf("live append: %s", r)
				return
			}
			live[i] = num(t, decodeJSON(t, r.Body), "position")
			if i%10 == 0 {
				noise.appendOK(event(fmt.Sprint("noise", i)))
			}
		}
	})
	var got []record
	for range n + m {
		got = append(got, sub.nextRecord(sseWait))
	}
	wg.Wait()
	want = append(want, live...)
	gotPos := make([]int64, len(got))
	for i, r := range got {
		gotPos[i] = r.Position
		require.Equal(t, c.ns, r.Namespace)
		require.Equal(t, int64(i+1), *r.Version)
	}
	require.Equal(t, want, gotPos)
	// Nothing more but what comes next.
	last := requireResult(t, c.appendOK(event("sentinel")), "", 0, false)
	require.Equal(t, last, sub.nextRecord(sseWait).Position)
}

// TestSubscribeResume: Last-Event-ID resumes right after the last event
// seen, and takes precedence over after.
func TestSubscribeResume(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	var pos []int64
	for i := range 20 {
		pos = append(pos, num(t, c.appendOK(event(fmt.Sprint(i))), "position"))
	}
	sub := c.subscribe("after=0")
	var seen []int64
	for range 8 {
		seen = append(seen, sub.nextRecord(sseWait).Position)
	}
	sub.close()
	lastID := strconv.FormatInt(seen[len(seen)-1], 10)

	// More arrive while disconnected.
	for i := 20; i < 25; i++ {
		pos = append(pos, num(t, c.appendOK(event(fmt.Sprint(i))), "position"))
	}
	sub = c.subscribe("after=0", "Last-Event-ID", lastID)
	for len(seen) < len(pos) {
		seen = append(seen, sub.nextRecord(sseWait).Position)
	}
	require.Equal(t, pos, seen)

	// after alone starts after it.
	sub = c.subscribe("after=" + strconv.FormatInt(pos[14], 10))
	require.Equal(t, pos[15], sub.nextRecord(sseWait).Position)

	// An invalid Last-Event-ID is a 400.
	requireProblem(t, c.get("/v1/subscribe", "Last-Event-ID", "x"), http.StatusBadRequest, "Last-Event-ID")
	requireProblem(t, c.get("/v1/subscribe?after=x"), http.StatusBadRequest, "after")
}

// TestSubscribeFromEnd: with neither after nor Last-Event-ID, only events
// appended after subscribing arrive.
func TestSubscribeFromEnd(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	for i := range 5 {
		c.appendOK(event(fmt.Sprint("old", i)))
	}
	sub := c.subscribe("")
	p1 := num(t, c.appendOK(event("new1")), "position")
	p2 := num(t, c.appendOK(event("new2")), "position")
	r := sub.nextRecord(sseWait)
	require.Equal(t, p1, r.Position)
	require.Equal(t, "new1", r.id(t))
	require.Equal(t, p2, sub.nextRecord(sseWait).Position)
}

// TestSubscribeFilters: the filters of /v1/events apply.
func TestSubscribeFilters(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	c := srv.in(t)
	c.appendOK(event("a1", "type", "order.placed", "subject", "o-1"))
	c.appendOK(event("a2", "type", "payment.taken", "subject", "o-1", "correlationid", "a1"))
	c.appendOK(event("a3", "type", "order.paid", "subject", "o-2", "source", "/other", "correlationid", "a1"))
	c.appendOK(event("a4", "type", "order.placed", "subject", "o-2"))

	tests := []struct {
		query string
		want  []string
	}{
		{"type=order.placed", []string{"a1", "a4", "b1"}},
		{"type=order.*", []string{"a1", "a3", "a4", "b1", "b3"}},
		{"subject=o-1", []string{"a1", "a2", "b1"}},
		{"source=/other", []string{"a3"}},
		{"type=order.*&subject=o-2", []string{"a3", "a4", "b3"}},
		{"correlationid=a1", []string{"a2", "a3"}},
	}
	subs := make([]*sse, len(tests))
	for i, tc := range tests {
		subs[i] = c.subscribe("after=0&" + tc.query)
	}
	c.appendOK(event("b1", "type", "order.placed", "subject", "o-1"))
	c.appendOK(event("b2", "type", "payment.taken", "subject", "o-2"))
	c.appendOK(event("b3", "type", "order.shipped", "subject", "o-2"))
	// Last events of which every subscription sees one mark the end.
	c.appendOK(event("end1", "type", "order.placed", "subject", "o-1", "source", "/other", "correlationid", "a1"))
	c.appendOK(event("end2", "type", "order.placed", "subject", "o-2", "source", "/other", "correlationid", "a1"))
	for i, tc := range tests {
		var got []string
		for {
			r := subs[i].nextRecord(sseWait)
			if strings.HasPrefix(r.id(t), "end") {
				break
			}
			got = append(got, r.id(t))
		}
		require.Equal(t, tc.want, got, tc.query)
	}
	requireProblem(t, c.get("/v1/subscribe?type=a*b"), http.StatusBadRequest, "type")
	requireProblem(t, c.get("/v1/subscribe?since=never"), http.StatusBadRequest, "since")
}

// TestSubscribeGracefulStop: a graceful stop ends open subscriptions
// instead of waiting for their clients to leave.
func TestSubscribeGracefulStop(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c := (&client{base: srv.URL, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}).in(t)
	c.appendOK(event("1"))
	subs := []*sse{c.subscribe("after=0"), c.subscribe("")}
	subs[0].nextRecord(sseWait)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, srv.Server.Stop(ctx))
	require.Less(t, time.Since(start), 5*time.Second)
	for _, s := range subs {
		select {
		case _, ok := <-s.events:
			require.False(t, ok, "no event after the stop")
		case <-time.After(sseWait):
			require.FailNow(t, "the subscription did not end")
		}
	}
}

// TestSubscribeStuckClient: a subscriber that stops reading does not hold
// up a graceful stop.
func TestSubscribeStuckClient(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c := (&client{base: srv.URL, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}).in(t)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	// A small receive window fills up soon.
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4<<10))
	_, err = fmt.Fprintf(conn, "GET /v1/subscribe?after=0 HTTP/1.1\r\nHost: x\r\nEnsue-Namespace: %s\r\n\r\n", c.ns)
	require.NoError(t, err)
	// Enough records to fill the socket buffers on both sides.
	for i := range 8 {
		evs := make([]string, 10)
		for k := range evs {
			evs[k] = bigEvent(fmt.Sprint(i, "-", k), 100<<10)
		}
		okJSON(t, c.post("", ctBatch, []byte("["+strings.Join(evs, ",")+"]")))
	}
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, srv.Server.Stop(ctx))
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestSubscribeAnnouncesStart: the first block names the start position as
// the last event id, so a reconnect before any record resumes from there.
func TestSubscribeAnnouncesStart(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	last := num(t, c.appendOK(event("1")), "position")
	for query, want := range map[string]int64{"after=0": 0, "after=7": 7, "": last} {
		req, err := http.NewRequest(http.MethodGet, c.base+"/v1/subscribe?"+query, nil)
		require.NoError(t, err)
		req.Header.Set("Ensue-Namespace", c.ns)
		resp, err := c.hc.Transport.RoundTrip(req)
		require.NoError(t, err)
		br := bufio.NewReader(resp.Body)
		var lines []string
		for {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			if line == "\n" {
				break
			}
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
		resp.Body.Close()
		require.Contains(t, lines, fmt.Sprintf("id: %d", want), query)
	}
}
