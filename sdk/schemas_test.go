package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/sdk"
)

const paymentV1 = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "amount": {"type": "integer", "minimum": 0},
    "currency": {"type": "string"}
  },
  "required": ["amount"]
}`

// paymentV2 requires a field version 1 did not: old events break it.
const paymentV2 = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "amount": {"type": "integer", "minimum": 0},
    "currency": {"type": "string"},
    "method": {"type": "string"}
  },
  "required": ["amount", "method"]
}`

// paymentRelaxed accepts more than version 1 (any amount): compatible.
const paymentRelaxed = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "amount": {"type": "integer"},
    "currency": {"type": "string"}
  },
  "required": ["amount"]
}`

func TestSchemaRequestShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cs := newCannedServer(t, 201, "application/json", `{"type":"billing/invoice paid","version":1,"created":true}`)
	c := sdk.New(cs.URL, sdk.WithNamespace("shop"))

	res, err := c.RegisterSchema(ctx, "billing/invoice paid", []byte(`{}`), true)
	require.NoError(t, err)
	require.Equal(t, &sdk.SchemaRegistration{Type: "billing/invoice paid", Version: 1, Created: true}, res)
	got := cs.last(t)
	require.Equal(t, http.MethodPut, got.Method)
	require.Equal(t, "/v1/schemas/billing%2Finvoice%20paid", got.EscapedPath, "a type is one path segment")
	require.Equal(t, "force=true", got.Query)
	require.Equal(t, "application/schema+json", got.Header.Get("Content-Type"))
	require.Equal(t, "shop", got.Header.Get("Ensue-Namespace"))
	require.Equal(t, "{}", string(got.Body))

	_, _ = c.RegisterSchema(ctx, "a%b", nil, false)
	got = cs.last(t)
	require.Equal(t, "/v1/schemas/a%25b", got.EscapedPath)
	require.Empty(t, got.Query)
	require.NotNil(t, got.Body)

	_, _ = c.SchemaVersion(ctx, "order.placed", 3)
	require.Equal(t, "/v1/schemas/order.placed/versions/3", cs.last(t).Path)
	_, _ = c.SetSchemaCompatibility(ctx, "order.placed", sdk.CompatibilityFull)
	require.JSONEq(t, `{"compatibility":"full"}`, string(cs.last(t).Body))
	_, _ = c.InferSchema(ctx, "order.placed", 50)
	require.Equal(t, "/v1/schemas/order.placed/infer", cs.last(t).Path)
	require.Equal(t, "limit=50", cs.last(t).Query)
	_, _ = c.LintEnvelope(ctx, 0)
	require.Equal(t, "/v1/lint/envelope", cs.last(t).Path)
	require.Empty(t, cs.last(t).Query)
	_, _ = c.SetNamespaceSettings(ctx, sdk.NamespaceSettings{SchemaMode: sdk.SchemaModeEnforce})
	require.Equal(t, "/v1/namespaces/shop/settings", cs.last(t).Path)
	require.JSONEq(t, `{"schema_mode":"enforce"}`, string(cs.last(t).Body))
	_, _ = sdk.New(cs.URL).NamespaceSettings(ctx)
	require.Equal(t, "/v1/namespaces/default/settings", cs.last(t).Path, "no namespace is the server's default")

	_, err = c.Schema(ctx, "")
	require.ErrorContains(t, err, "event type is required")
	_, err = c.SchemaVersion(ctx, "order.placed", 0)
	require.ErrorContains(t, err, "versions count from 1")
	require.ErrorContains(t, c.DeleteSchemaVersion(ctx, "order.placed", -1), "versions count from 1")
}

func TestSchemaServerRegisterAndVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, sdk.WithNamespace("billing"))
	const typ = "payment.captured"

	types, err := c.Schemas(ctx)
	require.NoError(t, err)
	require.Empty(t, types)
	_, err = c.Schema(ctx, typ)
	require.ErrorIs(t, err, sdk.ErrNotFound)
	_, err = c.SchemaVersions(ctx, typ)
	require.ErrorIs(t, err, sdk.ErrNotFound)

	reg, err := c.RegisterSchema(ctx, typ, []byte(paymentV1), false)
	require.NoError(t, err)
	require.Equal(t, &sdk.SchemaRegistration{Type: typ, Version: 1, Created: true}, reg)
	reg, err = c.RegisterSchema(ctx, typ, []byte(paymentV1), false)
	require.NoError(t, err)
	require.Equal(t, &sdk.SchemaRegistration{Type: typ, Version: 1, Created: false}, reg, "the same schema again stores nothing")

	check, err := c.CheckSchema(ctx, typ, []byte(paymentV2))
	require.NoError(t, err)
	require.False(t, check.Compatible)
	require.Equal(t, sdk.CompatibilityBackward, check.Compatibility)
	require.Equal(t, 2, check.WouldBeVersion)
	require.NotEmpty(t, check.Changes)
	require.Equal(t, "/properties/method", check.Changes[0].Pointer, "%+v", check.Changes)
	require.Contains(t, check.Changes[0].Message, "became required")

	_, err = c.RegisterSchema(ctx, typ, []byte(paymentV2), false)
	var ie *sdk.IncompatibleSchemaError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, typ, ie.Type)
	require.Equal(t, check.Changes, ie.Changes, "register and check report the same changes")
	var p *sdk.Problem
	require.ErrorAs(t, err, &p, "an IncompatibleSchemaError wraps the server's Problem")
	require.Equal(t, http.StatusConflict, p.Status)
	require.Equal(t, sdk.ProblemIncompatibleSchema, p.Type)
	versions, err := c.SchemaVersions(ctx, typ)
	require.NoError(t, err)
	require.Len(t, versions, 1, "a refused schema stores nothing")

	check, err = c.CheckSchema(ctx, typ, []byte(paymentRelaxed))
	require.NoError(t, err)
	require.True(t, check.Compatible, "%+v", check.Changes)
	require.Empty(t, check.Changes)

	reg, err = c.RegisterSchema(ctx, typ, []byte(paymentV2), true)
	require.NoError(t, err)
	require.Equal(t, &sdk.SchemaRegistration{Type: typ, Version: 2, Created: true}, reg, "force registers a breaking version")

	_, err = c.RegisterSchema(ctx, typ, []byte(`{"type": "no-such-type"}`), false)
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Equal(t, sdk.ProblemInvalidSchema, p.Type)
	_, err = c.RegisterSchema(ctx, typ, []byte(`{"type": `), false)
	require.ErrorAs(t, err, &p)
	require.Equal(t, sdk.ProblemInvalidSchema, p.Type)

	latest, err := c.Schema(ctx, typ)
	require.NoError(t, err)
	require.Equal(t, 2, latest.Version)
	require.Equal(t, sdk.CompatibilityBackward, latest.Compatibility)
	require.False(t, latest.RegisteredAt.IsZero())
	require.JSONEq(t, paymentV2, string(latest.Document))
	first, err := c.SchemaVersion(ctx, typ, 1)
	require.NoError(t, err)
	require.JSONEq(t, paymentV1, string(first.Document))
	_, err = c.SchemaVersion(ctx, typ, 9)
	require.ErrorIs(t, err, sdk.ErrNotFound)

	versions, err = c.SchemaVersions(ctx, typ)
	require.NoError(t, err)
	require.Len(t, versions, 2)
	require.Equal(t, 1, versions[0].Version)
	require.Equal(t, 2, versions[1].Version)
	require.Equal(t, first.RegisteredAt.Truncate(1e6), versions[0].RegisteredAt.Truncate(1e6))

	mode, err := c.SetSchemaCompatibility(ctx, typ, sdk.CompatibilityNone)
	require.NoError(t, err)
	require.Equal(t, sdk.CompatibilityNone, mode)
	reg, err = c.RegisterSchema(ctx, typ, []byte(`{"type": "object"}`), false)
	require.NoError(t, err)
	require.Equal(t, 3, reg.Version, "mode none checks nothing")
	_, err = c.SetSchemaCompatibility(ctx, typ, "sideways")
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusBadRequest, p.Status)

	// A type with a slash is one path segment all the way.
	reg, err = c.RegisterSchema(ctx, "billing/refund issued", []byte(paymentV1), false)
	require.NoError(t, err)
	require.Equal(t, 1, reg.Version)
	s, err := c.Schema(ctx, "billing/refund issued")
	require.NoError(t, err)
	require.Equal(t, "billing/refund issued", s.Type)

	types, err = c.Schemas(ctx)
	require.NoError(t, err)
	require.Equal(t, []sdk.SchemaType{
		{Type: "billing/refund issued", LatestVersion: 1, Versions: 1, Compatibility: sdk.CompatibilityBackward},
		{Type: typ, LatestVersion: 3, Versions: 3, Compatibility: sdk.CompatibilityNone},
	}, types)

	// The latest version validates events: it goes only in mode off.
	err = c.DeleteSchemaVersion(ctx, typ, 3)
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusConflict, p.Status)
	require.NoError(t, c.DeleteSchemaVersion(ctx, typ, 1))
	_, err = c.SchemaVersion(ctx, typ, 1)
	require.ErrorIs(t, err, sdk.ErrNotFound)
	require.ErrorIs(t, c.DeleteSchemaVersion(ctx, typ, 1), sdk.ErrNotFound)
	settings, err := c.SetNamespaceSettings(ctx, sdk.NamespaceSettings{SchemaMode: sdk.SchemaModeOff})
	require.NoError(t, err)
	require.Equal(t, sdk.SchemaModeOff, settings.SchemaMode)
	require.NoError(t, c.DeleteSchemaVersion(ctx, typ, 3))
	versions, err = c.SchemaVersions(ctx, typ)
	require.NoError(t, err)
	require.Equal(t, []int{2}, []int{versions[0].Version})
	require.Len(t, versions, 1)
}

func TestSchemaServerInferModeAndLint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := servertest.Start(t)
	c := sdk.New(srv.URL, sdk.WithNamespace("shop"))
	const typ = "order.placed"

	_, err := c.InferSchema(ctx, typ, 0)
	require.ErrorIs(t, err, sdk.ErrNotFound, "no event to infer from")

	for i := range 3 {
		ev := sdk.Event{Source: "/shop", Type: typ, Subject: fmt.Sprintf("order-%d", i),
			Data: map[string]any{"total": 100 * (i + 1), "currency": "EUR"}}
		if i == 2 {
			ev.Subject = "" // lint counts it
		}
		_, err := c.Append(ctx, ev)
		require.NoError(t, err)
	}
	_, err = c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.paid", Subject: "order-0",
		Extensions: map[string]any{"correlationid": "c-1"}, Time: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)})
	require.NoError(t, err)

	inferred, err := c.InferSchema(ctx, typ, 0)
	require.NoError(t, err)
	require.Equal(t, 3, inferred.Samples)
	var doc struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	require.NoError(t, json.Unmarshal(inferred.Document, &doc), string(inferred.Document))
	require.Equal(t, "object", doc.Type)
	require.Contains(t, doc.Properties, "total")
	require.ElementsMatch(t, []string{"currency", "total"}, doc.Required)
	limited, err := c.InferSchema(ctx, typ, 2)
	require.NoError(t, err)
	require.Equal(t, 2, limited.Samples)

	// The draft registers as it is, and the events it came from match it.
	reg, err := c.RegisterSchema(ctx, typ, inferred.Document, false)
	require.NoError(t, err)
	require.Equal(t, 1, reg.Version)

	settings, err := c.NamespaceSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, sdk.SchemaModeWarn, settings.SchemaMode, "the default")
	settings, err = c.SetNamespaceSettings(ctx, sdk.NamespaceSettings{SchemaMode: sdk.SchemaModeEnforce})
	require.NoError(t, err)
	require.Equal(t, sdk.SchemaModeEnforce, settings.SchemaMode)
	_, err = c.Append(ctx, sdk.Event{Source: "/shop", Type: typ, Subject: "order-9", Data: map[string]any{"total": "a lot"}})
	var p *sdk.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, sdk.ProblemSchemaViolation, p.Type)
	require.NotEmpty(t, p.Errors)
	_, err = c.Append(ctx, sdk.Event{Source: "/shop", Type: typ, Subject: "order-9", Data: map[string]any{"total": 5, "currency": "EUR"}})
	require.NoError(t, err)
	_, err = c.SetNamespaceSettings(ctx, sdk.NamespaceSettings{SchemaMode: "strict"})
	require.ErrorAs(t, err, &p)
	require.Equal(t, http.StatusBadRequest, p.Status)
	other, err := sdk.New(srv.URL, sdk.WithNamespace("other")).NamespaceSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, sdk.SchemaModeWarn, other.SchemaMode, "settings belong to one namespace")

	lint, err := c.LintEnvelope(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, 5, lint.EventsExamined)
	require.Equal(t, []sdk.EnvelopeGaps{
		{Type: typ, Events: 4, MissingSubject: 1, MissingTime: 4, MissingCorrelationID: 4},
	}, lint.Types, "order.paid has everything")
	lint, err = c.LintEnvelope(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, 2, lint.EventsExamined)
}

func ExampleClient_RegisterSchema() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-schemas"))

	v1 := []byte(`{"type": "object", "properties": {"amount": {"type": "integer"}}, "required": ["amount"]}`)
	for range 2 {
		reg, err := c.RegisterSchema(ctx, "payment.captured", v1, false)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("version", reg.Version, "created", reg.Created)
	}

	// Requiring a new field breaks the events already sent.
	v2 := []byte(`{"type": "object", "properties": {"amount": {"type": "integer"}, "method": {"type": "string"}}, "required": ["amount", "method"]}`)
	_, err := c.RegisterSchema(ctx, "payment.captured", v2, false)
	if ie, ok := errors.AsType[*sdk.IncompatibleSchemaError](err); ok {
		fmt.Println(ie.Changes[0].Pointer, ie.Changes[0].Message)
	}
	// Output:
	// version 1 created true
	// version 1 created false
	// /properties/method property `method` became required: events valid under version 1 would be rejected by version 2
}

func ExampleClient_InferSchema() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-infer"))
	for _, total := range []int{1250, 90} {
		ev := sdk.Event{Source: "/shop", Type: "order.placed", Subject: "order-1", Data: map[string]any{"total": total}}
		if _, err := c.Append(ctx, ev); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	inf, err := c.InferSchema(ctx, "order.placed", 0)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("from %d events:\n%s", inf.Samples, inf.Document)
	if _, err := c.RegisterSchema(ctx, "order.placed", inf.Document, false); err != nil {
		fmt.Println("error:", err)
		return
	}

	if _, err := c.SetNamespaceSettings(ctx, sdk.NamespaceSettings{SchemaMode: sdk.SchemaModeEnforce}); err != nil {
		fmt.Println("error:", err)
		return
	}
	_, err = c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.placed", Subject: "order-2", Data: map[string]any{"total": "a lot"}})
	if p, ok := errors.AsType[*sdk.Problem](err); ok && p.Type == sdk.ProblemSchemaViolation {
		for _, fe := range p.Errors {
			fmt.Printf("refused: %s: %s\n", fe.Pointer, fe.Message)
		}
	}
	// Output:
	// from 2 events:
	// {
	//   "$schema": "https://json-schema.org/draft/2020-12/schema",
	//   "title": "order.placed",
	//   "description": "Inferred from 2 events",
	//   "type": "object",
	//   "properties": {
	//     "total": {
	//       "type": "integer"
	//     }
	//   },
	//   "required": [
	//     "total"
	//   ]
	// }
	// refused: /data/total: must be integer but is string
}
