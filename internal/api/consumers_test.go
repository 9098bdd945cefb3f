package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func (c *client) ack(name string, pos int64) *response {
	c.t.Helper()
	return c.do(http.MethodPost, "/v1/consumers/"+name+"/ack", strings.NewReader(fmt.Sprintf(`{"position": %d}`, pos)), "Content-Type", ctJSON)
}

// fetch reads GET /v1/consumers/{name}/events?query.
func (c *client) fetch(name, query string) ([]record, int64) {
	c.t.Helper()
	recs, m := decodeRecords(c.t, c.get("/v1/consumers/"+name+"/events?"+query))
	var next int64
	_, err := fmt.Sscan(string(m["next"]), &next)
	require.NoError(c.t, err)
	return recs, next
}

func TestConsumers(t *testing.T) {
	t.Parallel()
	srv := newClient(t)

	t.Run("lifecycle", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		p1 := requireResult(t, c.appendOK(event("a", "type", "order.placed", "subject", "o1")), "o1", 1, false)
		c.appendOK(event("b", "type", "cart.viewed"))
		p3 := requireResult(t, c.appendOK(event("c", "type", "order.paid", "subject", "o1")), "o1", 2, false)

		r := c.put("/v1/consumers/billing", `{"filter": {"type": "order.*"}, "start": "beginning"}`)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r)
		m := decodeJSON(t, r.Body)
		require.Equal(t, "billing", m["name"])
		require.Equal(t, int64(0), num(t, m, "checkpoint"))
		// Idempotent: the same filter answers the consumer as is.
		m = okJSON(t, c.put("/v1/consumers/billing", `{"filter": {"type": "order.*"}, "start": "end"}`))
		require.Equal(t, int64(0), num(t, m, "checkpoint"))
		requireProblem(t, c.put("/v1/consumers/billing", `{"filter": {"type": "cart.*"}}`), http.StatusConflict, "/filter")

		recs, next := c.fetch("billing", "limit=1")
		require.Equal(t, []string{"a"}, ids(t, recs))
		require.Equal(t, p1, next)
		// Fetching does not move the checkpoint: the same records again.
		recs, _ = c.fetch("billing", "")
		require.Equal(t, []string{"a", "c"}, ids(t, recs))
		okJSON(t, c.ack("billing", p1))
		recs, next = c.fetch("billing", "")
		require.Equal(t, []string{"c"}, ids(t, recs))
		require.Equal(t, p3, next)
		m = okJSON(t, c.ack("billing", p3))
		require.Equal(t, p3, num(t, m, "checkpoint"))
		okJSON(t, c.ack("billing", p3)) // a retried ack
		requireProblem(t, c.ack("billing", p1), http.StatusConflict, "/position")
		requireProblem(t, c.ack("billing", p3+1000), http.StatusBadRequest, "/position")

		recs, next = c.fetch("billing", "wait=0s")
		require.Empty(t, recs)
		require.Equal(t, p3, next)

		// Another namespace has no such consumer.
		requireProblem(t, srv.in(t).get("/v1/consumers/billing"), http.StatusNotFound)

		// A reset replaces the filter and the checkpoint.
		m = okJSON(t, c.put("/v1/consumers/billing?reset=true", `{"filter": {"type": "cart.*"}, "start": 0}`))
		require.Equal(t, int64(0), num(t, m, "checkpoint"))
		recs, _ = c.fetch("billing", "")
		require.Equal(t, []string{"b"}, ids(t, recs))

		r = c.do(http.MethodDelete, "/v1/consumers/billing", nil)
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r)
		requireProblem(t, c.get("/v1/consumers/billing"), http.StatusNotFound)
		requireProblem(t, c.get("/v1/consumers/billing/events"), http.StatusNotFound)
		requireProblem(t, c.ack("billing", 1), http.StatusNotFound)
		requireProblem(t, c.do(http.MethodDelete, "/v1/consumers/billing", nil), http.StatusNotFound)
	})

	t.Run("long poll", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		r := c.put("/v1/consumers/live", `{"filter": {"subject": "s"}, "start": "end"}`)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r)
		go func() {
			time.Sleep(300 * time.Millisecond) // the fetch below must be waiting
			c.appendOK(event("other", "subject", "t"))
			c.appendOK(event("x", "subject", "s"))
		}()
		start := time.Now()
		recs, _ := c.fetch("live", "wait=20s")
		require.Equal(t, []string{"x"}, ids(t, recs))
		require.Less(t, time.Since(start), 10*time.Second)

		start = time.Now()
		okJSON(t, c.ack("live", *recsPos(recs)))
		recs, _ = c.fetch("live", "wait=300ms")
		require.Empty(t, recs)
		require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	})

	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		requireProblem(t, c.put("/v1/consumers/a.b", `{}`), http.StatusBadRequest, "name")
		requireProblem(t, c.put("/v1/consumers/"+strings.Repeat("n", 101), `{}`), http.StatusBadRequest, "name")
		requireProblem(t, c.put("/v1/consumers/c", `{"filter": {"type": "a*b"}}`), http.StatusBadRequest, "/filter/type")
		requireProblem(t, c.put("/v1/consumers/c", `{"start": "middle"}`), http.StatusBadRequest, "/start")
		requireProblem(t, c.put("/v1/consumers/c", `{"start": 99999999}`), http.StatusBadRequest, "/start")
		requireProblem(t, c.put("/v1/consumers/c", `{"filter": {"kind": "x"}}`), http.StatusBadRequest)
		r := c.put("/v1/consumers/c", ``)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r)
		requireProblem(t, c.get("/v1/consumers/c/events?wait=2m"), http.StatusBadRequest, "wait")
		requireProblem(t, c.get("/v1/consumers/c/events?limit=0"), http.StatusBadRequest, "limit")
		requireProblem(t, c.do(http.MethodPost, "/v1/consumers/c/ack", strings.NewReader(`{"position": -1}`)), http.StatusBadRequest, "/position")
		requireProblem(t, c.do(http.MethodPost, "/v1/consumers/c/ack", strings.NewReader(`{}`)), http.StatusBadRequest, "/position")
	})
}

func recsPos(recs []record) *int64 { return &recs[len(recs)-1].Position }
