package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

const ordersProjectionYAML = `kind: projection
name: orders
key: event.subject
initial: '{"status": "new", "total": 0, "items": 0}'
on:
  order.placed: 'state.with({"status": "placed", "total": event.data.total})'
  order.item_added: 'state.with({"items": state.items + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`

// emitAt emits an event and returns its position.
func (tb *testBundle) emitAt(t *testing.T, args ...string) int64 {
	t.Helper()
	r := tb.run(t, append(append([]string{"emit", "--source", "/shop"}, args...), "-o", "json")...)
	require.Equal(t, 0, r.code, r.stderr)
	var res sdk.AppendResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	return res.Position
}

func TestProjectionsApplyReadQueryRebuild(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	file := filepath.Join(t.TempDir(), "orders.yaml")
	writeFile(t, file, ordersProjectionYAML)

	r := tb.run(t, "projections", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "No projections.")

	r = tb.run(t, "apply", "-f", file)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "projection/orders created (version 1)\n", r.stdout)
	r = tb.run(t, "apply", "-f", file)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "projection/orders unchanged\n", r.stdout)

	placed := tb.emitAt(t, "--type", "order.placed", "--subject", "o-1", "--data", `{"total": 1250}`)
	tb.emitAt(t, "--type", "order.item_added", "--subject", "o-1")
	tb.emitAt(t, "--type", "order.item_added", "--subject", "o-1")
	tb.emitAt(t, "--type", "order.placed", "--subject", "o-2", "--data", `{"total": 10}`)
	tb.emitAt(t, "--type", "order.placed", "--subject", "o-3", "--data", `{"total": 400}`)
	last := tb.emitAt(t, "--type", "order.shipped", "--subject", "o-2")

	// Read your writes; the header line says where the document stands.
	r = tb.run(t, "projections", "get", "orders", "o-1", "--min-position", fmt.Sprint(last))
	require.Equal(t, 0, r.code, r.stderr)
	out := lines(r.stdout)
	require.Equal(t, fmt.Sprintf("o-1 at position %d, 3 update(s)", placed+2), out[0])
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 2}`, strings.Join(out[1:], "\n"))
	require.Contains(t, r.stdout, "\n  \"items\": 2,\n", "the state is indented")

	// Time travel, by position and by time.
	r = tb.run(t, "projections", "get", "orders", "o-1", "--at", fmt.Sprint(placed), "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var doc sdk.ProjectionDocument
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 0}`, string(doc.State))
	require.Equal(t, 1, doc.Updates)
	r = tb.run(t, "projections", "get", "orders", "o-1", "--at", "2000-01-01T00:00:00Z")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(404)")
	r = tb.run(t, "projections", "get", "orders", "o-1", "--at", "yesterday")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, `--at "yesterday": give a log position (a whole number from 1) or an RFC 3339 time`)
	require.Contains(t, r.stderr, "Run 'ensue projections get --help' for usage.")

	// Query: an indexed filter, an order, pages.
	r = tb.run(t, "projections", "query", "orders", "--filter", `doc.status == "placed"`, "--order-by", "-total")
	require.Equal(t, 0, r.code, r.stderr)
	out = lines(r.stdout)
	require.Len(t, out, 3)
	require.Equal(t, []string{"KEY", "POSITION", "UPDATES", "STATE"}, strings.Fields(out[0]))
	require.Equal(t, []string{"o-1", fmt.Sprint(placed + 2), "3", `{"items":2,"status":"placed","total":1250}`}, strings.Fields(out[1]))
	require.Equal(t, "o-3", strings.Fields(out[2])[0])

	r = tb.run(t, "projections", "query", "orders", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, lines(r.stdout), 2)
	require.Equal(t, "o-1", strings.Fields(lines(r.stdout)[1])[0])
	require.Regexp(t, `^More may follow: add --cursor \S+, or --all\.\n$`, r.stderr)
	cursor := strings.Fields(r.stderr)[5]
	r = tb.run(t, "projections", "query", "orders", "--limit", "1", "--cursor", strings.TrimSuffix(cursor, ","))
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "o-2", strings.Fields(lines(r.stdout)[1])[0])

	r = tb.run(t, "projections", "query", "orders", "--limit", "1", "--all", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	var keys []string
	for _, l := range lines(r.stdout) {
		var d sdk.ProjectionDocument
		require.NoError(t, json.Unmarshal([]byte(l), &d))
		keys = append(keys, d.Key)
	}
	require.Equal(t, []string{"o-1", "o-2", "o-3"}, keys)

	r = tb.run(t, "projections", "query", "orders", "--filter", `doc.status == "lost"`)
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Equal(t, "No documents.\n", r.stderr)
	r = tb.run(t, "projections", "query", "orders", "--filter", "doc.status ==")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "/filter: ")
	require.Contains(t, r.stderr, "(400)")

	// Status and list.
	r = tb.run(t, "projections", "status", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "NAME        orders\n")
	require.Contains(t, r.stdout, "STATE       running\n")
	require.Contains(t, r.stdout, "GENERATION  1\n")
	require.Contains(t, r.stdout, fmt.Sprintf("POSITION    %d\n", last))
	require.Contains(t, r.stdout, "LAG         0\n")
	require.Contains(t, r.stdout, "DEFINITION\n{\n")
	require.Contains(t, r.stdout, `"key": "event.subject"`)
	r = tb.run(t, "projections", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"NAME", "STATE", "GENERATION", "POSITION", "LAG"}, strings.Fields(lines(r.stdout)[0]))
	require.Equal(t, []string{"orders", "running", "1", fmt.Sprint(last), "0"}, strings.Fields(lines(r.stdout)[1]))

	// A rebuild, waited for (on a terminal, with its progress bar), makes
	// generation 2, which answers the same.
	var stdout, stderr syncBuffer
	code := execute(context.Background(), []string{"--server", tb.url, "projections", "rebuild", "orders", "--wait"},
		strings.NewReader(""), &stdout, &stderr, noEnv, true)
	require.Equal(t, 0, code, stderr.String())
	require.Equal(t, "projection/orders rebuilt: generation 2 answers\n", stdout.String())
	r = tb.run(t, "projections", "status", "orders", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var st sdk.ProjectionStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Equal(t, 2, st.Generation)
	require.Nil(t, st.Rebuild)
	r = tb.run(t, "projections", "get", "orders", "o-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, fmt.Sprintf("o-1 at position %d, 3 update(s)", placed+2), lines(r.stdout)[0])

	r = tb.run(t, "projections", "rebuild", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "projection/orders rebuilding: generation 3, from the start of the log\n", r.stdout)

	r = tb.run(t, "projections", "delete", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "projection/orders deleted\n", r.stdout)
	r = tb.run(t, "projections", "status", "orders")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(404)")
	r = tb.run(t, "projections", "get", "orders")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "Run 'ensue projections get --help' for usage.")
}

