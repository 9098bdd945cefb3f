package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/sdk"
)

// result is what one run of the command line left.
type result struct {
	code           int
	stdout, stderr string
}

// testBundle is a server and a way to run the CLI against it.
type testBundle struct {
	url string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{url: servertest.Start(t).URL}
}

// run runs `ensue args...` against the bundle's server.
func (tb *testBundle) run(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, "", append([]string{"--server", tb.url}, args...)...)
}

// runCLI runs the command line with stdin and no environment.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIWith(context.Background(), stdin, noEnv, args...)
}

func runCLIWith(ctx context.Context, stdin string, env func(string) (string, bool), args ...string) result {
	// Synchronized: `serve` logs from goroutines of its own.
	var out, errb syncBuffer
	code := execute(ctx, args, strings.NewReader(stdin), &out, &errb, env, false)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func noEnv(string) (string, bool) { return "", false }

// jsonLines decodes JSON Lines output into records.
func jsonLines(t *testing.T, s string) []sdk.Record {
	t.Helper()
	var recs []sdk.Record
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var rec sdk.Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "line %q", sc.Text())
		recs = append(recs, rec)
	}
	return recs
}

func TestEmitThenRead(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	r := tb.run(t, "emit", "--type", "order.placed", "--source", "/shop", "--subject", "order-123",
		"--id", "evt-1", "--data", `{"total": 1250}`, "--time", "2026-11-29T10:00:00Z", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var res sdk.AppendResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Equal(t, sdk.AppendResult{ID: "evt-1", Position: res.Position, Stream: "order-123", Version: 1}, res)

	r = tb.run(t, "emit", "--type", "order.item_added", "--source", "/shop", "--subject", "order-123",
		"--correlation-id", "evt-1", "--causation-id", "evt-1", "--ext", "sequence=2", "--ext", `channel="web"`,
		"--data", `{"sku": "B-42"}`)
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, []string{"POSITION", "STREAM", "VERSION", "DUPLICATE", "ID"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"order-123", "2", "false"}, strings.Fields(lines[1])[1:4])

	// The same event again is a duplicate.
	r = tb.run(t, "emit", "--type", "order.placed", "--source", "/shop", "--subject", "order-123", "--id", "evt-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "true")

	r = tb.run(t, "events")
	require.Equal(t, 0, r.code, r.stderr)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, []string{"POSITION", "RECORDED", "STREAM", "VERSION", "TYPE", "SOURCE", "ID"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"order-123", "1", "order.placed", "/shop", "evt-1"}, strings.Fields(lines[1])[2:])

	r = tb.run(t, "events", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	recs := jsonLines(t, r.stdout)
	require.Len(t, recs, 2)
	require.Equal(t, "evt-1", recs[1].Event.CorrelationID())
	require.Equal(t, json.Number("2"), recs[1].Event.Extensions["sequence"])
	require.Equal(t, "web", recs[1].Event.Extensions["channel"])

	r = tb.run(t, "get", fmt.Sprint(res.Position), "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var rec sdk.Record
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	require.Equal(t, "evt-1", rec.Event.ID)
	require.JSONEq(t, `{"total": 1250}`, string(rec.Event.Data))
	require.Equal(t, "2026-11-29T10:00:00Z", rec.Event.Time.Format(time.RFC3339))

	r = tb.run(t, "get", fmt.Sprint(res.Position))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "TYPE       order.placed\n")
	require.Contains(t, r.stdout, "DATA\n{\n  \"total\": 1250\n}\n")

	r = tb.run(t, "lookup", "--source", "/shop", "--id", "evt-1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	require.Equal(t, res.Position, rec.Position)

	r = tb.run(t, "stream", "order-123", "--backward", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	recs = jsonLines(t, r.stdout)
	require.Len(t, recs, 2)
	require.Equal(t, int64(2), recs[0].Version)

	r = tb.run(t, "stream", "order-123", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 2)
	require.Equal(t, "Stream order-123 is at version 2.\n", r.stderr)

	// Correlations come from an index that may lag an append a little.
	waitFor(t, "the correlation", func() bool {
		r = tb.run(t, "correlation", "evt-1", "-o", "json")
		require.Equal(t, 0, r.code, r.stderr)
		recs = jsonLines(t, r.stdout)
		return len(recs) == 2
	})
	require.Equal(t, "evt-1", recs[1].Event.CausationID())
}

func TestEmitData(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	file := filepath.Join(t.TempDir(), "reading.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"celsius": 21.5}`+"\n"), 0o600))

	get := func(t *testing.T, emit result) sdk.Record {
		t.Helper()
		require.Equal(t, 0, emit.code, emit.stderr)
		var res sdk.AppendResult
		require.NoError(t, json.Unmarshal([]byte(emit.stdout), &res))
		r := tb.run(t, "get", fmt.Sprint(res.Position), "-o", "json")
		require.Equal(t, 0, r.code, r.stderr)
		var rec sdk.Record
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
		return rec
	}

	rec := get(t, tb.run(t, "emit", "--type", "reading.taken", "--source", "/sensors", "--data", "@"+file, "-o", "json"))
	require.JSONEq(t, `{"celsius": 21.5}`, string(rec.Event.Data))

	rec = get(t, runCLI(t, `[1, 2, 3]`, "--server", tb.url, "emit", "--type", "list.made", "--source", "/s", "--data", "-", "-o", "json"))
	require.JSONEq(t, `[1, 2, 3]`, string(rec.Event.Data))

	rec = get(t, tb.run(t, "emit", "--type", "note.added", "--source", "/notes", "--content-type", "text/plain", "--data", "hello there", "-o", "json"))
	require.Equal(t, "text/plain", rec.Event.DataContentType)
	var text string
	require.NoError(t, rec.Event.DataAs(&text))
	require.Equal(t, "hello there", text)
}

func TestErrorsFromTheServer(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	// A 400: the server names the faulty attribute.
	r := tb.run(t, "emit", "--type", "ensue.internal", "--source", "/shop")
	require.Equal(t, 1, r.code)
	require.Empty(t, r.stdout)
	require.True(t, strings.HasPrefix(r.stderr, "error: Invalid event"), r.stderr)
	require.Contains(t, r.stderr, "/type")
	require.Contains(t, r.stderr, "(400)")

	// A 409 with the current version and what to do.
	r = tb.run(t, "emit", "--type", "order.placed", "--source", "/shop", "--subject", "order-1", "--expected-version", "0")
	require.Equal(t, 0, r.code, r.stderr)
	r = tb.run(t, "emit", "--type", "order.placed", "--source", "/shop", "--subject", "order-1", "--expected-version", "0")
	require.Equal(t, 1, r.code)
	require.True(t, strings.HasPrefix(r.stderr, "error: Wrong expected version"), r.stderr)
	require.Contains(t, r.stderr, "  /expectedversion: ")

	// A 404, in one line: details that repeat the detail are not repeated.
	r = tb.run(t, "get", "999")
	require.Equal(t, 1, r.code)
	require.True(t, strings.HasPrefix(r.stderr, "error: Not found"), r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)

	// A bad namespace is the server's to refuse.
	r = tb.run(t, "-n", "Not_Valid", "events")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "(400)")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"events", "--bogus"}, "error: unknown flag: --bogus\nRun 'ensue events --help' for usage.\n"},
		{[]string{"nope"}, `error: unknown command "nope" for "ensue"`},
		{[]string{"get"}, "error: missing POSITION"},
		{[]string{"get", "abc"}, `error: POSITION "abc": a position is a whole number from 1`},
		{[]string{"get", "1", "2"}, "error: too many arguments"},
		{[]string{"events", "-o", "yaml"}, `error: --output "yaml": use table or json`},
		{[]string{"events", "--limit", "5000"}, "error: --limit 5000"},
		{[]string{"events", "--since", "yesterday"}, `error: --since "yesterday"`},
		{[]string{"--server", "127.0.0.1:7600", "events"}, `error: --server "127.0.0.1:7600" is not a URL`},
		{[]string{"emit", "--source", "/s"}, "error: missing --type"},
		{[]string{"emit", "--type", "t", "--source", "/s", "--expected-version", "1"}, "error: --expected-version needs --subject"},
		{[]string{"emit", "--type", "t", "--source", "/s", "--data", "{oops"}, "error: --data is not valid JSON"},
		{[]string{"emit", "--type", "t", "--source", "/s", "--ext", "novalue"}, `error: --ext "novalue"`},
		{[]string{"emit", "--type", "t", "--source", "/s", "--time", "noon"}, `error: --time "noon"`},
		{[]string{"emit", "-f", "x.jsonl", "--type", "t"}, "error: --type describes one event and cannot be combined with -f"},
		{[]string{"emit", "-f", "x.jsonl", "--batch", "0"}, "error: --batch 0"},
		{[]string{"emit", "-f", "/no/such/file.jsonl"}, "error: -f /no/such/file.jsonl"},
		{[]string{"lookup", "--source", "/s"}, "error: both --source and --id are needed"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			// No server is needed: these fail before any request. A closed
			// port makes sure none is made.
			r := runCLI(t, "", append([]string{"--server", closedPortURL(t)}, tt.args...)...)
			if tt.args[0] == "--server" {
				r = runCLI(t, "", tt.args...)
			}
			require.Equal(t, 1, r.code, r.stderr)
			require.Empty(t, r.stdout)
			require.True(t, strings.HasPrefix(r.stderr, tt.want), "stderr: %q", r.stderr)
			require.Contains(t, r.stderr, "--help' for usage.")
		})
	}
}

