package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

const bigOrdersFlow = `name: big-orders
on:
  type: order.placed
  when: event.data.total > 1000
steps:
  - id: note
    emit:
      type: order.noted
      data: '{"total": event.data.total}'
`

func TestFlowApplyRequestShape(t *testing.T) {
	t.Parallel()
	cs := newCannedServer(t, 200, "application/json", `{"dry_run":true,"results":[{"kind":"flow","name":"a","version":1,"outcome":"created"}]}`)
	c := sdk.New(cs.URL, sdk.WithNamespace("shop"))
	res, err := c.ApplyFile(context.Background(), "flows/a.json", []byte(`{"name":"a"}`), true)
	require.NoError(t, err)
	require.Equal(t, &sdk.ApplyResponse{DryRun: true, Results: []sdk.ApplyResult{{Kind: "flow", Name: "a", Version: 1, Outcome: sdk.OutcomeCreated}}}, res)
	got := cs.last(t)
	require.Equal(t, "POST", got.Method)
	require.Equal(t, "/v1/apply", got.Path)
	require.Equal(t, "dry_run=true", got.Query)
	require.Equal(t, "flows/a.json", got.Header.Get("Ensue-Filename"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Equal(t, "shop", got.Header.Get("Ensue-Namespace"))

	_, err = c.ApplyFile(context.Background(), "a\nb.yaml", []byte("name: a\n"), false)
	require.NoError(t, err)
	got = cs.last(t)
	require.Equal(t, "a?b.yaml", got.Header.Get("Ensue-Filename"), "control characters cannot go in a header")
	require.Equal(t, "application/yaml", got.Header.Get("Content-Type"))
	require.Empty(t, got.Query)

	_, _ = c.Flow(context.Background(), "a b/c")
	require.Equal(t, "/v1/flows/a%20b%2Fc", cs.last(t).EscapedPath)
	_, _ = c.Runs(context.Background(), sdk.RunQuery{Flow: "a", Status: sdk.RunDeadLettered, CorrelationID: "x", Limit: 5, Cursor: "a-9"})
	require.Equal(t, "correlationid=x&cursor=a-9&flow=a&limit=5&status=dead_lettered", cs.last(t).Query)
	_, _ = c.DeadLetters(context.Background(), sdk.RunQuery{Status: sdk.RunCompleted})
	require.Equal(t, "/v1/deadletters", cs.last(t).Path)
	require.Empty(t, cs.last(t).Query, "dead letters have one status")

	_, err = c.Flow(context.Background(), "")
	require.ErrorContains(t, err, "flow name is required")
	_, err = c.Run(context.Background(), "")
	require.ErrorContains(t, err, "run id is required")
	_, err = c.RedriveMany(context.Background(), sdk.RedriveRequest{})
	require.ErrorContains(t, err, "name the runs or the flow")
}

func TestFlowServerApplyAndManage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, sdk.WithNamespace("flows"))

	dry, err := c.ApplyFile(ctx, "big-orders.yaml", []byte(bigOrdersFlow), true)
	require.NoError(t, err)
	require.True(t, dry.DryRun)
	require.Equal(t, []sdk.ApplyResult{{Kind: "flow", Name: "big-orders", Version: 1, Outcome: sdk.OutcomeCreated}}, dry.Results)
	flows, err := c.Flows(ctx)
	require.NoError(t, err)
	require.Empty(t, flows, "a dry run applies nothing")

	res, err := c.ApplyFile(ctx, "big-orders.yaml", []byte(bigOrdersFlow), false)
	require.NoError(t, err)
	require.False(t, res.DryRun)
	require.Len(t, res.Results, 1)
	require.Equal(t, sdk.OutcomeCreated, res.Results[0].Outcome)
	require.Positive(t, res.Results[0].Position)

	res, err = c.ApplyFile(ctx, "big-orders.yaml", []byte(bigOrdersFlow), false)
	require.NoError(t, err)
	require.Equal(t, []sdk.ApplyResult{{Kind: "flow", Name: "big-orders", Version: 1, Outcome: sdk.OutcomeUnchanged}}, res.Results)

	changed := []byte(`{"name": "big-orders", "on": {"type": "order.placed", "when": "event.data.total > 500"},
	  "steps": [{"id": "note", "emit": {"type": "order.noted"}}]}`)
	put, err := c.PutFlow(ctx, "big-orders", changed)
	require.NoError(t, err)
	require.Equal(t, sdk.OutcomeUpdated, put.Outcome)
	require.Equal(t, int64(2), put.Version)
	require.Contains(t, put.Changes, "on.when")

	// An invalid file applies nothing, and says where each problem is.
	bad := "name: broken\non:\n  type: order.placed\n  when: event.data.total >\nsteps:\n  - id: x\n    emit: {type: a.b}\n"
	_, err = c.ApplyFile(ctx, "flows/broken.yaml", []byte(bad), false)
	var de *sdk.DefinitionError
	require.ErrorAs(t, err, &de)
	require.Equal(t, "flows/broken.yaml", de.File)
	require.NotEmpty(t, de.Problems)
	require.Equal(t, 4, de.Problems[0].Line, "%+v", de.Problems)
	require.Positive(t, de.Problems[0].Column)
	require.Equal(t, "/on/when", de.Problems[0].Pointer)
	var p *sdk.Problem
	require.ErrorAs(t, err, &p, "a DefinitionError wraps the server's Problem")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	_, err = c.Flow(ctx, "broken")
	require.ErrorIs(t, err, sdk.ErrNotFound)

	flows, err = c.Flows(ctx)
	require.NoError(t, err)
	require.Len(t, flows, 1)
	require.Equal(t, "big-orders", flows[0].Name)
	require.Equal(t, int64(2), flows[0].Version)
	require.True(t, flows[0].Enabled)
	require.False(t, flows[0].UpdatedAt.IsZero())
	require.Nil(t, flows[0].Definition)

	f, err := c.Flow(ctx, "big-orders")
	require.NoError(t, err)
	var def struct {
		On struct{ When string } `json:"on"`
	}
	require.NoError(t, json.Unmarshal(f.Definition, &def))
	require.Equal(t, "event.data.total > 500", def.On.When)

	f, err = c.DisableFlow(ctx, "big-orders")
	require.NoError(t, err)
	require.False(t, f.Enabled)
	ex, err := c.ExplainFlow(ctx, "big-orders", sdk.Event{Source: "/shop", Type: "order.placed", Data: map[string]any{"total": 900}})
	require.NoError(t, err)
	require.False(t, ex.Triggered)
	require.Contains(t, ex.Note, "disabled")
	f, err = c.EnableFlow(ctx, "big-orders")
	require.NoError(t, err)
	require.True(t, f.Enabled)

	ex, err = c.ExplainFlow(ctx, "big-orders", sdk.Event{Source: "/shop", Type: "order.placed", Data: map[string]any{"total": 400}})
	require.NoError(t, err)
	require.False(t, ex.Triggered)
	require.Len(t, ex.Checks, 2)
	require.Equal(t, "when", ex.Checks[1].Condition)
	require.False(t, ex.Checks[1].Passed)
	require.Equal(t, json.Number("400"), ex.Checks[1].Values["event.data.total"])

	app, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.placed", Data: map[string]any{"total": 900}})
	require.NoError(t, err)
	ex, err = c.ExplainFlowAt(ctx, "big-orders", app.Position)
	require.NoError(t, err)
	require.True(t, ex.Triggered, "%+v", ex)
	ex, err = c.ExplainFlowJSON(ctx, "big-orders", []byte(`{"specversion":"1.0","id":"1","source":"/shop","type":"order.cancelled"}`))
	require.NoError(t, err)
	require.False(t, ex.Triggered)
	require.Len(t, ex.Checks, 1)

	secret, err := c.FlowSecret(ctx, "big-orders", false)
	require.NoError(t, err)
	require.Regexp(t, `^whsec_`, secret)
	_, err = c.FlowSecret(ctx, "big-orders", false)
	require.True(t, errors.As(err, &p) && p.Status == http.StatusConflict, "a secret is shown once: %v", err)
	rotated, err := c.FlowSecret(ctx, "big-orders", true)
	require.NoError(t, err)
	require.NotEqual(t, secret, rotated)

	require.NoError(t, c.DeleteFlow(ctx, "big-orders"))
	_, err = c.Flow(ctx, "big-orders")
	require.ErrorIs(t, err, sdk.ErrNotFound)
	require.ErrorIs(t, c.DeleteFlow(ctx, "big-orders"), sdk.ErrNotFound)
}

func TestFlowServerRunsAndDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, sdk.WithNamespace("runs"))

	var status atomic.Int32
	status.Store(http.StatusNotFound)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, `{"ok": true}`)
	}))
	t.Cleanup(target.Close)

	_, err := c.ApplyFile(ctx, "flows.yaml", []byte(bigOrdersFlow+`---
name: ship
on: {type: order.paid}
steps:
  - id: call
    http: {url: "`+target.URL+`/ship", body: '{"order": event.subject}'}
    retry: {attempts: 2, initial: 1ms, max: 1ms}
`), false)
	require.NoError(t, err)

	placed, err := c.Append(ctx, sdk.Event{ID: "o-1", Source: "/shop", Type: "order.placed", Subject: "order-1", Data: map[string]any{"total": 1500}})
	require.NoError(t, err)
	var run *sdk.Run
	eventually(t, "the emit run completes", func() bool {
		run, err = c.Run(ctx, fmt.Sprintf("big-orders-%d", placed.Position))
		return err == nil && run.Status == sdk.RunCompleted
	})
	require.Equal(t, "big-orders", run.Flow)
	require.Equal(t, "runs", run.Namespace)
	require.Equal(t, placed.Position, run.Trigger.Position)
	require.Equal(t, "o-1", run.Trigger.ID)
	require.Len(t, run.Steps, 1)
	require.Equal(t, sdk.StepSucceeded, run.Steps[0].Status)
	require.False(t, run.FinishedAt.IsZero())

	page, err := c.Runs(ctx, sdk.RunQuery{Flow: "big-orders"})
	require.NoError(t, err)
	require.Len(t, page.Runs, 1)
	require.Empty(t, page.Next)
	page, err = c.Runs(ctx, sdk.RunQuery{Status: sdk.RunDeadLettered})
	require.NoError(t, err)
	require.Empty(t, page.Runs)

	var dead []string
	for i := range 2 {
		paid, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.paid", Subject: fmt.Sprintf("order-%d", i)})
		require.NoError(t, err)
		dead = append(dead, fmt.Sprintf("ship-%d", paid.Position))
	}
	eventually(t, "two dead letters", func() bool {
		page, err = c.DeadLetters(ctx, sdk.RunQuery{Flow: "ship"})
		return err == nil && len(page.Runs) == 2
	})
	run, err = c.DeadLetter(ctx, dead[0])
	require.NoError(t, err)
	require.Equal(t, sdk.RunDeadLettered, run.Status)
	require.Equal(t, "call", run.FailedStep)
	require.Contains(t, run.Error, "404")
	require.Positive(t, run.Steps[0].Attempts)
	require.NotEmpty(t, run.Steps[0].History)
	last := run.Steps[0].History[len(run.Steps[0].History)-1]
	require.True(t, last.Final)
	require.Equal(t, http.StatusNotFound, last.Status)
	require.Positive(t, last.Duration)

	_, err = c.DeadLetter(ctx, fmt.Sprintf("big-orders-%d", placed.Position))
	require.ErrorIs(t, err, sdk.ErrNotFound, "a completed run is no dead letter")

	status.Store(http.StatusOK)
	run, err = c.Redrive(ctx, dead[0])
	require.NoError(t, err)
	require.Equal(t, 1, run.Redrives)
	eventually(t, "the redriven run completes", func() bool {
		run, err = c.Run(ctx, dead[0])
		return err == nil && run.Status == sdk.RunCompleted
	})
	_, err = c.Redrive(ctx, dead[0])
	var p *sdk.Problem
	require.True(t, errors.As(err, &p) && p.Status == http.StatusConflict, "only a dead letter is redriven: %v", err)

	run, err = c.Discard(ctx, dead[1])
	require.NoError(t, err)
	require.Equal(t, sdk.RunDiscarded, run.Status)

	many, err := c.RedriveMany(ctx, sdk.RedriveRequest{Runs: []string{dead[1]}})
	require.NoError(t, err)
	require.Empty(t, many.Redriven)
	require.Len(t, many.Failed, 1)
	require.Equal(t, dead[1], many.Failed[0].Run)

	page, err = c.DeadLetters(ctx, sdk.RunQuery{})
	require.NoError(t, err)
	require.Empty(t, page.Runs)
}

