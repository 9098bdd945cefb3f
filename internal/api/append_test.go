package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
)

// TestAtomicBatch: all-or-nothing batches.
func TestAtomicBatch(t *testing.T) {
	t.Parallel()
	srv := newClient(t)

	t.Run("success is contiguous", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		c.appendOK(event("before", "subject", "a"))
		evs := []map[string]any{
			event("1", "subject", "a", "expectedversion", 1),
			event("2", "subject", "b"),
			event("3"),
			event("4", "subject", "a", "expectedversion", 2),
			event("5", "subject", "b", "expectedversion", 1),
		}
		res := c.appendBatchOK("?atomic=true", evs)
		require.Len(t, res, 5)
		first := requireResult(t, res[0], "a", 2, false)
		require.Equal(t, first+1, requireResult(t, res[1], "b", 1, false))
		require.Equal(t, first+2, requireResult(t, res[2], "", 0, false))
		require.Equal(t, first+3, requireResult(t, res[3], "a", 3, false))
		require.Equal(t, first+4, requireResult(t, res[4], "b", 2, false))
		recs, ver := c.stream("a", "")
		require.Equal(t, int64(3), ver)
		require.Equal(t, []string{"before", "1", "4"}, ids(t, recs))
	})

	// A failing event stores nothing: the problem names it by index.
	fails := []struct {
		name     string
		bad      map[string]any
		status   int
		pointers []string
		current  int64 // currentVersion expected in a 409, else -1
	}{
		{"invalid event", map[string]any{"specversion": "1.0", "id": "bad", "source": "/test"}, http.StatusBadRequest, []string{"/type"}, -1},
		{"reserved type", event("bad", "type", "ensue.x"), http.StatusBadRequest, []string{"/type"}, -1},
		{"wrong expected version", event("bad", "subject", "a", "expectedversion", 5), http.StatusConflict, []string{"/expectedversion"}, 2},
		{"expected empty stream", event("bad", "subject", "a", "expectedversion", 0), http.StatusConflict, []string{"/expectedversion"}, 2},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			c.appendOK(event("seed", "subject", "a"))
			evs := []map[string]any{event("ok1", "subject", "a"), event("ok2", "subject", "other"), tc.bad, event("ok3")}
			p := requireProblem(t, c.post("?atomic=true", ctBatch, mustJSON(t, evs)), tc.status, tc.pointers...)
			require.Equal(t, int64(2), num(t, p, "index"), "%v", p)
			require.Equal(t, tc.current, num(t, p, "currentVersion"), "%v", p)
			// Nothing stored.
			recs, ver := c.stream("a", "")
			require.Equal(t, int64(1), ver)
			require.Equal(t, []string{"seed"}, ids(t, recs))
			recs, ver = c.stream("other", "")
			require.Zero(t, ver)
			require.Empty(t, recs)
			all, _ := c.list("")
			require.Equal(t, []string{"seed"}, ids(t, all))
			for _, id := range []string{"ok1", "ok2", "ok3"} {
				requireProblem(t, c.get("/v1/events/lookup?source=/test&id="+id), http.StatusNotFound)
			}
			// And the same batch, fixed, is stored whole: the claims of the
			// failed one were released.
			evs[2] = event("fixed", "subject", "a")
			require.Len(t, c.appendBatchOK("?atomic=true", evs), 4)
		})
	}

	t.Run("expected version counts the batch's own events", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := []map[string]any{
			event("1", "subject", "s", "expectedversion", 0),
			event("2", "subject", "s", "expectedversion", 1),
			event("3", "subject", "s", "expectedversion", 1),
		}
		p := requireProblem(t, c.post("?atomic=true", ctBatch, mustJSON(t, evs)), http.StatusConflict)
		require.Equal(t, int64(2), num(t, p, "index"))
		_, ver := c.stream("s", "")
		require.Zero(t, ver)
	})

	t.Run("re-sent whole is all duplicates", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := []map[string]any{event("1", "subject", "s"), event("2", "subject", "s"), event("3")}
		first := c.appendBatchOK("?atomic=true", evs)
		// A stale expected version in the re-sent batch does not matter.
		evs[0]["expectedversion"] = 0
		again := c.appendBatchOK("?atomic=true", evs)
		require.Len(t, again, 3)
		for i := range first {
			require.Equal(t, first[i]["position"], again[i]["position"])
			require.Equal(t, first[i]["stream"], again[i]["stream"])
			require.Equal(t, first[i]["version"], again[i]["version"])
			require.Equal(t, true, again[i]["duplicate"])
		}
		_, ver := c.stream("s", "")
		require.Equal(t, int64(2), ver)
	})

	t.Run("partly stored is 409", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		c.appendOK(event("2", "subject", "s"))
		evs := []map[string]any{event("1", "subject", "s"), event("2", "subject", "s"), event("3")}
		requireProblem(t, c.post("?atomic=true", ctBatch, mustJSON(t, evs)), http.StatusConflict)
		all, _ := c.list("")
		require.Equal(t, []string{"2"}, ids(t, all))
	})

	t.Run("same event twice in one batch", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := []map[string]any{event("1", "subject", "s"), event("1", "subject", "s", "data", 2)}
		res := c.appendBatchOK("?atomic=true", evs)
		p := requireResult(t, res[0], "s", 1, false)
		require.Equal(t, p, requireResult(t, res[1], "s", 1, true))
	})

	t.Run("atomic must be a boolean", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		requireProblem(t, c.post("?atomic=yes", ctBatch, mustJSON(t, []any{event("1")})), http.StatusBadRequest)
		all, _ := c.list("")
		require.Empty(t, all)
	})
}