func TestProjectionsFailAndResume(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	file := filepath.Join(t.TempDir(), "totals.yaml")
	writeFile(t, file, `kind: projection
name: totals
key: event.subject
initial: '{"sum": 0}'
on:
  add: 'state.with({"sum": state.sum + event.data.n})'
`)
	r := tb.run(t, "apply", "-f", file)
	require.Equal(t, 0, r.code, r.stderr)
	tb.emitAt(t, "--type", "add", "--subject", "a", "--id", "e-1", "--data", `{"n": 1}`)
	bad := tb.emitAt(t, "--type", "add", "--subject", "a", "--id", "e-2", "--data", `{"n": "two"}`)
	after := tb.emitAt(t, "--type", "add", "--subject", "a", "--id", "e-3", "--data", `{"n": 3}`)

	// Reading past the failed event says where the projection stopped.
	r = tb.run(t, "projections", "get", "totals", "a", "--min-position", fmt.Sprint(after))
	require.Equal(t, exitUnavailable, r.code)
	require.Contains(t, r.stderr, fmt.Sprintf("the projection failed on the event at position %d", bad))
	require.Contains(t, r.stderr, fmt.Sprintf("min_position: the projection failed at position %d", bad))

	r = tb.run(t, "projections", "status", "totals")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "STATE         failed\n")
	require.Regexp(t, fmt.Sprintf(`FAILED EVENT  position %d: add, id e-2, at \d{4}-`, bad), r.stdout)
	require.Contains(t, r.stdout, "ERROR         ")
	require.Contains(t, r.stdout, fmt.Sprintf("Fix the cause, then 'ensue projections resume totals' retries the event, or '--skip %d' skips it.\n", bad))

	r = tb.run(t, "projections", "resume", "totals", "--skip", fmt.Sprint(bad+1))
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(409)")
	r = tb.run(t, "projections", "resume", "totals", "--skip", fmt.Sprint(bad))
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, fmt.Sprintf("projection/totals resumed after skipping the event at position %d\n", bad), r.stdout)

	r = tb.run(t, "projections", "get", "totals", "a", "--min-position", fmt.Sprint(after))
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"sum": 4}`, strings.Join(lines(r.stdout)[1:], "\n"))
	r = tb.run(t, "projections", "resume", "totals")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "nothing to resume")

	// A rebuild reads the log again and fails on the same event: --wait
	// says so, and the previous generation answers still.
	r = tb.run(t, "projections", "rebuild", "totals", "--wait")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, fmt.Sprintf("error: the rebuild of totals (generation 2) stopped at position %d: event e-2 (add): ", bad))
	r = tb.run(t, "projections", "get", "totals", "a")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"sum": 4}`, strings.Join(lines(r.stdout)[1:], "\n"))
}
