package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIngestValidation: every invalid event is a 400 (or 413) problem whose
// errors name each problem by JSON pointer, all at once; nothing is stored.
func TestIngestValidation(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name     string
		body     string
		status   int
		pointers []string
		exact    bool // the errors name exactly these pointers
	}{
		{"empty object", `{}`, 400, []string{"/specversion", "/id", "/source", "/type"}, true},
		{"missing id", `{"specversion":"1.0","source":"/s","type":"t"}`, 400, []string{"/id"}, true},
		{"missing source", `{"specversion":"1.0","id":"x","type":"t"}`, 400, []string{"/source"}, true},
		{"missing type", `{"specversion":"1.0","id":"x","source":"/s"}`, 400, []string{"/type"}, true},
		{"missing specversion", `{"id":"x","source":"/s","type":"t"}`, 400, []string{"/specversion"}, true},
		{"specversion 0.3", `{"specversion":"0.3","id":"x","source":"/s","type":"t"}`, 400, []string{"/specversion"}, true},
		{"specversion as number", `{"specversion":1.0,"id":"x","source":"/s","type":"t"}`, 400, []string{"/specversion"}, true},
		{"empty id", `{"specversion":"1.0","id":"","source":"/s","type":"t"}`, 400, []string{"/id"}, true},
		{"null id", `{"specversion":"1.0","id":null,"source":"/s","type":"t"}`, 400, []string{"/id"}, true},
		{"id is a number", `{"specversion":"1.0","id":5,"source":"/s","type":"t"}`, 400, []string{"/id"}, true},
		{"several at once", `{"specversion":"1.0","id":5,"type":"ensue.x","time":"yesterday","Bad_Ext":1,"expectedversion":2}`, 400,
			[]string{"/id", "/source", "/type", "/time", "/Bad_Ext", "/expectedversion"}, true},
		{"id of 1024 bytes is fine", fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":%q,"type":%q,"subject":%q}`, long(1024), long(1024), long(1024), long(512)), 200, nil, false},
		{"id over 1024 bytes", fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/s","type":"t"}`, long(1025)), 400, []string{"/id"}, true},
		{"source over 1024 bytes", fmt.Sprintf(`{"specversion":"1.0","id":"x","source":%q,"type":"t"}`, long(1025)), 400, []string{"/source"}, true},
		{"type over 1024 bytes", fmt.Sprintf(`{"specversion":"1.0","id":"x","source":"/s","type":%q}`, long(1025)), 400, []string{"/type"}, true},
		{"subject over 512 bytes", fmt.Sprintf(`{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":%q}`, long(513)), 400, []string{"/subject"}, true},
		{"multibyte subject over 512 bytes", fmt.Sprintf(`{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":%q}`, strings.Repeat("é", 257)), 400, []string{"/subject"}, true},
		{"all four too long", fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":%q,"type":%q,"subject":%q}`, long(1025), long(1025), long(1025), long(513)), 400, []string{"/id", "/source", "/type", "/subject"}, true},
		{"empty subject", `{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":""}`, 400, []string{"/subject"}, true},
		{"reserved type", `{"specversion":"1.0","id":"x","source":"/s","type":"ensue.flow.started"}`, 400, []string{"/type"}, true},
		{"reserved type exactly", `{"specversion":"1.0","id":"x","source":"/s","type":"ensue."}`, 400, []string{"/type"}, true},
		{"ensue without dot is a client type", `{"specversion":"1.0","id":"x","source":"/s","type":"ensuex"}`, 200, nil, false},
		{"expectedversion without subject", `{"specversion":"1.0","id":"x","source":"/s","type":"t","expectedversion":0}`, 400, []string{"/expectedversion"}, true},
		{"expectedversion as string", `{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":"s","expectedversion":"1"}`, 400, []string{"/expectedversion"}, true},
		{"expectedversion negative", `{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":"s","expectedversion":-1}`, 400, []string{"/expectedversion"}, true},
		{"expectedversion fractional", `{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":"s","expectedversion":1.5}`, 400, []string{"/expectedversion"}, true},
		{"expectedversion huge", `{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":"s","expectedversion":99999999999999999999999}`, 400, []string{"/expectedversion"}, true},
		{"bad time", `{"specversion":"1.0","id":"x","source":"/s","type":"t","time":"2024-13-01T00:00:00Z"}`, 400, []string{"/time"}, true},
		{"time without zone", `{"specversion":"1.0","id":"x","source":"/s","type":"t","time":"2024-05-01T12:00:00"}`, 400, []string{"/time"}, true},
		{"time as a date", `{"specversion":"1.0","id":"x","source":"/s","type":"t","time":"2024-05-01"}`, 400, []string{"/time"}, true},
		{"time as a number", `{"specversion":"1.0","id":"x","source":"/s","type":"t","time":1714560000}`, 400, []string{"/time"}, true},
		{"extension with capitals", `{"specversion":"1.0","id":"x","source":"/s","type":"t","myExt":"v"}`, 400, []string{"/myExt"}, true},
		{"extension with underscore", `{"specversion":"1.0","id":"x","source":"/s","type":"t","my_ext":"v"}`, 400, []string{"/my_ext"}, true},
		{"extension with dash", `{"specversion":"1.0","id":"x","source":"/s","type":"t","my-ext":"v"}`, 400, []string{"/my-ext"}, true},
		{"extension name too long", `{"specversion":"1.0","id":"x","source":"/s","type":"t","abcdefghijklmnopqrstu":"v"}`, 400, []string{"/abcdefghijklmnopqrstu"}, true},
		{"extension name with slash", `{"specversion":"1.0","id":"x","source":"/s","type":"t","a/b":"v"}`, 400, []string{"/a~1b"}, true},
		{"empty extension name", `{"specversion":"1.0","id":"x","source":"/s","type":"t","":"v"}`, 400, []string{"/"}, true},
		{"extension is an object", `{"specversion":"1.0","id":"x","source":"/s","type":"t","myext":{"a":1}}`, 400, []string{"/myext"}, true},
		{"data and data_base64", `{"specversion":"1.0","id":"x","source":"/s","type":"t","data":1,"data_base64":"AA=="}`, 400, []string{"/data_base64"}, true},
		{"bad base64", `{"specversion":"1.0","id":"x","source":"/s","type":"t","data_base64":"!!"}`, 400, []string{"/data_base64"}, true},
		{"duplicate member", `{"specversion":"1.0","id":"x","id":"y","source":"/s","type":"t"}`, 400, []string{"/id"}, true},
		{"not an object", `"event"`, 400, nil, false},
		{"an array as structured", `[]`, 400, nil, false},
		{"malformed JSON", `{"specversion":"1.0",`, 400, []string{""}, true},
		{"trailing garbage", `{"specversion":"1.0","id":"x","source":"/s","type":"t"} x`, 400, []string{""}, true},
		{"empty body", ``, 400, []string{""}, true},
		{"event over 1 MiB", bigEvent("x", 1<<20), 413, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			r := c.post("", ctStructured, []byte(tc.body))
			if tc.status == http.StatusOK {
				requireResult(t, okJSON(t, r), tryString(t, tc.body, "subject"), 1, false)
				return
			}
			p := requireProblem(t, r, tc.status, tc.pointers...)
			if tc.exact {
				require.ElementsMatch(t, tc.pointers, uniq(problemPointers(t, p)), "%v", p)
			}
			// Nothing of it was stored in this namespace.
			recs, _ := c.list("")
			require.Empty(t, recs)
		})
	}
}

func tryString(t testing.TB, body, key string) string {
	m := decodeJSON(t, []byte(body))
	s, _ := m[key].(string)
	return s
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// TestIngestBinaryValidation: binary mode's problems name the attributes.
func TestIngestBinaryValidation(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	base := []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}
	tests := []struct {
		name     string
		ct, body string
		hdr      []string
		status   int
		pointers []string
	}{
		{"missing id, source, type", "text/plain", "x", []string{"ce-specversion", "1.0"}, 400, []string{"/id", "/source", "/type"}},
		{"bad specversion", "text/plain", "x", []string{"ce-specversion", "2.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, 400, []string{"/specversion"}},
		{"empty specversion", "text/plain", "x", []string{"ce-specversion", "", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, 400, []string{"/specversion"}},
		{"empty specversion without Content-Type", "", "x", []string{"ce-specversion", ""}, 400, []string{"/specversion", "/id", "/source", "/type"}},
		{"expectedversion not decimal", "text/plain", "x", append(base, "ce-subject", "s", "ce-expectedversion", "one"), 400, []string{"/expectedversion"}},
		{"expectedversion with sign", "text/plain", "x", append(base, "ce-subject", "s", "ce-expectedversion", "+1"), 400, []string{"/expectedversion"}},
		{"expectedversion without subject", "text/plain", "x", append(base, "ce-expectedversion", "0"), 400, []string{"/expectedversion"}},
		{"bad time", "text/plain", "x", append(base, "ce-time", "now"), 400, []string{"/time"}},
		{"bad extension name", "text/plain", "x", append(base, "ce-my_ext", "v"), 400, []string{"/my_ext"}},
		{"reserved type", "text/plain", "x", []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "ensue.x"}, 400, []string{"/type"}},
		{"id too long", "text/plain", "x", []string{"ce-specversion", "1.0", "ce-id", strings.Repeat("i", 1025), "ce-source", "/s", "ce-type", "t"}, 400, []string{"/id"}},
		{"subject too long", "text/plain", "x", append(base, "ce-subject", strings.Repeat("s", 513)), 400, []string{"/subject"}},
		{"percent-decodes to invalid UTF-8", "text/plain", "x", append(base, "ce-subject", "a%FF"), 400, []string{"/subject"}},
		{"invalid JSON body", "application/json", "{", base, 400, []string{"/data"}},
		{"data in a header", "text/plain", "x", append(base, "ce-data", "x"), 400, []string{"/data"}},
		{"body over 1 MiB", "application/octet-stream", strings.Repeat("b", 800<<10), base, 413, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			requireProblem(t, c.post("", tc.ct, []byte(tc.body), tc.hdr...), tc.status, tc.pointers...)
			recs, _ := c.list("")
			require.Empty(t, recs)
		})
	}
}

// TestIngestLimits: batch and request size limits.
func TestIngestLimits(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	t.Run("batch of 1000 is fine", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := make([]map[string]any, 1000)
		for i := range evs {
			evs[i] = event(fmt.Sprint(i), "subject", fmt.Sprint("s", i%20))
		}
		res := c.appendBatchOK("", evs)
		require.Len(t, res, 1000)
		requireResult(t, res[999], "s19", 50, false)
	})
	t.Run("atomic batch of 1000 is fine", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := make([]map[string]any, 1000)
		for i := range evs {
			evs[i] = event(fmt.Sprint(i), "subject", fmt.Sprint("s", i%7))
		}
		res := c.appendBatchOK("?atomic=true", evs)
		require.Len(t, res, 1000)
	})
	for _, q := range []string{"", "?atomic=true"} {
		t.Run("batch of 1001"+q, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			evs := make([]map[string]any, 1001)
			for i := range evs {
				evs[i] = event(fmt.Sprint(i))
			}
			requireProblem(t, c.post(q, ctBatch, mustJSON(t, evs)), http.StatusBadRequest)
			recs, _ := c.list("")
			require.Empty(t, recs)
		})
	}
	// A batch of two events padded with insignificant whitespace to n
	// bytes, generated as it is sent: megabytes of test data are slow to
	// build under the race detector.
	padded := func(t *testing.T, n int) (io.Reader, int64) {
		head := `[` + string(mustJSON(t, event("1"))) + `,` + string(mustJSON(t, event("2", "subject", "s"))) + "\n"
		return io.MultiReader(strings.NewReader(head), &spaces{n: n - len(head) - 1}, strings.NewReader("]")), int64(n)
	}
	send := func(c *client, body io.Reader, length int64) *response {
		req, err := http.NewRequest(http.MethodPost, c.base+"/v1/events", body)
		require.NoError(c.t, err)
		req.ContentLength = length // -1: unknown, sent chunked
		req.Header.Set("Content-Type", ctBatch)
		req.Header.Set("Ensue-Namespace", c.ns)
		resp, err := c.hc.Do(req)
		require.NoError(c.t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(c.t, err)
		return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	t.Run("request over 16 MiB", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		body, n := padded(t, 16<<20+1)
		requireProblem(t, send(c, body, n), http.StatusRequestEntityTooLarge)
		recs, _ := c.list("")
		require.Empty(t, recs)
	})
	t.Run("chunked request over 16 MiB", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		body, _ := padded(t, 16<<20+1)
		requireProblem(t, send(c, body, -1), http.StatusRequestEntityTooLarge)
		recs, _ := c.list("")
		require.Empty(t, recs)
	})
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("request of 16 MiB is read/chunked=%v", chunked), func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			body, n := padded(t, 16<<20)
			if chunked {
				n = -1
			}
			res := results(t, okJSON(t, send(c, body, n)))
			require.Len(t, res, 2)
			requireResult(t, res[0], "", 0, false)
			requireResult(t, res[1], "s", 1, false)
		})
	}
	t.Run("17 events of 1000 KiB", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		evs := make([]string, 17)
		for i := range evs {
			evs[i] = bigEvent(fmt.Sprint(i), 1000<<10)
		}
		// Each event is fine, the request is not.
		requireProblem(t, c.post("", ctBatch, []byte("["+strings.Join(evs, ",")+"]")), http.StatusRequestEntityTooLarge)
		recs, _ := c.list("")
		require.Empty(t, recs)
	})
	t.Run("event over 1 MiB in an atomic batch", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		body := "[" + string(mustJSON(t, event("a"))) + "," + bigEvent("b", 1<<20) + "]"
		p := requireProblem(t, c.post("?atomic=true", ctBatch, []byte(body)), http.StatusRequestEntityTooLarge)
		require.Equal(t, int64(1), num(t, p, "index"))
		recs, _ := c.list("")
		require.Empty(t, recs)
	})
}

