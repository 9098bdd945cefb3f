package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNamespaces: the header is checked, and nothing crosses namespaces.
func TestNamespaces(t *testing.T) {
	t.Parallel()
	srv := newClient(t)

	t.Run("invalid header", func(t *testing.T) {
		t.Parallel()
		for _, ns := range []string{"Default", "-a", "a_b", "a.b", "a b", "é", strings.Repeat("a", 64), "a/b", "*", ">", "a\xff"} {
			c := srv.with(t, ns)
			requireProblem(t, c.post("", ctStructured, mustJSON(t, event("x"))), http.StatusBadRequest, "Ensue-Namespace")
			for _, path := range []string{"/v1/events", "/v1/events/1", "/v1/events/lookup?source=/test&id=x", "/v1/streams/s", "/v1/correlations/x", "/v1/subscribe"} {
				requireProblem(t, c.get(path), http.StatusBadRequest, "Ensue-Namespace")
			}
		}
	})

	t.Run("valid header", func(t *testing.T) {
		t.Parallel()
		for _, ns := range []string{"a", "0", strings.Repeat("z", 63), "a-", "9-x-y"} {
			c := srv.with(t, ns)
			okJSON(t, c.post("", ctStructured, mustJSON(t, event(newNS()))))
		}
	})

	t.Run("default namespace", func(t *testing.T) {
		t.Parallel()
		none := srv.with(t, "")
		def := srv.with(t, "default")
		id := newNS()
		pos := requireResult(t, none.appendOK(event(id, "subject", id)), id, 1, false)
		rec := def.getRecord(pos)
		require.Equal(t, "default", rec.Namespace)
		requireResult(t, def.appendOK(event(id, "subject", id)), id, 1, true)
	})

	t.Run("isolation", func(t *testing.T) {
		t.Parallel()
		a, b := srv.in(t), srv.in(t)
		root := requireResult(t, a.appendOK(event("root", "subject", "s", "type", "order.placed")), "s", 1, false)
		child := requireResult(t, a.appendOK(event("child", "subject", "s", "correlationid", "root", "causationid", "root")), "s", 2, false)
		// a sees its events.
		a.getRecord(root)
		eventually(t, 5*time.Second, func() bool {
			recs, _ := decodeRecords(t, a.get("/v1/correlations/root"))
			return len(recs) == 2
		}, "correlation in a")

		for _, pos := range []int64{root, child} {
			requireProblem(t, b.get("/v1/events/"+strconv.FormatInt(pos, 10)), http.StatusNotFound)
		}
		requireProblem(t, b.get("/v1/events/lookup?source=/test&id=root"), http.StatusNotFound)
		for _, q := range []string{"", "type=order.placed", "type=order.*", "source=/test", "subject=s", "correlationid=root", "after=0&limit=1000"} {
			recs, next := b.list(q)
			require.Empty(t, recs, q)
			require.Zero(t, next, q)
		}
		recs, ver := b.stream("s", "")
		require.Zero(t, ver)
		require.Empty(t, recs)
		recs, _ = decodeRecords(t, b.get("/v1/correlations/root"))
		require.Empty(t, recs)
		// And b's own stream of the same name starts at 1.
		requireResult(t, b.appendOK(event("root", "subject", "s", "expectedversion", 0)), "s", 1, false)
		recs, _ = a.list("")
		require.Equal(t, []string{"root", "child"}, ids(t, recs))
	})
}