// TestDedupe: (namespace, source, id) is stored once.
func TestDedupe(t *testing.T) {
	t.Parallel()
	srv := newClient(t)

	t.Run("re-send answers the original", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		orig := c.appendOK(event("x", "subject", "s", "data", 1))
		c.appendOK(event("y", "subject", "s"))
		for i, ev := range []map[string]any{
			event("x", "subject", "s", "data", 1),                       // identical
			event("x", "subject", "s", "data", 2, "type", "other.type"), // different data and type
			event("x", "subject", "s", "expectedversion", 0),            // stale expected version
			event("x", "subject", "s", "expectedversion", 99),           // impossible expected version
			event("x", "subject", "elsewhere"),                          // another stream
			event("x"),                                                  // no stream
		} {
			m := c.appendOK(ev)
			require.Equal(t, orig["position"], m["position"], "case %d", i)
			requireResult(t, m, "s", 1, true)
		}
		// In binary mode too.
		r := c.post("", "text/plain", []byte("z"), "ce-specversion", "1.0", "ce-id", "x", "ce-source", "/test", "ce-type", "t", "ce-subject", "s", "ce-expectedversion", "7")
		m := okJSON(t, r)
		require.Equal(t, orig["position"], m["position"])
		requireResult(t, m, "s", 1, true)
		recs, ver := c.stream("s", "")
		require.Equal(t, int64(2), ver)
		require.Equal(t, []string{"x", "y"}, ids(t, recs))
		require.JSONEq(t, `1`, string(mustJSON(t, recs[0].attrs(t)["data"])), "the stored event is unchanged")
		_, ver = c.stream("elsewhere", "")
		require.Zero(t, ver)
	})

	t.Run("source is part of the identity", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		requireResult(t, c.appendOK(event("x", "source", "/a")), "", 0, false)
		requireResult(t, c.appendOK(event("x", "source", "/b")), "", 0, false)
		// (source, id) must not be confused by concatenation.
		requireResult(t, c.appendOK(event("bc", "source", "/a")), "", 0, false)
		requireResult(t, c.appendOK(event("c", "source", "/ab")), "", 0, false)
	})

	t.Run("within one batch", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		res := c.appendBatchOK("", []map[string]any{
			event("1", "subject", "s"),
			event("2", "subject", "s"),
			event("1", "subject", "s", "data", "different"),
			event("1", "subject", "s", "expectedversion", 0),
		})
		p := requireResult(t, res[0], "s", 1, false)
		requireResult(t, res[1], "s", 2, false)
		require.Equal(t, p, requireResult(t, res[2], "s", 1, true))
		require.Equal(t, p, requireResult(t, res[3], "s", 1, true))
		_, ver := c.stream("s", "")
		require.Equal(t, int64(2), ver)
	})

	t.Run("a batch re-sent", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := []map[string]any{event("1", "subject", "s"), event("2"), event("3", "subject", "s")}
		first := c.appendBatchOK("", evs)
		again := c.appendBatchOK("", evs)
		for i := range first {
			require.Equal(t, first[i]["position"], again[i]["position"])
			require.Equal(t, false, first[i]["duplicate"])
			require.Equal(t, true, again[i]["duplicate"])
		}
	})

	t.Run("namespaces are separate", func(t *testing.T) {
		t.Parallel()
		a, b := srv.in(t), srv.in(t)
		pa := requireResult(t, a.appendOK(event("x", "subject", "s")), "s", 1, false)
		pb := requireResult(t, b.appendOK(event("x", "subject", "s")), "s", 1, false)
		require.NotEqual(t, pa, pb)
		requireResult(t, a.appendOK(event("x", "subject", "s")), "s", 1, true)
		requireResult(t, b.appendOK(event("x", "subject", "s")), "s", 1, true)
	})

	t.Run("syntax is checked first", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		c.appendOK(event("x", "subject", "s"))
		for _, ev := range []map[string]any{
			event("x", "subject", "s", "type", nil),
			event("x", "subject", "s", "type", "ensue.x"),
			event("x", "subject", "s", "time", "never"),
			event("x", "expectedversion", 1),
			event("x", "subject", "s", "Bad", "v"),
		} {
			requireProblem(t, c.post("", ctStructured, mustJSON(t, ev)), http.StatusBadRequest)
		}
		res := results(t, okJSON(t, c.post("", ctBatch, mustJSON(t, []any{event("x", "type", nil)}))))
		checkProblem(t, res[0], http.StatusBadRequest, "/type")
	})

	t.Run("concurrent re-sends store once", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		const n = 30
		got := make([]map[string]any, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := c.post("", ctStructured, mustJSON(t, event("same", "subject", "s")))
				if r.Status == http.StatusOK {
					got[i] = decodeJSON(t, r.Body)
				}
			})
		}
		wg.Wait()
		fresh := 0
		for i, m := range got {
			require.NotNil(t, m, "request %d failed", i)
			require.Equal(t, got[0]["position"], m["position"])
			if m["duplicate"] == false {
				fresh++
			}
		}
		require.Equal(t, 1, fresh)
		_, ver := c.stream("s", "")
		require.Equal(t, int64(1), ver)
	})
}

