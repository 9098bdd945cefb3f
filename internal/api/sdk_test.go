package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/stretchr/testify/require"
)

// TestCloudEventsSDKClient sends events with the official CloudEvents Go
// SDK as a real HTTP client, in structured and binary mode, and reads each
// back by lookup and by position, comparing every attribute and the data.
func TestCloudEventsSDKClient(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	mk := func(t *testing.T, id, contentType string, data any) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("https://shop.example.com/orders?x=1&y=é")
		e.SetType("order.placed")
		e.SetSubject("order-123/é")
		e.SetTime(time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC))
		e.SetDataSchema("https://shop.example.com/schemas/order.json")
		e.SetExtension("correlationid", "corr-1")
		e.SetExtension("causationid", "cause 1/é")
		e.SetExtension("partitionkey", "customer-9")
		e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		e.SetExtension("tracestate", "congo=t61rcWkgMzE")
		e.SetExtension("sequence", 42)
		e.SetExtension("myflag", true)
		e.SetExtension("mytext", "hello, world: \"quoted\" é")
		if contentType != "" {
			require.NoError(t, e.SetData(contentType, data))
		}
		require.NoError(t, e.Validate())
		return e
	}
	kinds := []struct {
		name, ct string
		data     any
	}{
		{"json", cloudevents.ApplicationJSON, map[string]any{"order": "123", "total": 9.5, "items": []any{"a", "b"}, "note": "tab\there \"q\" é"}},
		{"text", cloudevents.TextPlain, "plain text\nwith lines é"},
		{"xml", cloudevents.ApplicationXML, []byte(`<order id="123"/>`)},
		{"binary", "application/octet-stream", []byte{0, 1, 2, 0xfe, 0xff}},
		{"none", "", nil},
	}
	modes := []struct {
		name string
		ctx  func(context.Context) context.Context
	}{
		{"structured", cloudevents.WithEncodingStructured},
		{"binary", func(ctx context.Context) context.Context { return ctx }}, // the SDK's default
	}
	for _, mode := range modes {
		for _, kind := range kinds {
			t.Run(mode.name+"/"+kind.name, func(t *testing.T) {
				t.Parallel()
				c := srv.in(t)
				ceClient, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(c.base+"/v1/events"), cehttp.WithHeader("Ensue-Namespace", c.ns), cehttp.WithClient(*c.hc))
				require.NoError(t, err)
				want := mk(t, "sdk-"+mode.name+"-"+kind.name, kind.ct, kind.data)

				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ctx = mode.ctx(cloudevents.ContextWithTarget(ctx, c.base+"/v1/events"))
				res := ceClient.Send(ctx, want)
				require.True(t, cloudevents.IsACK(res), "%v", res)
				var hr *cehttp.Result
				require.True(t, errors.As(res, &hr), "%T %v", res, res)
				require.Equal(t, http.StatusOK, hr.StatusCode)

				// Sending it again is a duplicate, still acknowledged.
				res = ceClient.Send(ctx, want)
				require.True(t, cloudevents.IsACK(res), "%v", res)

				lr := c.get("/v1/events/lookup?source=" + url.QueryEscape(want.Source()) + "&id=" + url.QueryEscape(want.ID()))
				var byLookup record
				require.Equal(t, http.StatusOK, lr.Status, "%s", lr)
				require.NoError(t, json.Unmarshal(lr.Body, &byLookup))
				require.Equal(t, "order-123/é", *byLookup.Stream)
				require.Equal(t, int64(1), *byLookup.Version, "sent twice, stored once")
				rec := c.getRecord(byLookup.Position)
				require.JSONEq(t, string(byLookup.Event), string(rec.Event))

				var got cloudevents.Event
				require.NoError(t, json.Unmarshal(rec.Event, &got), "%s", rec.Event)
				requireSameEvent(t, want, got)
			})
		}
	}

	t.Run("binary mode with a literal percent sign", func(t *testing.T) {
		t.Parallel()
		// sdk-go writes ce-* header values as they are, without
		// percent-encoding, so a value holding '%' arrives as a bare '%'.
		c := srv.in(t)
		ceClient, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(c.base+"/v1/events"), cehttp.WithHeader("Ensue-Namespace", c.ns), cehttp.WithClient(*c.hc))
		require.NoError(t, err)
		want := mk(t, "percent", cloudevents.TextPlain, "x")
		want.SetExtension("mytext", "100% sure")
		want.SetSubject("50%-off")
		res := ceClient.Send(context.Background(), want)
		require.True(t, cloudevents.IsACK(res), "%v", res)
		lr := c.get("/v1/events/lookup?source=" + url.QueryEscape(want.Source()) + "&id=percent")
		var rec record
		require.Equal(t, http.StatusOK, lr.Status, "%s", lr)
		require.NoError(t, json.Unmarshal(lr.Body, &rec))
		var got cloudevents.Event
		require.NoError(t, json.Unmarshal(rec.Event, &got))
		requireSameEvent(t, want, got)
	})

	t.Run("invalid event is a 400 the SDK reports", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		ceClient, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(c.base+"/v1/events"), cehttp.WithHeader("Ensue-Namespace", c.ns), cehttp.WithClient(*c.hc))
		require.NoError(t, err)
		e := mk(t, "bad", "", nil)
		e.SetType("ensue.reserved")
		res := ceClient.Send(context.Background(), e)
		require.False(t, cloudevents.IsACK(res))
		var hr *cehttp.Result
		require.True(t, errors.As(res, &hr), "%T %v", res, res)
		require.Equal(t, http.StatusBadRequest, hr.StatusCode)
	})
}

// requireSameEvent compares every attribute and the data of two events.
func requireSameEvent(t *testing.T, want, got cloudevents.Event) {
	t.Helper()
	require.Equal(t, want.SpecVersion(), got.SpecVersion())
	require.Equal(t, want.ID(), got.ID())
	require.Equal(t, want.Source(), got.Source())
	require.Equal(t, want.Type(), got.Type())
	require.Equal(t, want.Subject(), got.Subject())
	require.Equal(t, want.DataSchema(), got.DataSchema())
	require.Equal(t, want.DataContentType(), got.DataContentType())
	require.True(t, want.Time().Equal(got.Time()), "time %s, want %s", got.Time(), want.Time())
	require.Equal(t, len(want.Extensions()), len(got.Extensions()), "extensions %v, want %v", got.Extensions(), want.Extensions())
	for name, wv := range want.Extensions() {
		gv, ok := got.Extensions()[name]
		require.True(t, ok, "extension %s lost", name)
		// Binary mode carries every extension as a string: compare their
		// canonical string forms.
		ws, err := types.Format(wv)
		require.NoError(t, err)
		gs, err := types.Format(gv)
		require.NoError(t, err)
		require.Equal(t, ws, gs, "extension %s", name)
	}
	if want.DataContentType() == cloudevents.ApplicationJSON {
		require.JSONEq(t, string(want.Data()), string(got.Data()))
	} else {
		require.Equal(t, want.Data(), got.Data())
	}
}