// TestReadEvents: GET /v1/events paging and filters.
func TestReadEvents(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	c := srv.in(t)

	// Ten events in separate requests, so that recorded_at grows.
	type spec struct{ id, typ, source, subject, corr string }
	specs := []spec{
		{"e0", "order.placed", "/shop", "order-1", ""},
		{"e1", "order.paid", "/shop", "order-1", "e0"},
		{"e2", "payment.taken", "/pay", "", "e0"},
		{"e3", "order.placed", "/shop", "order-2", ""},
		{"e4", "orders.archived", "/shop", "order-2", ""},
		{"e5", "order.shipped", "/ship", "order-1", "e0"},
		{"e6", "order", "/shop", "", ""},
		{"e7", "order.placed", "/other", "order-1", "e3"},
		{"e8", "Order.placed", "/shop", "order-1", ""},
		{"e9", "order.placed.v2", "/shop", "order/1", ""},
	}
	var pos []int64
	for _, s := range specs {
		ev := event(s.id, "type", s.typ, "source", s.source)
		if s.subject != "" {
			ev["subject"] = s.subject
		}
		if s.corr != "" {
			ev["correlationid"] = s.corr
		}
		m := c.appendOK(ev)
		pos = append(pos, num(t, m, "position"))
	}
	// Other namespaces' events interleave in the log.
	other := srv.in(t)
	other.appendOK(event("noise", "type", "order.placed"))

	all, next := c.list("")
	require.Len(t, all, 10)
	require.Equal(t, pos[9], next)
	for i, r := range all {
		require.Equal(t, pos[i], r.Position)
		require.Equal(t, specs[i].id, r.id(t))
		require.Equal(t, c.ns, r.Namespace)
		if specs[i].subject == "" {
			require.Nil(t, r.Stream)
			require.Nil(t, r.Version)
		} else {
			require.Equal(t, specs[i].subject, *r.Stream)
		}
		if i > 0 {
			require.False(t, r.recordedAt(t).Before(all[i-1].recordedAt(t)))
		}
	}

	t.Run("paging", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		var got []string
		after := int64(0)
		for page := 0; ; page++ {
			require.Less(t, page, 10)
			recs, next := c.list(fmt.Sprintf("after=%d&limit=3", after))
			got = append(got, ids(t, recs)...)
			if len(recs) == 0 {
				require.Equal(t, after, next, "nothing examined: next is after")
				break
			}
			require.Equal(t, recs[len(recs)-1].Position, next)
			after = next
		}
		require.Equal(t, ids(t, all), got)
		recs, next := c.list(fmt.Sprintf("after=%d", pos[4]))
		require.Equal(t, ids(t, all[5:]), ids(t, recs))
		require.Equal(t, pos[9], next)
		recs, next = c.list("after=99999999999")
		require.Empty(t, recs)
		require.Equal(t, int64(99999999999), next)
		recs, next = c.list("limit=1000")
		require.Len(t, recs, 10)
		require.Equal(t, pos[9], next)
		recs, next = c.list("limit=1")
		require.Len(t, recs, 1)
		require.Equal(t, pos[0], next)
	})

	t.Run("bad parameters", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		for q, ptr := range map[string]string{
			"limit=0":                             "limit",
			"limit=1001":                          "limit",
			"limit=-1":                            "limit",
			"limit=ten":                           "limit",
			"after=-1":                            "after",
			"after=x":                             "after",
			"since=yesterday":                     "since",
			"until=2024-01-01":                    "until",
			"since=2024-01-01T00:00:00":           "since",
			"type=a*b":                            "type",
			"subject=" + strings.Repeat("s", 513): "subject",
		} {
			requireProblem(t, c.get("/v1/events?"+q), http.StatusBadRequest, ptr)
		}
		p := requireProblem(t, c.get("/v1/events?limit=0&after=x&since=y"), http.StatusBadRequest)
		require.ElementsMatch(t, []string{"limit", "after", "since"}, problemPointers(t, p), "all problems at once")
	})

	filters := []struct {
		query string
		want  []string
	}{
		{"type=order.placed", []string{"e0", "e3", "e7"}},
		{"type=order.*", []string{"e0", "e1", "e3", "e5", "e7", "e9"}},
		{"type=order*", []string{"e0", "e1", "e3", "e4", "e5", "e6", "e7", "e9"}},
		{"type=*", ids(t, all)},
		{"type=nothing", nil},
		{"source=/shop", []string{"e0", "e1", "e3", "e4", "e6", "e8", "e9"}},
		{"source=/sho", nil},
		{"subject=order-1", []string{"e0", "e1", "e5", "e7", "e8"}},
		{"subject=order/1", []string{"e9"}},
		{"subject=order-", nil},
		{"type=order.placed&source=/shop", []string{"e0", "e3"}},
		{"type=order.*&subject=order-1&source=/shop", []string{"e0", "e1"}},
		{"type=order.*&subject=order-1&limit=2", []string{"e0", "e1"}},
		{"source=/shop&after=" + strconv.FormatInt(pos[3], 10), []string{"e4", "e6", "e8", "e9"}},
	}
	for _, f := range filters {
		t.Run(f.query, func(t *testing.T) {
			t.Parallel()
			c := c.with(t, c.ns)
			recs, next := c.list(f.query)
			require.Equal(t, f.want, nilIfEmpty(ids(t, recs)))
			require.GreaterOrEqual(t, next, int64(0))
			if len(recs) > 0 {
				require.GreaterOrEqual(t, next, recs[len(recs)-1].Position)
			}
		})
	}

	t.Run("correlationid", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		// The correlation index may lag by up to a second.
		var recs []record
		eventually(t, 5*time.Second, func() bool {
			recs, _ = c.list("correlationid=e0")
			return len(recs) >= 3
		}, "correlationid filter")
		require.Equal(t, []string{"e1", "e2", "e5"}, ids(t, recs), "the events whose correlationid is e0")
		recs, _ = c.list("correlationid=e0&source=/shop")
		require.Equal(t, []string{"e1"}, ids(t, recs))
		recs, _ = c.list("correlationid=e0&subject=order-1")
		require.Equal(t, []string{"e1", "e5"}, ids(t, recs))
		recs, _ = c.list("correlationid=e0&type=order.*&limit=1")
		require.Equal(t, []string{"e1"}, ids(t, recs))
		recs, _ = c.list("correlationid=nobody")
		require.Empty(t, recs)
	})

	t.Run("since and until", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		at := func(i int) time.Time { return all[i].recordedAt(t) }
		want := func(since, until time.Time) []string {
			var out []string
			for _, r := range all {
				ra := r.recordedAt(t)
				if (since.IsZero() || !ra.Before(since)) && (until.IsZero() || !ra.After(until)) {
					out = append(out, r.id(t))
				}
			}
			return out
		}
		q := func(name string, v time.Time) string { return name + "=" + url.QueryEscape(v.Format(time.RFC3339Nano)) }
		cases := []struct {
			query        string
			since, until time.Time
		}{
			{q("since", at(3)), at(3), time.Time{}},
			{q("until", at(6)), time.Time{}, at(6)},
			{q("since", at(2)) + "&" + q("until", at(7)), at(2), at(7)},
			{q("since", at(9).Add(time.Hour)), at(9).Add(time.Hour), time.Time{}},
			{q("until", at(0).Add(-time.Hour)), time.Time{}, at(0).Add(-time.Hour)},
		}
		for _, tc := range cases {
			recs, _ := c.list(tc.query)
			require.Equal(t, want(tc.since, tc.until), nilIfEmpty(ids(t, recs)), tc.query)
		}
		// Another zone names the same instant.
		zone := time.FixedZone("x", 5*3600+1800)
		recs, _ := c.list("since=" + url.QueryEscape(at(5).In(zone).Format(time.RFC3339Nano)))
		require.Equal(t, want(at(5), time.Time{}), ids(t, recs))
		// Combined with other filters.
		recs, _ = c.list(q("since", at(1)) + "&" + q("until", at(8)) + "&type=order.placed")
		var exp []string
		for _, id := range want(at(1), at(8)) {
			if slices.Contains([]string{"e0", "e3", "e7"}, id) {
				exp = append(exp, id)
			}
		}
		require.Equal(t, exp, nilIfEmpty(ids(t, recs)))
	})
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestReadDefaultLimit: reads answer 100 records unless told otherwise.
func TestReadDefaultLimit(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	evs := make([]map[string]any, 150)
	for i := range evs {
		evs[i] = event(fmt.Sprint(i), "subject", "s")
	}
	res := c.appendBatchOK("", evs)
	recs, next := c.list("")
	require.Len(t, recs, 100)
	require.Equal(t, num(t, res[99], "position"), next)
	recs, next = c.list(fmt.Sprintf("after=%d", next))
	require.Len(t, recs, 50)
	require.Equal(t, num(t, res[149], "position"), next)
	recs, ver := c.stream("s", "")
	require.Equal(t, int64(150), ver)
	require.Len(t, recs, 100)
	require.Equal(t, int64(100), *recs[99].Version)
	recs, _ = c.stream("s", "direction=backward")
	require.Len(t, recs, 100)
	require.Equal(t, int64(51), *recs[99].Version)
}