// TestOptimisticConcurrency: expected versions, and many writers racing
// for one version.
func TestOptimisticConcurrency(t *testing.T) {
	t.Parallel()
	srv := newClient(t)

	t.Run("expectations", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		requireResult(t, c.appendOK(event("1", "subject", "s", "expectedversion", 0)), "s", 1, false)
		p := requireProblem(t, c.post("", ctStructured, mustJSON(t, event("2", "subject", "s", "expectedversion", 0))), http.StatusConflict, "/expectedversion")
		require.Equal(t, int64(1), num(t, p, "currentVersion"))
		p = requireProblem(t, c.post("", ctStructured, mustJSON(t, event("2", "subject", "s", "expectedversion", 2))), http.StatusConflict, "/expectedversion")
		require.Equal(t, int64(1), num(t, p, "currentVersion"))
		requireResult(t, c.appendOK(event("2", "subject", "s", "expectedversion", 1)), "s", 2, false)
		requireResult(t, c.appendOK(event("3", "subject", "s")), "s", 3, false)
		// A 409 did not store: the id is still free.
		requireProblem(t, c.post("", ctStructured, mustJSON(t, event("4", "subject", "s", "expectedversion", 0))), http.StatusConflict)
		requireResult(t, c.appendOK(event("4", "subject", "s", "expectedversion", 3)), "s", 4, false)
		// Binary mode states it as a decimal string.
		r := c.post("", "text/plain", []byte("x"), "ce-specversion", "1.0", "ce-id", "5", "ce-source", "/test", "ce-type", "t", "ce-subject", "s", "ce-expectedversion", "3")
		p = requireProblem(t, r, http.StatusConflict)
		require.Equal(t, int64(4), num(t, p, "currentVersion"))
		r = c.post("", "text/plain", []byte("x"), "ce-specversion", "1.0", "ce-id", "5", "ce-source", "/test", "ce-type", "t", "ce-subject", "s", "ce-expectedversion", "4")
		requireResult(t, okJSON(t, r), "s", 5, false)
		// Streams of other namespaces and names are not involved.
		requireResult(t, c.appendOK(event("o", "subject", "s2", "expectedversion", 0)), "s2", 1, false)
		requireResult(t, srv.in(t).appendOK(event("o", "subject", "s", "expectedversion", 0)), "s", 1, false)
	})

	t.Run("racing writers", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		const writers, rounds = 50, 5
		for round := range rounds {
			statuses := make([]int, writers)
			bodies := make([]*response, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					ev := event(fmt.Sprintf("r%d-w%d", round, w), "subject", "contended", "expectedversion", round)
					body := mustJSON(t, ev)
					<-start
					r := c.post("", ctStructured, body)
					statuses[w], bodies[w] = r.Status, r
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for w, st := range statuses {
				switch st {
				case http.StatusOK:
					wins++
					requireResult(t, okJSON(t, bodies[w]), "contended", int64(round+1), false)
				case http.StatusConflict:
					p := requireProblem(t, bodies[w], http.StatusConflict)
					require.GreaterOrEqual(t, num(t, p, "currentVersion"), int64(round+1))
				default:
					require.FailNow(t, "unexpected answer", "%s", bodies[w])
				}
			}
			require.Equal(t, 1, wins, "round %d", round)
		}
		recs, ver := c.stream("contended", "")
		require.Equal(t, int64(rounds), ver)
		require.Equal(t, []int64{1, 2, 3, 4, 5}, versions(recs))
		for i, r := range recs {
			require.Regexp(t, "^r"+strconv.Itoa(i)+"-w", r.id(t))
		}
	})

	t.Run("racing writers without expectations get dense versions", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		const writers = 40
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				r := c.post("", ctStructured, mustJSON(t, event(fmt.Sprint("w", w), "subject", "free")))
				require.Equal(t, http.StatusOK, r.Status, "%s", r)
			})
		}
		wg.Wait()
		recs, ver := c.stream("free", "limit=1000")
		require.Equal(t, int64(writers), ver)
		for i, r := range recs {
			require.Equal(t, int64(i+1), *r.Version)
			if i > 0 {
				require.Greater(t, r.Position, recs[i-1].Position)
			}
		}
	})
}

