package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

const bigOrdersYAML = `name: big-orders
on:
  type: order.placed
  when: event.data.total > 1000
steps:
  - id: note
    emit:
      type: order.noted
      data: '{"total": event.data.total}'
`

const paidYAML = `name: paid
on: {type: order.paid}
steps:
  - id: thank
    emit: {type: customer.thanked}
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// lines splits output into its lines, without the last newline.
func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func TestApplyDirectory(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "big-orders.yaml"), bigOrdersYAML)
	writeFile(t, filepath.Join(dir, "billing", "paid.yml"), paidYAML)
	writeFile(t, filepath.Join(dir, ".git", "skipped.yaml"), "not: a flow")
	writeFile(t, filepath.Join(dir, "README.md"), "not a definition")

	r := tb.run(t, "apply", "-f", dir, "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"flow/big-orders would be created (version 1)", "flow/paid would be created (version 1)"}, lines(r.stdout))
	r = tb.run(t, "flows", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout, "a dry run applies nothing")
	require.Contains(t, r.stderr, "No flows.")

	r = tb.run(t, "apply", "-f", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"flow/big-orders created (version 1)", "flow/paid created (version 1)"}, lines(r.stdout))

	r = tb.run(t, "apply", "-f", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"flow/big-orders unchanged", "flow/paid unchanged"}, lines(r.stdout))

	writeFile(t, filepath.Join(dir, "big-orders.yaml"), strings.Replace(bigOrdersYAML, "1000", "500", 1))
	r = tb.run(t, "apply", "-f", dir, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var results []sdk.ApplyResult
	for _, l := range lines(r.stdout) {
		var res sdk.ApplyResult
		require.NoError(t, json.Unmarshal([]byte(l), &res), l)
		results = append(results, res)
	}
	require.Len(t, results, 2)
	require.Equal(t, sdk.OutcomeUpdated, results[0].Outcome)
	require.Equal(t, int64(2), results[0].Version)
	require.Equal(t, []string{"on.when"}, results[0].Changes)
	require.Equal(t, sdk.OutcomeUnchanged, results[1].Outcome)

	// A bad file stops everything: the good change beside it is not applied.
	writeFile(t, filepath.Join(dir, "big-orders.yaml"), strings.Replace(bigOrdersYAML, "1000", "700", 1))
	bad := filepath.Join(dir, "broken.yaml")
	writeFile(t, bad, "name: broken\non:\n  type: order.placed\nsteps:\n  - id: x\n    http: {url: not-a-url}\n")
	r = tb.run(t, "apply", "-f", dir)
	require.Equal(t, exitInput, r.code)
	require.Empty(t, r.stdout)
	require.Regexp(t, `(?m)^`+regexp.QuoteMeta(bad)+`:6:\d+: steps\[0\]\.http\.url: url "not-a-url" must be an absolute`, r.stderr)
	require.Contains(t, r.stderr, "error: nothing applied: 1 of 3 file(s) have problems")
	r = tb.run(t, "flows", "get", "big-orders", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var f sdk.Flow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &f))
	require.Equal(t, int64(2), f.Version, "nothing was applied")
	require.Contains(t, string(f.Definition), "500")

	// The same flow in two files is refused too.
	writeFile(t, bad, bigOrdersYAML)
	r = tb.run(t, "apply", "-f", dir)
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "flow/big-orders is defined in "+filepath.Join(dir, "big-orders.yaml")+" too")
	require.NoError(t, os.Remove(bad))

	r = tb.run(t, "apply", "-f", filepath.Join(dir, "missing.yaml"))
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "missing.yaml")
	r = tb.run(t, "apply", "-f", t.TempDir())
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "no .yaml, .yml or .json file")
	r = runCLI(t, paidYAML, "--server", tb.url, "apply", "-f", "-")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flow/paid unchanged\n", r.stdout)
}

func TestFlowsCommands(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	file := filepath.Join(t.TempDir(), "big-orders.yaml")
	writeFile(t, file, bigOrdersYAML)
	r := tb.run(t, "apply", "-f", file)
	require.Equal(t, 0, r.code, r.stderr)

	r = tb.run(t, "flows", "list")
	require.Equal(t, 0, r.code, r.stderr)
	out := lines(r.stdout)
	require.Len(t, out, 2)
	require.Equal(t, []string{"NAME", "VERSION", "ENABLED", "UPDATED"}, strings.Fields(out[0]))
	require.Equal(t, []string{"big-orders", "1", "true"}, strings.Fields(out[1])[:3])

	r = tb.run(t, "flows", "get", "big-orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "ENABLED   true")
	require.Contains(t, r.stdout, `"when": "event.data.total > 1000"`, "the definition is shown readable")

	r = tb.run(t, "flows", "disable", "big-orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flow/big-orders disabled (version 1)\n", r.stdout)
	event := filepath.Join(t.TempDir(), "order.json")
	writeFile(t, event, `{"specversion": "1.0", "id": "o-1", "source": "/shop", "type": "order.placed", "data": {"total": 1500}}`)
	r = tb.run(t, "flows", "explain", "big-orders", "--event", event)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "does not trigger: the trigger matches, but the flow is disabled", lines(r.stdout)[0])
	r = tb.run(t, "flows", "enable", "big-orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flow/big-orders enabled (version 1)\n", r.stdout)

	r = tb.run(t, "flows", "explain", "big-orders", "--event", event)
	require.Equal(t, 0, r.code, r.stderr)
	out = lines(r.stdout)
	require.Equal(t, "triggers", out[0])
	require.Equal(t, []string{"CONDITION", "EXPECTED", "ACTUAL", "PASSED"}, strings.Fields(out[1]))
	require.Equal(t, []string{"type", "order.placed", "order.placed", "true"}, strings.Fields(out[2]))

	r = tb.run(t, "emit", "--type", "order.placed", "--source", "/shop", "--data", `{"total": 900}`, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var app sdk.AppendResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &app))
	r = tb.run(t, "flows", "explain", "big-orders", "--position", fmt.Sprint(app.Position))
	require.Equal(t, 0, r.code, r.stderr)
	out = lines(r.stdout)
	require.Equal(t, "does not trigger: when failed (event.data.total = 900)", out[0])
	require.Equal(t, []string{"when", "event.data.total", ">", "1000", "false", "false"}, strings.Fields(out[3]))
	r = runCLI(t, `{"specversion": "1.0", "id": "x", "source": "/crm", "type": "customer.created"}`,
		"--server", tb.url, "flows", "explain", "big-orders", "--event", "-")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "does not trigger: type failed (type customer.created does not match order.placed)", lines(r.stdout)[0])
	r = tb.run(t, "flows", "explain", "big-orders")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "give the event")

	r = tb.run(t, "flows", "secret", "big-orders")
	require.Equal(t, 0, r.code, r.stderr)
	secret := strings.TrimSpace(r.stdout)
	require.Regexp(t, `^whsec_\S+$`, secret)
	require.Contains(t, r.stderr, "shown once")
	r = tb.run(t, "flows", "secret", "big-orders")
	require.Equal(t, exitInput, r.code)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "(409)")
	r = tb.run(t, "flows", "secret", "big-orders", "--rotate")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotEqual(t, secret, strings.TrimSpace(r.stdout))

	r = tb.run(t, "flows", "delete", "big-orders")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flow/big-orders deleted\n", r.stdout)
	r = tb.run(t, "flows", "get", "big-orders")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(404)")
	r = tb.run(t, "flows", "nope")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, `unknown command "nope" for ensue flows`)
}

func TestRunsAndDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var status atomic.Int32
	status.Store(http.StatusNotFound)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(target.Close)
	file := filepath.Join(t.TempDir(), "flows.yaml")
	writeFile(t, file, bigOrdersYAML+`---
