package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func (c *client) put(path string, body string) *response {
	c.t.Helper()
	return c.do(http.MethodPut, path, strings.NewReader(body), "Content-Type", ctJSON)
}

func snapshotPath(stream string) string { return "/v1/streams/" + url.PathEscape(stream) + "/snapshot" }

// TestSnapshots: a snapshot is stored with the version it folds up to,
// which must exist; the newest version wins; any stream name works.
func TestSnapshots(t *testing.T) {
	t.Parallel()
	srv := newClient(t)

	t.Run("lifecycle", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		for i := range 3 {
			c.appendOK(event(fmt.Sprint("e", i), "subject", "acct-1"))
		}
		requireProblem(t, c.get(snapshotPath("acct-1")), http.StatusNotFound)

		m := okJSON(t, c.put(snapshotPath("acct-1"), `{"version": 2, "state": {"balance": 20}}`))
		require.Equal(t, true, m["stored"])
		require.Equal(t, int64(2), num(t, m, "version"))

		got := okJSON(t, c.get(snapshotPath("acct-1")))
		require.Equal(t, "acct-1", got["stream"])
		require.Equal(t, int64(2), num(t, got, "version"))
		require.Equal(t, map[string]any{"balance": json.Number("20")}, got["state"])
		require.NotEmpty(t, got["stored_at"])

		// Equal version replaces; an older one is a no-op that says so.
		okJSON(t, c.put(snapshotPath("acct-1"), `{"version": 3, "state": {"balance": 30}}`))
		m = okJSON(t, c.put(snapshotPath("acct-1"), `{"version": 1, "state": {"balance": 10}}`))
		require.Equal(t, false, m["stored"])
		require.Equal(t, int64(3), num(t, m, "version"))
		m = okJSON(t, c.put(snapshotPath("acct-1"), `{"version": 3, "state": {"balance": 31}}`))
		require.Equal(t, true, m["stored"])
		got = okJSON(t, c.get(snapshotPath("acct-1")))
		require.Equal(t, map[string]any{"balance": json.Number("31")}, got["state"])

		// Another namespace sees nothing.
		requireProblem(t, srv.in(t).get(snapshotPath("acct-1")), http.StatusNotFound)

		r := c.do(http.MethodDelete, snapshotPath("acct-1"), nil)
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r)
		requireProblem(t, c.get(snapshotPath("acct-1")), http.StatusNotFound)
		r = c.do(http.MethodDelete, snapshotPath("acct-1"), nil)
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r)
	})

	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		c.appendOK(event("e", "subject", "s"))
		requireProblem(t, c.put(snapshotPath("s"), `{"version": 2, "state": 1}`), http.StatusConflict, "/version")
		requireProblem(t, c.put(snapshotPath("none"), `{"version": 1, "state": 1}`), http.StatusConflict, "/version")
		requireProblem(t, c.put(snapshotPath("s"), `{"version": 0, "state": 1}`), http.StatusBadRequest, "/version")
		requireProblem(t, c.put(snapshotPath("s"), `{"state": 1}`), http.StatusBadRequest, "/version")
		requireProblem(t, c.put(snapshotPath("s"), `{"version": 1}`), http.StatusBadRequest, "/state")
		requireProblem(t, c.put(snapshotPath("s"), `{"version": 1, "state": 1, "extra": true}`), http.StatusBadRequest)
		requireProblem(t, c.put(snapshotPath("s"), `[`), http.StatusBadRequest)
		big := `{"version": 1, "state": "` + strings.Repeat("x", 1<<20) + `"}`
		requireProblem(t, c.put(snapshotPath("s"), big), http.StatusRequestEntityTooLarge)
		r := c.do(http.MethodPost, snapshotPath("s"), bytes.NewReader(nil))
		requireProblem(t, r, http.StatusMethodNotAllowed)
		require.Equal(t, "GET, PUT, DELETE", r.Header.Get("Allow"))
	})

	t.Run("any stream name", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		for _, name := range []string{"a/b", "..", ".", "/", "snapshot", "x/snapshot", "é ü?#%", strings.Repeat("n", 512)} {
			c.appendOK(event(newNS(), "subject", name))
			okJSON(t, c.put(snapshotPath(name), `{"version": 1, "state": "`+fmt.Sprint(len(name))+`"}`))
		}
		for _, name := range []string{"a/b", "..", ".", "/", "snapshot", "x/snapshot", "é ü?#%", strings.Repeat("n", 512)} {
			got := okJSON(t, c.get(snapshotPath(name)))
			require.Equal(t, name, got["stream"])
			require.Equal(t, fmt.Sprint(len(name)), got["state"])
		}
		// The stream itself still reads at its own route.
		recs, ver := c.stream("x/snapshot", "")
		require.Len(t, recs, 1)
		require.Equal(t, int64(1), ver)
	})

	t.Run("concurrent writers keep the newest", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		const n = 12
		for i := range n {
			c.appendOK(event(fmt.Sprint("e", i), "subject", "s"))
		}
		var wg sync.WaitGroup
		for v := 1; v <= n; v++ {
			wg.Go(func() {
				r := c.put(snapshotPath("s"), fmt.Sprintf(`{"version": %d, "state": %d}`, v, v))
				require.Equal(t, http.StatusOK, r.Status, "%s", r)
			})
		}
		wg.Wait()
		got := okJSON(t, c.get(snapshotPath("s")))
		require.Equal(t, int64(n), num(t, got, "version"))
		require.Equal(t, json.Number(fmt.Sprint(n)), got["state"])
	})
}