// TestReadOne: GET /v1/events/{position} and lookup.
func TestReadOne(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	body := `{"specversion":"1.0","id":"a/b c?d","source":"https://x.example/s?q=1&r=é","type":"t","subject":"s","data":{"k":[1,2]}}`
	pos := requireResult(t, okJSON(t, c.post("", ctStructured, []byte(body))), "s", 1, false)

	rec := c.getRecord(pos)
	require.Equal(t, pos, rec.Position)
	require.Equal(t, "s", *rec.Stream)
	require.Equal(t, int64(1), *rec.Version)
	require.Equal(t, c.ns, rec.Namespace)
	require.WithinDuration(t, time.Now(), rec.recordedAt(t), time.Minute)
	require.JSONEq(t, body, string(rec.Event))
	raw := decodeJSON(t, c.get("/v1/events/"+strconv.FormatInt(pos, 10)).Body)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"position", "stream", "version", "recorded_at", "namespace", "event"}, keys)

	r := c.get("/v1/events/lookup?source=" + url.QueryEscape("https://x.example/s?q=1&r=é") + "&id=" + url.QueryEscape("a/b c?d"))
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
	require.Equal(t, ctJSON, r.CT())
	require.JSONEq(t, string(c.get("/v1/events/"+strconv.FormatInt(pos, 10)).Body), string(r.Body))

	for _, p := range []string{"abc", "1.5", "1e3", "0x10", "%20", "1%20"} {
		requireProblem(t, c.get("/v1/events/"+p), http.StatusBadRequest, "position")
	}
	for _, p := range []string{"0", "-1", "99999999999", "18446744073709551615", "99999999999999999999999"} {
		requireProblem(t, c.get("/v1/events/"+p), http.StatusNotFound)
	}
	requireProblem(t, c.get("/v1/events/lookup"), http.StatusBadRequest, "source", "id")
	requireProblem(t, c.get("/v1/events/lookup?source=/s"), http.StatusBadRequest, "id")
	requireProblem(t, c.get("/v1/events/lookup?id=x"), http.StatusBadRequest, "source")
	requireProblem(t, c.get("/v1/events/lookup?source=/nope&id=x"), http.StatusNotFound)
	requireProblem(t, c.get("/v1/events/lookup?source=https://x.example/s&id="+url.QueryEscape("a/b c?d")), http.StatusNotFound)
}