// TestRestart: what was acknowledged is readable after a restart on the
// same data, and a re-send is still a duplicate.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := servertest.StartWith(t, servertest.Options{Config: server.Config{DataDir: dir}})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c := (&client{base: first.URL, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}).in(t)
	single := c.appendOK(event("one", "subject", "s"))
	batch := c.appendBatchOK("", []map[string]any{event("two", "subject", "s"), event("three", "correlationid", "one")})
	atomic := c.appendBatchOK("?atomic=true", []map[string]any{event("four", "subject", "s", "expectedversion", 2)})
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, first.Server.Stop(ctx))

	second := servertest.StartWith(t, servertest.Options{Config: server.Config{DataDir: dir}})
	c.base = second.URL
	for _, want := range []map[string]any{single, batch[0], batch[1], atomic[0]} {
		rec := c.getRecord(num(t, want, "position"))
		require.Equal(t, num(t, want, "position"), rec.Position)
	}
	got := c.appendOK(event("one", "subject", "s", "expectedversion", 0))
	require.Equal(t, single["position"], got["position"])
	requireResult(t, got, "s", 1, true)
	res := c.appendBatchOK("?atomic=true", []map[string]any{event("two", "subject", "s"), event("three")})
	require.Equal(t, batch[0]["position"], res[0]["position"])
	require.Equal(t, true, res[1]["duplicate"])
	requireResult(t, c.appendOK(event("five", "subject", "s", "expectedversion", 3)), "s", 4, false)
	recs, ver := c.stream("s", "")
	require.Equal(t, int64(4), ver)
	require.Equal(t, []string{"one", "two", "four", "five"}, ids(t, recs))
	r := c.get("/v1/events/lookup?source=/test&id=three")
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
	eventually(t, 5*time.Second, func() bool {
		recs, _ := decodeRecords(t, c.get("/v1/correlations/one"))
		return len(recs) == 2
	}, "correlation after restart")
}