name: ship
on: {type: order.paid}
steps:
  - id: call
    http: {url: "`+target.URL+`/ship"}
    retry: {attempts: 2, initial: 1ms, max: 1ms}
  - id: shipped
    emit: {type: order.shipped}
`)
	r := tb.run(t, "apply", "-f", file)
	require.Equal(t, 0, r.code, r.stderr)

	appendEvent := func(args ...string) int64 {
		t.Helper()
		r := tb.run(t, append([]string{"emit", "--source", "/shop", "-o", "json"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		var res sdk.AppendResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
		return res.Position
	}
	placed := appendEvent("--type", "order.placed", "--subject", "order-1", "--data", `{"total": 1500}`)
	completed := fmt.Sprintf("big-orders-%d", placed)
	r = tb.run(t, "runs", "show", completed, "--wait", "30s", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var run sdk.Run
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &run))
	require.Equal(t, sdk.RunCompleted, run.Status, "--wait waits for the run to finish")
	r = tb.run(t, "runs", "list", "--flow", "big-orders")
	require.Equal(t, 0, r.code, r.stderr)
	out := lines(r.stdout)
	require.Len(t, out, 2)
	require.Equal(t, []string{"ID", "FLOW", "STATUS", "TRIGGER", "POSITION", "STEPS", "CREATED"}, strings.Fields(out[0]))
	require.Equal(t, []string{completed, "big-orders", "completed", fmt.Sprint(placed), "1/1"}, strings.Fields(out[1])[:5])

	r = tb.run(t, "runs", "show", completed)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "STATUS       completed")
	require.Contains(t, r.stdout, fmt.Sprintf("TRIGGER      position %d: order.placed from /shop, subject order-1", placed))
	require.Regexp(t, `(?m)^note\s+succeeded\s+1\s+-$`, r.stdout)

	var dead []string
	for i := range 2 {
		pos := appendEvent("--type", "order.paid", "--subject", fmt.Sprintf("order-%d", i))
		dead = append(dead, fmt.Sprintf("ship-%d", pos))
	}
	waitFor(t, "two dead letters", func() bool {
		r := tb.run(t, "deadletters", "list", "--flow", "ship", "-o", "json")
		return r.code == 0 && len(lines(r.stdout)) == 2
	})
	r = tb.run(t, "deadletters", "list")
	require.Equal(t, 0, r.code, r.stderr)
	out = lines(r.stdout)
	require.Len(t, out, 3)
	require.Equal(t, []string{dead[0], "ship"}, strings.Fields(out[1])[:2])
	r = tb.run(t, "runs", "list", "--status", "dead_lettered")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{dead[0], "ship", "dead_lettered"}, strings.Fields(lines(r.stdout)[1])[:3])
	require.Equal(t, "0/2", strings.Fields(lines(r.stdout)[1])[4], "a run lists only its steps started; the flow has two")

	r = tb.run(t, "deadletters", "show", dead[0])
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "FAILED STEP  call")
	require.Contains(t, r.stdout, "ATTEMPTS OF call")
	require.Regexp(t, `(?m)^\d+\s+\S+\s+\S+\s+404\s+HTTP 404\s+final$`, r.stdout)
	r = tb.run(t, "deadletters", "show", completed)
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "not a dead letter")

	status.Store(http.StatusOK)
	r = tb.run(t, "deadletters", "redrive", dead[0])
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^`+dead[0]+` redriven \((running|completed)\)\n$`, r.stdout)
	waitFor(t, "the redriven run completes", func() bool {
		r := tb.run(t, "runs", "show", dead[0], "-o", "json")
		var run sdk.Run
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &run) == nil && run.Status == sdk.RunCompleted
	})
	r = tb.run(t, "deadletters", "redrive", dead[0])
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(409)")

	r = tb.run(t, "deadletters", "discard", dead[1])
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, dead[1]+" discarded\n", r.stdout)
	r = tb.run(t, "deadletters", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "No dead letters.")

	// A third fails; redrive --flow takes every dead letter of the flow.
	status.Store(http.StatusNotFound)
	third := fmt.Sprintf("ship-%d", appendEvent("--type", "order.paid", "--subject", "order-3"))
	waitFor(t, "a dead letter", func() bool {
		return tb.run(t, "deadletters", "show", third).code == 0
	})
	status.Store(http.StatusOK)
	r = tb.run(t, "deadletters", "redrive", "--flow", "ship")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, third+" redriven\n", r.stdout)
	r = tb.run(t, "deadletters", "redrive", dead[1], third)
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "2 of 2 dead letters were not redriven")
	r = tb.run(t, "deadletters", "redrive")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "name the dead letters")
}