// TestReadStreams: GET /v1/streams/{stream}.
func TestReadStreams(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	c := srv.in(t)
	for i := 1; i <= 7; i++ {
		c.appendOK(event(fmt.Sprint("v", i), "subject", "orders/123"))
		c.appendOK(event(fmt.Sprint("o", i), "subject", "orders"))
	}
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"from=1", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"from=3", []int64{3, 4, 5, 6, 7}},
		{"from=7", []int64{7}},
		{"from=8", nil},
		{"from=3&limit=2", []int64{3, 4}},
		{"limit=1", []int64{1}},
		{"limit=1000", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"direction=forward&from=6", []int64{6, 7}},
		{"direction=backward", []int64{7, 6, 5, 4, 3, 2, 1}},
		{"direction=backward&limit=3", []int64{7, 6, 5}},
		{"direction=backward&from=4", []int64{4, 3, 2, 1}},
		{"direction=backward&from=4&limit=2", []int64{4, 3}},
		{"direction=backward&from=1", []int64{1}},
		{"direction=backward&from=100", []int64{7, 6, 5, 4, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			c := c.with(t, c.ns)
			recs, ver := c.stream("orders/123", tc.query)
			require.Equal(t, int64(7), ver)
			require.Equal(t, tc.want, nilIfEmptyInts(versions(recs)))
			for _, r := range recs {
				require.Equal(t, "orders/123", *r.Stream)
				require.Equal(t, fmt.Sprint("v", *r.Version), r.id(t))
			}
		})
	}

	t.Run("percent-encoded name reaches the stream", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		r := c.get("/v1/streams/orders%2F123")
		recs, m := decodeRecords(t, r)
		require.Len(t, recs, 7)
		require.JSONEq(t, `"orders/123"`, string(m["stream"]))
		require.JSONEq(t, `7`, string(m["version"]))
		recs, _ = decodeRecords(t, c.get("/v1/streams/orders"))
		require.Equal(t, "o1", recs[0].id(t))
	})

	t.Run("empty stream", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		for _, q := range []string{"", "direction=backward", "from=5"} {
			recs, ver := c.stream("never-written", q)
			require.Zero(t, ver)
			require.Empty(t, recs)
		}
		r := c.get("/v1/streams/never-written")
		require.JSONEq(t, `{"stream":"never-written","version":0,"records":[]}`, string(r.Body))
	})

	t.Run("bad parameters", func(t *testing.T) {
		t.Parallel()
		c := c.with(t, c.ns)
		for q, ptr := range map[string]string{
			"limit=0":            "limit",
			"limit=1001":         "limit",
			"from=-1":            "from",
			"from=x":             "from",
			"direction=sideways": "direction",
		} {
			requireProblem(t, c.get("/v1/streams/orders?"+q), http.StatusBadRequest, ptr)
		}
		requireProblem(t, c.get("/v1/streams/"+strings.Repeat("s", 513)), http.StatusBadRequest, "stream")
	})
}