// closedPortURL returns the URL of a port on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	url := closedPortURL(t)
	for _, args := range [][]string{
		{"events"},
		{"get", "1"},
		{"emit", "--type", "t", "--source", "/s"},
	} {
		r := runCLI(t, "", append([]string{"--server", url}, args...)...)
		require.Equal(t, 2, r.code, r.stderr)
		require.Equal(t, "error: cannot reach the Ensue server at "+url+": connect: connection refused\n"+
			"  Is it running? Start one with 'ensue serve', or point --server (ENSUE_SERVER) at one.\n", r.stderr)
	}
}

func TestServerFailureExitsWith2(t *testing.T) {
	t.Parallel()
	// Only the exit code mapping is under test: a 5xx problem, as a server
	// whose log is unreachable answers.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"type":"urn:ensue:problem:unavailable","title":"Log unavailable","status":503,"detail":"the log is unreachable; retry later"}`)
	}))
	t.Cleanup(srv.Close)
	r := runCLI(t, "", "--server", srv.URL, "events")
	require.Equal(t, 2, r.code)
	require.Equal(t, "error: Log unavailable: the log is unreachable; retry later (503)\n", r.stderr)
}

func TestInterruptedExitsWith130(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := runCLIWith(ctx, "", noEnv, "--server", tb.url, "events")
	require.Equal(t, 130, r.code)
	require.Equal(t, "error: interrupted\n", r.stderr)
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"ENSUE_SERVER": tb.url, "ENSUE_NAMESPACE": "shop"}[name]
		return v, ok
	}
	r := runCLIWith(context.Background(), "", env, "emit", "--type", "t.x", "--source", "/s", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)

	r = runCLIWith(context.Background(), "", env, "events", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	recs := jsonLines(t, r.stdout)
	require.Len(t, recs, 1)
	require.Equal(t, "shop", recs[0].Namespace)

	// A flag wins over the environment.
	r = runCLIWith(context.Background(), "", env, "events", "-n", "default", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
}

func TestImport(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var b strings.Builder
	for i := 1; i <= 12; i++ {
		switch i {
		case 3:
			b.WriteString("{not json\n")
		case 5:
			b.WriteString(`{"specversion": "1.0", "id": "e5", "source": "/import"}` + "\n") // no type
		case 7:
			b.WriteString("\n")
		case 9:
			b.WriteString(`{"specversion": "1.0", "source": "/import", "type": "t.x"}` + "\n") // no id
		default:
			fmt.Fprintf(&b, `{"specversion": "1.0", "id": "e%d", "source": "/import", "type": "order.placed", "subject": "order-%d", "data": {"n": %d}}`+"\n", i, i%2, i)
		}
	}
	file := filepath.Join(t.TempDir(), "events.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))

	r := tb.run(t, "emit", "-f", file, "--batch", "4")
	require.Equal(t, 1, r.code)
	require.Empty(t, r.stdout)
	errLines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.True(t, strings.HasPrefix(errLines[0], "line 3: not a CloudEvent JSON object"), r.stderr)
	require.True(t, strings.HasPrefix(errLines[1], "line 5: Invalid event"), r.stderr)
	require.Contains(t, errLines[1], "/type")
	require.True(t, strings.HasPrefix(errLines[2], `line 9: "id" is missing`), r.stderr)
	require.Equal(t, "8 appended, 0 duplicates, 3 failed", errLines[len(errLines)-2])
	require.Equal(t, "error: 3 of 11 events were not stored (listed above with their line numbers)", errLines[len(errLines)-1])

	r = tb.run(t, "events", "--type", "order.placed", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, jsonLines(t, r.stdout), 8)

	// Running it again records nothing twice; -o json reports each line.
	r = tb.run(t, "emit", "-f", file, "-o", "json")
	require.Equal(t, 1, r.code)
	require.True(t, strings.HasSuffix(r.stderr, "0 appended, 8 duplicates, 3 failed\nerror: 3 of 11 events were not stored (listed above with their line numbers)\n"), r.stderr)
	var outcomes []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var o map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &o))
		outcomes = append(outcomes, o)
	}
	require.Len(t, outcomes, 11)
	byLine := map[float64]map[string]any{}
	for _, o := range outcomes {
		byLine[o["line"].(float64)] = o
	}
	require.Equal(t, true, byLine[1]["duplicate"])
	require.Equal(t, "e1", byLine[1]["id"])
	require.Contains(t, byLine[3]["message"], "not a CloudEvent JSON object")
	require.Equal(t, float64(400), byLine[5]["error"].(map[string]any)["status"])

	// Standard input works too.
	r = runCLI(t, `{"specversion": "1.0", "id": "s1", "source": "/stdin", "type": "t.x"}`+"\n", "--server", tb.url, "emit", "-f", "-")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "1 appended, 0 duplicates, 0 failed\n", r.stderr)
}

