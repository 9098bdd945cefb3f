package api_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// requireHealthy asserts that the server still serves and still reaches
// its log: an append succeeds, is readable, and /readyz is 200.
func requireHealthy(t testing.TB, c *client) {
	t.Helper()
	id := newNS()
	pos := requireResult(t, c.appendOK(event(id, "subject", id)), id, 1, false)
	require.Equal(t, id, c.getRecord(pos).id(t))
	r := c.get("/readyz")
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
}

// TestHostileInput: nothing a client sends crashes the server or breaks
// its connection to the log.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	deep := func(n int, open, close string) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	valid := `"specversion":"1.0","id":"x","source":"/s","type":"t"`
	tests := []struct {
		name   string
		ct     string
		body   string
		hdr    []string
		query  string
		status int // 0: any answer but 5xx
	}{
		{name: "invalid UTF-8 in structured body", ct: ctStructured, body: `{` + valid + `,"subject":"a` + "\xff\xfe" + `"}`, status: 400},
		{name: "invalid UTF-8 in data", ct: ctStructured, body: `{` + valid + `,"data":"` + "\xc3\x28" + `"}`, status: 400},
		{name: "invalid UTF-8 in a member name", ct: ctStructured, body: `{` + valid + `,"` + "\xff" + `":1}`, status: 400},
		{name: "invalid UTF-8 in batch", ct: ctBatch, body: `[{` + valid + `,"data":"` + "\xed\xa0\x80" + `"}]`, status: 400},
		{name: "unpaired surrogate escape", ct: ctStructured, body: `{` + valid + `,"data":"\ud800"}`, status: 400},
		{name: "invalid UTF-8 in ce-* headers", ct: "text/plain", body: "x", hdr: []string{"ce-specversion", "1.0", "ce-id", "x\xff", "ce-source", "/s\xc3", "ce-type", "t", "ce-subject", "\xfe"}, status: 400},
		{name: "invalid UTF-8 percent-encoded in ce-* header", ct: "text/plain", body: "x", hdr: []string{"ce-specversion", "1.0", "ce-id", "%FF%FE", "ce-source", "/s", "ce-type", "t"}, status: 400},
		{name: "invalid UTF-8 in binary JSON body", ct: "application/json", body: "\"\xff\"", hdr: []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, status: 400},
		{name: "invalid UTF-8 in binary text body is kept as bytes", ct: "text/plain", body: "\xff\xfe", hdr: []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, status: 200},
		{name: "100k-deep objects", ct: ctStructured, body: deep(100_000, `{"a":`, `}`), status: 400},
		{name: "100k-deep arrays in data", ct: ctStructured, body: `{` + valid + `,"data":` + deep(100_000, `[`, `]`) + `}`, status: 400},
		{name: "100k-deep batch", ct: ctBatch, body: deep(100_000, `[`, `]`), status: 400},
		{name: "100k-deep by shape", ct: ctJSON, body: deep(100_000, `[`, `]`), status: 400},
		{name: "100k-deep binary JSON body", ct: "application/json", body: deep(100_000, `[`, `]`), hdr: []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, status: 400},
		{name: "100k-deep unclosed", ct: ctStructured, body: strings.Repeat(`[`, 100_000), status: 400},
		{name: "nul bytes structured", ct: ctStructured, body: strings.Repeat("\x00", 4096), status: 400},
		{name: "nul bytes batch", ct: ctBatch, body: strings.Repeat("\x00", 4096), status: 400},
		{name: "nul bytes by shape", ct: ctJSON, body: strings.Repeat("\x00", 4096), status: 400},
		{name: "nul bytes binary JSON", ct: "application/json", body: "\x00\x00", hdr: []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, status: 400},
		{name: "nul bytes binary octets are data", ct: "application/octet-stream", body: "\x00\x00", hdr: []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}, status: 200},
		{name: "nul inside strings", ct: ctStructured, body: `{` + valid + `,"subject":"a` + "\x00" + `b"}`, status: 400},
		{name: "escaped nul is text", ct: ctStructured, body: `{` + valid + `,"subject":"a\u0000b"}`, status: 200},
		{name: "truncated JSON", ct: ctStructured, body: `{` + valid + `,"data":{"a":[1,2`, status: 400},
		{name: "truncated string", ct: ctStructured, body: `{"specversion":"1.`, status: 400},
		{name: "truncated batch", ct: ctBatch, body: `[{` + valid + `},{`, status: 400},
		{name: "truncated escape", ct: ctStructured, body: `{"id":"\u12`, status: 400},
		{name: "huge number in data", ct: ctStructured, body: `{` + valid + `,"data":1e999999999}`, status: 200},
		{name: "huge integer in data", ct: ctStructured, body: `{` + valid + `,"data":` + strings.Repeat("9", 100_000) + `}`, status: 200},
		{name: "huge number as extension", ct: ctStructured, body: `{` + valid + `,"big":-1e400}`, status: 200},
		{name: "huge integer as sequence", ct: ctStructured, body: `{` + valid + `,"sequence":123456789012345678901234567890}`, status: 200},
		{name: "huge expected version", ct: ctStructured, body: `{` + valid + `,"subject":"s","expectedversion":1e400}`, status: 400},
		{name: "NaN and Infinity", ct: ctStructured, body: `{` + valid + `,"data":[NaN,Infinity]}`, status: 400},
		{name: "duplicate keys", ct: ctStructured, body: `{` + valid + `,"type":"u"}`, status: 400},
		{name: "duplicate extension keys", ct: ctStructured, body: `{` + valid + `,"e":1,"e":2}`, status: 400},
		{name: "duplicate keys in data are data", ct: ctStructured, body: `{` + valid + `,"data":{"a":1,"a":2}}`, status: 200},
		{name: "10,000-element batch", ct: ctBatch, body: "[" + strings.Repeat(`{`+valid+`},`, 9999) + `{` + valid + `}]`, status: 400},
		{name: "10,000 members", ct: ctStructured, body: `{` + valid + strings.Repeat(`,"x":1`, 10_000) + `}`, status: 400},
		{name: "10,000 bad member names", ct: ctStructured, body: `{` + valid + func() string {
			var b strings.Builder
			for i := range 10_000 {
				fmt.Fprintf(&b, `,"X%d":1`, i)
			}
			return b.String()
		}() + `}`, status: 400},
		{name: "batch of non-objects", ct: ctBatch, body: "[" + strings.Repeat(`1,"x",null,[],`, 200) + `true]`, status: 200},
		{name: "many ce-* headers", ct: "text/plain", body: "x", hdr: func() []string {
			h := []string{"ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t"}
			for i := range 2000 {
				h = append(h, fmt.Sprintf("ce-x%d", i), "v")
			}
			return h
		}(), status: 0},
		{name: "control characters in headers' values", ct: "text/plain", body: "x", hdr: []string{"ce-specversion", "1.0", "ce-id", "x%00%0A", "ce-source", "/s", "ce-type", "t"}, status: 200},
		{name: "atomic with garbage", ct: ctBatch, query: "?atomic=true", body: `[` + strings.Repeat("\x00", 100) + `]`, status: 400},
		{name: "query with invalid UTF-8", ct: ctStructured, query: "?atomic=%FF", body: `{` + valid + `}`, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			r := c.post(tc.query, tc.ct, []byte(tc.body), tc.hdr...)
			switch tc.status {
			case 0:
				require.Less(t, r.Status, 500, "%s", r)
			case http.StatusOK:
				okJSON(t, r)
			default:
				requireProblem(t, r, tc.status)
			}
			requireHealthy(t, c)
		})
	}

	t.Run("huge numbers round-trip verbatim", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		body := `{` + valid + `,"big":-1e400,"sequence":123456789012345678901234567890,"data":[1e999999999,0.1000000000000000000000000001]}`
		pos := requireResult(t, okJSON(t, c.post("", ctStructured, []byte(body))), "", 0, false)
		rec := c.getRecord(pos)
		require.Contains(t, string(rec.Event), `"big":-1e400`)
		require.Contains(t, string(rec.Event), `"sequence":123456789012345678901234567890`)
		require.Contains(t, string(rec.Event), `"data":[1e999999999,0.1000000000000000000000000001]`)
	})

	t.Run("2 MB header", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		req, err := http.NewRequest(http.MethodPost, c.base+"/v1/events", strings.NewReader(`{`+valid+`}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ctStructured)
		req.Header.Set("ce-x", strings.Repeat("a", 2<<20))
		resp, err := c.hc.Do(req)
		if err == nil {
			resp.Body.Close()
			require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
		} else {
			// The server may close the connection before the client has
			// sent the whole header, and the client may see that first.
			require.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || isNetErr(err), "%v", err)
		}
		requireHealthy(t, c)
	})

	t.Run("stalled body", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		conn := stalledUpload(t, c)
		// The server waits for the rest, and meanwhile serves others.
		requireHealthy(t, c)
		// Not for ever: a client silent in the middle of a body is
		// answered 408, and nothing is stored.
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
		require.Equal(t, ctProblem, resp.Header.Get("Content-Type"))
		requireProblem(t, c.get("/v1/events/lookup?source=/s&id=stalled"), http.StatusNotFound)
	})

	t.Run("bodies on reads are ignored", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		r := c.do(http.MethodGet, "/v1/events", bytes.NewReader(bytes.Repeat([]byte{0}, 1<<20)))
		require.Equal(t, http.StatusOK, r.Status, "%s", r)
		requireHealthy(t, c)
	})

	t.Run("hostile query parameters", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		for _, path := range []string{
			"/v1/events?type=%FF&source=%00&subject=%FE",
			"/v1/events?correlationid=%FF%00",
			"/v1/events?type=" + strings.Repeat("*", 10_000),
			"/v1/events?since=" + url.QueryEscape("9999-12-31T23:59:59Z") + "&until=" + url.QueryEscape("0001-01-01T00:00:00Z"),
			"/v1/events/lookup?source=%FF&id=%00",
			"/v1/events/lookup?source=" + strings.Repeat("s", 100_000) + "&id=x",
			"/v1/streams/%FF%FE",
			"/v1/streams/%00",
			"/v1/correlations/%FF",
			"/v1/correlations/" + strings.Repeat("c", 100_000),
			"/v1/events/" + strings.Repeat("9", 10_000),
		} {
			r := c.get(path)
			require.Less(t, r.Status, 500, "%s: %s", path, r)
		}
		requireHealthy(t, c)
	})
}

// stalledUpload starts an append whose body stops half way.
func stalledUpload(t *testing.T, c *client) net.Conn {
	t.Helper()
	u, err := url.Parse(c.base)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	_, err = fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nEnsue-Namespace: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n{\"id\":\"stalled\",", c.ns, ctStructured)
	require.NoError(t, err)
	return conn
}

// TestStalledUploadGracefulStop: an upload stalled half way does not hold
// up a graceful stop for longer than the body idle timeout.
func TestStalledUploadGracefulStop(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c := (&client{base: srv.URL, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}).in(t)
	stalledUpload(t, c)
	requireHealthy(t, c)
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, srv.Server.Stop(ctx))
	require.Less(t, time.Since(start), 15*time.Second)
}

// escapeAll percent-encodes every byte of s.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func isNetErr(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

// TestStreamNames: names with NATS-special characters and characters that
// need percent-encoding round-trip exactly through stream reads.
func TestStreamNames(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	names := []string{
		"a.b", "a..b", ".", "..", ".a", "a.", "*", ">", "a.*", "a.>", "a b", " ", "  leading", "tab\there",
		"ünïcødé", "日本語", "emoji 🎉", "a/b", "a//b", "/", "//", "a/./b", "a/../b", "a/", "/a", "%", "%2F", "a%20b",
		"?", "a?b=c", "#frag", "a&b", "+", "~", "~41", "_", "s", "$JS.API", "\\", `"quoted"`, "a\nb", "\u0000nul",
		"ENSUE", "a:b", "a;b", "a,b", "a=b", "[x]", "{x}", "<x>", "'", "`", "|", "^", "@", "!",
		strings.Repeat("é", 256),  // 512 bytes, all to be escaped in a NATS token
		strings.Repeat("a.", 256), // 512 bytes of tokens
	}
	for _, name := range names {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			requireResult(t, c.appendOK(event("1", "subject", name)), name, 1, false)
			p2 := requireResult(t, c.appendOK(event("2", "subject", name, "expectedversion", 1)), name, 2, false)
			// A stream whose name differs a little is another stream.
			sibling := name + "x"
			if len(name) > 510 {
				sibling = name[:len(name)-2] + "xy"
			}
			requireResult(t, c.appendOK(event("3", "subject", sibling)), sibling, 1, false)

			recs, ver := c.stream(name, "")
			require.Equal(t, int64(2), ver)
			require.Equal(t, []string{"1", "2"}, ids(t, recs))
			for _, r := range recs {
				require.Equal(t, name, *r.Stream)
				require.Equal(t, name, r.attrs(t)["subject"])
			}
			recs, _ = c.stream(name, "direction=backward")
			require.Equal(t, []string{"2", "1"}, ids(t, recs))
			rec := c.getRecord(p2)
			require.Equal(t, name, *rec.Stream)
			all, _ := c.list("subject=" + url.QueryEscape(name))
			require.Equal(t, []string{"1", "2"}, ids(t, all))
			// Every escape of the same name reaches the same stream.
			r := c.get("/v1/streams/" + escapeAll(name))
			recs, _ = decodeRecords(t, r)
			require.Equal(t, []string{"1", "2"}, ids(t, recs))
		})
	}
}

// TestHealth: /healthz and /readyz.
func TestHealth(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := c.get(path)
		require.Equal(t, http.StatusOK, r.Status, "%s", r)
		require.Equal(t, ctJSON, r.CT())
	}
	// Unknown routes and methods are problems too.
	requireProblem(t, c.get("/v1/nothing"), http.StatusNotFound)
	requireProblem(t, c.do(http.MethodDelete, "/v1/nothing", nil), http.StatusNotFound)
	for path, allow := range map[string]string{
		"/v1/events":         "GET, POST",
		"/v1/events/1":       "GET",
		"/v1/events/lookup":  "GET",
		"/v1/streams/s":      "GET",
		"/v1/correlations/x": "GET",
		"/v1/subscribe":      "GET",
		"/healthz":           "GET",
	} {
		r := c.do(http.MethodDelete, path, nil)
		requireProblem(t, r, http.StatusMethodNotAllowed)
		require.Equal(t, allow, r.Header.Get("Allow"), path)
	}
	r := c.do(http.MethodPut, "/v1/events", strings.NewReader("{}"), "Content-Type", ctStructured)
	requireProblem(t, r, http.StatusMethodNotAllowed)
}