func nilIfEmptyInts(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestReadCorrelations: the root and every event correlated with it, in
// log order, with causation kept.
func TestReadCorrelations(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.appendOK(event("order-7", "type", "order.placed", "subject", "order-7"))
	c.appendOK(event("unrelated", "subject", "order-7"))
	c.appendOK(event("pay-1", "correlationid", "order-7", "causationid", "order-7", "source", "/pay"))
	c.appendBatchOK("", []map[string]any{
		event("ship-1", "correlationid", "order-7", "causationid", "pay-1", "subject", "order-7"),
		event("other-root", "correlationid", "order-8"),
		// Its own id is order-7 in another source, but it belongs to another correlation.
		event("order-7", "source", "/elsewhere", "correlationid", "order-8"),
	})
	c.appendOK(event("mail-1", "correlationid", "order-7", "causationid", "ship-1"))

	var recs []record
	eventually(t, 5*time.Second, func() bool {
		recs, _ = decodeRecords(t, c.get("/v1/correlations/order-7"))
		return len(recs) >= 4
	}, "correlation")
	require.Equal(t, []string{"order-7", "pay-1", "ship-1", "mail-1"}, ids(t, recs))
	causes := make([]any, len(recs))
	for i, r := range recs {
		causes[i] = r.attrs(t)["causationid"]
		if i > 0 {
			require.Greater(t, r.Position, recs[i-1].Position)
		}
	}
	require.Equal(t, []any{nil, "order-7", "pay-1", "ship-1"}, causes)

	eventually(t, 5*time.Second, func() bool {
		recs, _ = decodeRecords(t, c.get("/v1/correlations/order-8"))
		return len(recs) >= 2
	}, "correlation")
	require.Equal(t, []string{"other-root", "order-7"}, ids(t, recs))

	recs, _ = decodeRecords(t, c.get("/v1/correlations/nobody"))
	require.Empty(t, recs)

	// Ids needing percent-encoding, or that a path cleaner would remove.
	for _, id := range []string{"a/b c", "/", "..", ".", "a/../b", "a//b", "%2F", "é?#"} {
		c.appendOK(event(id))
		c.appendOK(event("child of "+id, "correlationid", id))
		eventually(t, 5*time.Second, func() bool {
			recs, _ = decodeRecords(t, c.get("/v1/correlations/"+url.PathEscape(id)))
			return len(recs) >= 2
		}, "correlation %q", id)
		require.Equal(t, []string{id, "child of " + id}, ids(t, recs))
	}
}