func TestEventsPaging(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var b strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, `{"specversion": "1.0", "id": "p%d", "source": "/s", "type": "tick"}`+"\n", i)
	}
	r := runCLI(t, b.String(), "--server", tb.url, "emit", "-f", "-")
	require.Equal(t, 0, r.code, r.stderr)

	r = tb.run(t, "events", "--limit", "2")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 3)
	require.Regexp(t, `^More may follow: add --after \d+ \(or use --all\)\.\n$`, r.stderr)

	r = tb.run(t, "events", "--limit", "2", "--all", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	recs := jsonLines(t, r.stdout)
	require.Len(t, recs, 5)
	for i, rec := range recs {
		require.Equal(t, fmt.Sprintf("p%d", i+1), rec.Event.ID)
	}

	r = tb.run(t, "events", "--after", fmt.Sprint(recs[3].Position), "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, jsonLines(t, r.stdout), 1)
}

// syncBuffer is a buffer that may be written while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.run(t, "emit", "--type", "order.placed", "--source", "/shop", "--id", "old")
	require.Equal(t, 0, r.code, r.stderr)

	start := func(args ...string) (*syncBuffer, func() int) {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- execute(ctx, append([]string{"--server", tb.url, "tail"}, args...), strings.NewReader(""), &out, &errb, noEnv, false)
		}()
		return &out, func() int {
			cancel() // as Ctrl-C does
			code := <-done
			require.Empty(t, errb.String())
			return code
		}
	}

	// With --after 0, history first.
	hist, stopHist := start("--after", "0", "-o", "json")
	// Without --after, only what comes next.
	live, stopLive := start("--type", "order.*")
	waitFor(t, "the subscriptions", func() bool {
		return subscribers(t, tb.url) == 2 && strings.Contains(hist.String(), `"id":"old"`)
	})

	for _, typ := range []string{"order.paid", "user.seen", "order.shipped"} {
		r := tb.run(t, "emit", "--type", typ, "--source", "/shop", "--subject", "order-9", "--id", typ)
		require.Equal(t, 0, r.code, r.stderr)
	}
	waitFor(t, "live events", func() bool {
		return strings.Count(live.String(), "\n") == 3 && strings.Count(hist.String(), "\n") == 4
	})
	require.Equal(t, 0, stopHist())
	require.Equal(t, 0, stopLive())

	recs := jsonLines(t, hist.String())
	require.Equal(t, []string{"old", "order.paid", "user.seen", "order.shipped"},
		[]string{recs[0].Event.ID, recs[1].Event.ID, recs[2].Event.ID, recs[3].Event.ID})

	lines := strings.Split(strings.TrimSpace(live.String()), "\n")
	require.Equal(t, []string{"POSITION", "RECORDED", "STREAM", "VERSION", "TYPE", "SOURCE", "ID"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"order-9", "1", "order.paid", "/shop", "order.paid"}, strings.Fields(lines[1])[2:])
	require.Equal(t, []string{"order-9", "3", "order.shipped", "/shop", "order.shipped"}, strings.Fields(lines[2])[2:])
}

// subscribers reads the server's ensue_sse_subscribers gauge.
func subscribers(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "ensue_sse_subscribers %d", &n); err == nil {
			return n
		}
	}
	return -1
}

func TestServeErrorsAreNotClientErrors(t *testing.T) {
	t.Parallel()
	// A port in use: serve fails to listen, which is no "cannot reach".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	r := runCLI(t, "", "serve", "--addr", ln.Addr().String(), "--data", t.TempDir())
	require.Equal(t, 1, r.code)
	// The server may log warnings first; the error is the last line.
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "error: listen on "+ln.Addr().String()), r.stderr)
	require.NotContains(t, r.stderr, "cannot reach")
}