// TestIngestUnknownExtensionsKept: extensions Ensue does not know are
// stored verbatim, with their JSON types.
func TestIngestUnknownExtensionsKept(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	body := `{"specversion":"1.0","id":"x","source":"/s","type":"t","subject":"s","myext":"v é \"q\"","count":12345678901234567890,"ratio":1.5e3,"flag":true,"off":false,"nothing":null,"correlationid":"c","causationid":"k","sequence":"0007","partitionkey":"p","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"a=b","dataschema":"https://x/s.json","expectedversion":0,"data":{"z":[1,{"y":null}],"a":"\u00e9\n"}}`
	pos := requireResult(t, okJSON(t, c.post("", ctStructured, []byte(body))), "s", 1, false)
	ev := c.getRecord(pos).attrs(t)
	want := decodeJSON(t, []byte(body))
	delete(want, "expectedversion")
	delete(want, "nothing")
	require.Equal(t, want, ev)
	// Numbers are kept as they were written.
	rec := c.getRecord(pos)
	require.Contains(t, string(rec.Event), `"count":12345678901234567890`)
	require.Contains(t, string(rec.Event), `"ratio":1.5e3`)

	// Binary mode keeps them too, as strings.
	r := c.post("", "text/plain", []byte("x"), "ce-specversion", "1.0", "ce-id", "y", "ce-source", "/s", "ce-type", "t", "ce-myext", "v%20%C3%A9", "ce-other", "1")
	ev = c.getRecord(requireResult(t, okJSON(t, r), "", 0, false)).attrs(t)
	require.Equal(t, "v é", ev["myext"])
	require.Equal(t, "1", ev["other"])
}

var spaceBlock = bytes.Repeat([]byte{' '}, 64<<10)

// spaces reads n spaces.
type spaces struct{ n int }

func (s *spaces) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), s.n)], spaceBlock)
	s.n -= k
	return k, nil
}
