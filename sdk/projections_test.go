package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

const ordersProjection = `kind: projection
name: orders
key: event.subject
initial: '{"status": "new", "total": 0, "items": 0}'
on:
  order.placed: 'state.with({"status": "placed", "total": event.data.total})'
  order.item_added: 'state.with({"items": state.items + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`

func TestProjectionRequestShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cs := newCannedServer(t, 200, "application/json", `{"key":"o/1","state":{"n":1},"position":7,"updates":2}`)
	c := sdk.New(cs.URL, sdk.WithNamespace("shop"))

	doc, err := c.ProjectionDocument(ctx, "orders", "o/1", sdk.DocumentOptions{MinPosition: 9, AtTime: time.Date(2026, 11, 29, 10, 0, 0, 5, time.FixedZone("x", 3600))})
	require.NoError(t, err)
	require.Equal(t, int64(7), doc.Position)
	require.JSONEq(t, `{"n":1}`, string(doc.State))
	got := cs.last(t)
	require.Equal(t, "/v1/projections/orders/documents/o%2F1", got.EscapedPath, "a key is one segment")
	require.Equal(t, "at=2026-11-29T09%3A00%3A00.000000005Z&min_position=9", got.Query)
	require.Equal(t, "shop", got.Header.Get("Ensue-Namespace"))
	_, _ = c.ProjectionDocument(ctx, "orders", "o-1", sdk.DocumentOptions{AtPosition: 3})
	require.Equal(t, "at=3", cs.last(t).Query)

	_, _ = c.QueryProjection(ctx, "orders", sdk.ProjectionQuery{Filter: `doc.status == "placed"`, OrderBy: "-total", Limit: 5, Cursor: "c", MinPosition: 4})
	got = cs.last(t)
	require.Equal(t, "POST", got.Method)
	require.Equal(t, "/v1/projections/orders/query", got.Path)
	require.Equal(t, "min_position=4", got.Query)
	require.JSONEq(t, `{"filter":"doc.status == \"placed\"","order_by":"-total","limit":5,"cursor":"c"}`, string(got.Body))
	_, _ = c.QueryProjection(ctx, "orders", sdk.ProjectionQuery{})
	require.JSONEq(t, `{}`, string(cs.last(t).Body))

	_, _ = c.ResumeProjection(ctx, "orders", 0)
	require.JSONEq(t, `{}`, string(cs.last(t).Body))
	_, _ = c.ResumeProjection(ctx, "orders", 12)
	require.Equal(t, "/v1/projections/orders/resume", cs.last(t).Path)
	require.JSONEq(t, `{"skip_position":12}`, string(cs.last(t).Body))

	_, err = c.Projection(ctx, "")
	require.ErrorContains(t, err, "projection name is required")
	_, err = c.ProjectionDocument(ctx, "orders", "", sdk.DocumentOptions{})
	require.ErrorContains(t, err, "document key is required")
	_, err = c.ProjectionDocument(ctx, "orders", "k", sdk.DocumentOptions{AtPosition: 1, AtTime: time.Now()})
	require.ErrorContains(t, err, "not both")
}

func TestProjectionServerLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, sdk.WithNamespace("projections"))

	res, err := c.PutProjection(ctx, "orders", []byte(ordersProjection))
	require.NoError(t, err)
	require.Equal(t, &sdk.ProjectionApplyResult{Name: "orders", Outcome: sdk.OutcomeCreated, Generation: 1}, res)
	res, err = c.PutProjection(ctx, "orders", []byte(ordersProjection))
	require.NoError(t, err)
	require.Equal(t, sdk.OutcomeUnchanged, res.Outcome)

	// ApplyFile takes projection documents too; its version is the generation.
	applied, err := c.ApplyFile(ctx, "orders.yaml", []byte(ordersProjection), true)
	require.NoError(t, err)
	require.Equal(t, []sdk.ApplyResult{{Kind: "projection", Name: "orders", Version: 1, Outcome: sdk.OutcomeUnchanged}}, applied.Results)

	emit := func(id, typ, subject string, data any) int64 {
		t.Helper()
		r, err := c.Append(ctx, sdk.Event{ID: id, Source: "/shop", Type: typ, Subject: subject, Data: data})
		require.NoError(t, err)
		return r.Position
	}
	placed := emit("1", "order.placed", "o-1", map[string]int{"total": 1250})
	emit("2", "order.item_added", "o-1", map[string]int{})
	last := emit("3", "order.item_added", "o-1", map[string]int{})
	emit("4", "order.placed", "o-2", map[string]int{"total": 10})
	shipped := emit("5", "order.shipped", "o-2", map[string]int{})

	doc, err := c.ProjectionDocument(ctx, "orders", "o-1", sdk.DocumentOptions{MinPosition: last})
	require.NoError(t, err)
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 2}`, string(doc.State))
	require.Equal(t, sdk.ProjectionDocument{Key: "o-1", State: doc.State, Position: last, Updates: 3}, *doc)

	past, err := c.ProjectionDocument(ctx, "orders", "o-1", sdk.DocumentOptions{AtPosition: placed})
	require.NoError(t, err)
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 0}`, string(past.State))
	_, err = c.ProjectionDocument(ctx, "orders", "o-9", sdk.DocumentOptions{})
	require.ErrorIs(t, err, sdk.ErrNotFound)
	_, err = c.ProjectionDocument(ctx, "nope", "o-1", sdk.DocumentOptions{})
	require.ErrorIs(t, err, sdk.ErrNotFound)

	page, err := c.QueryProjection(ctx, "orders", sdk.ProjectionQuery{Filter: `doc.status == "shipped"`, MinPosition: shipped})
	require.NoError(t, err)
	require.Len(t, page.Documents, 1)
	require.Equal(t, "o-2", page.Documents[0].Key)
	require.Empty(t, page.Next)

	// Pages follow the cursor, in the order asked for.
	var keys []string
	q := sdk.ProjectionQuery{OrderBy: "-total", Limit: 1}
	for {
		page, err := c.QueryProjection(ctx, "orders", q)
		require.NoError(t, err)
		for _, d := range page.Documents {
			keys = append(keys, d.Key)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	require.Equal(t, []string{"o-1", "o-2"}, keys)

	_, err = c.QueryProjection(ctx, "orders", sdk.ProjectionQuery{Filter: "doc.status =="})
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Equal(t, "/filter", p.Errors[0].Pointer)

	st, err := c.Projection(ctx, "orders")
	require.NoError(t, err)
	require.Equal(t, "orders", st.Name)
	require.Equal(t, 1, st.Generation)
	require.GreaterOrEqual(t, st.Position, shipped)
	require.Contains(t, string(st.Definition), `"indexes":["status"]`)
	list, err := c.Projections(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)

	// A rebuild makes generation 2, which answers the same once caught up.
	st, err = c.RebuildProjection(ctx, "orders")
	require.NoError(t, err)
	require.Equal(t, 1, st.Generation, "the current generation answers while the next is built")
	eventually(t, "the rebuild", func() bool {
		st, err := c.Projection(ctx, "orders")
		require.NoError(t, err)
		return st.Generation == 2 && st.State == sdk.ProjectionRunning
	})
	doc, err = c.ProjectionDocument(ctx, "orders", "o-1", sdk.DocumentOptions{})
	require.NoError(t, err)
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 2}`, string(doc.State))

	require.NoError(t, c.DeleteProjection(ctx, "orders"))
	_, err = c.Projection(ctx, "orders")
	require.ErrorIs(t, err, sdk.ErrNotFound)
	require.ErrorIs(t, c.DeleteProjection(ctx, "orders"), sdk.ErrNotFound)
}

func TestProjectionServerInvalidDefinition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	bad := "name: broken\nkey: event.subject\ninitial: '{}'\non:\n  order.placed: 'state.with('\n"
	_, err := c.PutProjection(ctx, "broken", []byte(bad))
	var de *sdk.DefinitionError
	require.ErrorAs(t, err, &de)
	require.NotEmpty(t, de.Problems)
	require.Equal(t, 5, de.Problems[0].Line, "%+v", de.Problems)
	require.Positive(t, de.Problems[0].Column)
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, sdk.ProblemInvalidProjection, p.Type)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)

	_, err = c.PutProjection(ctx, "a", []byte("name: b\n"+ordersProjection[len("kind: projection\nname: orders\n"):]))
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusBadRequest, p.Status, "the body names another projection")
}

func TestProjectionServerFailsAndResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	_, err := c.PutProjection(ctx, "totals", []byte(`name: totals
key: event.subject
initial: '{"sum": 0}'
on:
  add: 'state.with({"sum": state.sum + event.data.n})'
`))
	require.NoError(t, err)
	add := func(id string, n any) int64 {
		t.Helper()
		r, err := c.Append(ctx, sdk.Event{ID: id, Source: "/t", Type: "add", Subject: "a", Data: map[string]any{"n": n}})
		require.NoError(t, err)
		return r.Position
	}
	add("1", 1)
	bad := add("2", "two") // int + string: the reducer fails
	after := add("3", 3)

	_, err = c.ProjectionDocument(ctx, "totals", "a", sdk.DocumentOptions{MinPosition: after})
	var behind *sdk.ProjectionBehindError
	require.ErrorAs(t, err, &behind)
	require.Equal(t, bad-1, behind.Position)
	require.True(t, behind.Failed)
	require.Equal(t, http.StatusServiceUnavailable, behind.Problem.Status)

	st, err := c.Projection(ctx, "totals")
	require.NoError(t, err)
	require.Equal(t, sdk.ProjectionFailed, st.State)
	require.Equal(t, bad, st.Error.Position)
	require.Equal(t, "2", st.Error.EventID)
	require.Equal(t, "add", st.Error.EventType)
	require.NotEmpty(t, st.Error.Error)

	_, err = c.ResumeProjection(ctx, "totals", bad+1)
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusConflict, p.Status, "only the failed event may be skipped")
	st, err = c.ResumeProjection(ctx, "totals", bad)
	require.NoError(t, err)
	require.Nil(t, st.Error)
	doc, err := c.ProjectionDocument(ctx, "totals", "a", sdk.DocumentOptions{MinPosition: after})
	require.NoError(t, err)
	require.JSONEq(t, `{"sum": 4}`, string(doc.State))
	_, err = c.ResumeProjection(ctx, "totals", 0)
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusConflict, p.Status, "nothing to resume")
}

func ExampleClient_QueryProjection() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-projections"))
	if _, err := c.PutProjection(ctx, "orders", []byte(ordersProjection)); err != nil {
		fmt.Println(err)
		return
	}
	var last int64
	for i, total := range []int{1250, 80, 300} {
		r, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.placed", Subject: fmt.Sprintf("o-%d", i+1), Data: map[string]int{"total": total}})
		if err != nil {
			fmt.Println(err)
			return
		}
		last = r.Position
	}
	// MinPosition: read what was just appended.
	page, err := c.QueryProjection(ctx, "orders", sdk.ProjectionQuery{Filter: `doc.total >= 100`, OrderBy: "-total", MinPosition: last})
	if behind, ok := errors.AsType[*sdk.ProjectionBehindError](err); ok {
		fmt.Println("behind, at position", behind.Position)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range page.Documents {
		fmt.Println(d.Key, string(d.State))
	}
	// Output:
	// o-1 {"items":0,"status":"placed","total":1250}
	// o-3 {"items":0,"status":"placed","total":300}
}