func ExampleClient_ApplyFile() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-flows"))

	def := []byte(`name: big-orders
on:
  type: order.placed
  when: event.data.total > 1000
steps:
  - id: note
    emit: {type: order.noted}
`)
	for range 2 {
		res, err := c.ApplyFile(ctx, "big-orders.yaml", def, false)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, r := range res.Results {
			fmt.Printf("%s/%s %s (version %d)\n", r.Kind, r.Name, r.Outcome, r.Version)
		}
	}

	ex, err := c.ExplainFlow(ctx, "big-orders", sdk.Event{Source: "/shop", Type: "order.placed", Data: map[string]any{"total": 900}})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, check := range ex.Checks {
		fmt.Println(check.Condition, check.Passed)
	}
	fmt.Println("triggered:", ex.Triggered)

	_, err = c.ApplyFile(ctx, "broken.yaml", []byte("name: broken\non: {type: order.placed}\nsteps: []\n"), false)
	if de, ok := errors.AsType[*sdk.DefinitionError](err); ok {
		for _, p := range de.Problems {
			fmt.Printf("%s:%d:%d: %s\n", de.File, p.Line, p.Column, p.Pointer)
		}
	}
	// Output:
	// flow/big-orders created (version 1)
	// flow/big-orders unchanged (version 1)
	// type true
	// when false
	// triggered: false
	// broken.yaml:3:8: /steps
}
