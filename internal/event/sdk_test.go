package event_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

// sdkEvents are events built with the official CloudEvents Go SDK, one per
// kind of data.
func sdkEvents(t *testing.T) map[string]cloudevents.Event {
	t.Helper()
	mk := func(contentType string, data any) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID("3f1c7a8e-0d7b-4c55-9a59-2b7a4b1f0a11")
		e.SetSource("https://shop.example.com/orders")
		e.SetType("order.placed")
		e.SetSubject("order-123")
		e.SetTime(time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC))
		e.SetDataSchema("https://shop.example.com/schemas/order.json")
		e.SetExtension("correlationid", "corr-1")
		e.SetExtension("causationid", "cause 1/é")
		e.SetExtension("partitionkey", "customer-9")
		e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		e.SetExtension("sequence", 42)
		e.SetExtension("myflag", true)
		e.SetExtension("mytext", "hello, world")
		if data != nil {
			require.NoError(t, e.SetData(contentType, data))
		}
		require.NoError(t, e.Validate())
		return e
	}
	return map[string]cloudevents.Event{
		"json":   mk(cloudevents.ApplicationJSON, map[string]any{"order": "123", "total": 9.5, "items": []any{"a", "b"}, "note": "tab\there \"q\" é"}),
		"text":   mk(cloudevents.TextPlain, "plain text\nwith lines é"),
		"xml":    mk(cloudevents.ApplicationXML, []byte(`<order id="123"/>`)),
		"binary": mk("application/octet-stream", []byte{0, 1, 2, 0xfe, 0xff}),
		"none":   mk("", nil),
	}
}

// requireSameAsSDK asserts that ev carries what the SDK event carried.
func requireSameAsSDK(t *testing.T, want cloudevents.Event, ev *event.Event) {
	t.Helper()
	require.Equal(t, want.ID(), ev.ID)
	require.Equal(t, want.Source(), ev.Source)
	require.Equal(t, want.Type(), ev.Type)
	require.Equal(t, want.Subject(), ev.Subject)
	require.Equal(t, want.DataSchema(), ev.DataSchema)
	require.Equal(t, want.DataContentType(), ev.DataContentType)
	got, err := time.Parse(time.RFC3339Nano, ev.Time)
	require.NoError(t, err)
	require.True(t, want.Time().Equal(got), "time %s, want %s", ev.Time, want.Time())
	require.Equal(t, "corr-1", ev.CorrelationID)
	require.Equal(t, "cause 1/é", ev.CausationID)
	require.Equal(t, "customer-9", ev.PartitionKey)
	require.Equal(t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ev.TraceParent)
	require.Equal(t, "42", ev.Sequence)

	var stored map[string]any
	require.NoError(t, json.Unmarshal(ev.JSON, &stored))
	require.Equal(t, "hello, world", stored["mytext"])
	require.Contains(t, []any{true, "true"}, stored["myflag"]) // binary mode carries every extension as a string

	switch {
	case want.Data() == nil:
		require.NotContains(t, stored, "data")
		require.NotContains(t, stored, "data_base64")
	case want.DataContentType() == cloudevents.ApplicationJSON:
		data, err := json.Marshal(stored["data"])
		require.NoError(t, err)
		require.JSONEq(t, string(want.Data()), string(data))
	case stored["data_base64"] != nil:
		raw, err := base64.StdEncoding.DecodeString(stored["data_base64"].(string))
		require.NoError(t, err)
		require.Equal(t, want.Data(), raw)
	default:
		require.Equal(t, string(want.Data()), stored["data"])
	}

	// And back: the SDK reads the canonical JSON as the same event.
	var back cloudevents.Event
	require.NoError(t, json.Unmarshal(ev.JSON, &back))
	require.Equal(t, want.ID(), back.ID())
	require.Equal(t, want.Type(), back.Type())
	require.Equal(t, want.Subject(), back.Subject())
	require.True(t, want.Time().Equal(back.Time()))
	if want.DataContentType() == cloudevents.ApplicationJSON {
		require.JSONEq(t, string(want.Data()), string(back.Data()))
	} else {
		require.Equal(t, want.Data(), back.Data())
	}
}

func TestSDKStructuredJSON(t *testing.T) {
	t.Parallel()
	for name, want := range sdkEvents(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := json.Marshal(want)
			require.NoError(t, err)
			ev, err := event.ParseStructured(body, event.Limits{})
			require.NoError(t, err, "%s", body)
			requireSameAsSDK(t, want, ev)
			checkEvent(t, ev, event.Limits{})
		})
	}
}

func TestSDKHTTP(t *testing.T) {
	t.Parallel()
	for name, want := range sdkEvents(t) {
		t.Run(name+"/binary", func(t *testing.T) {
			t.Parallel()
			req, err := cehttp.NewHTTPRequestFromEvent(binding.WithForceBinary(context.Background()), "http://localhost/events", want)
			require.NoError(t, err)
			h, body := drain(t, req)
			require.NotEmpty(t, h.Get("Ce-Id"), "the SDK did not use binary mode")
			ev, err := event.ParseBinary(h, body, event.Limits{})
			require.NoError(t, err, "%v %q", h, body)
			requireSameAsSDK(t, want, ev)
			checkEvent(t, ev, event.Limits{})
		})
		t.Run(name+"/structured", func(t *testing.T) {
			t.Parallel()
			req, err := cehttp.NewHTTPRequestFromEvent(binding.WithForceStructured(context.Background()), "http://localhost/events", want)
			require.NoError(t, err)
			h, body := drain(t, req)
			require.Equal(t, cloudevents.ApplicationCloudEventsJSON, h.Get("Content-Type"))
			require.False(t, event.IsBatchBody(body))
			ev, err := event.ParseStructured(body, event.Limits{})
			require.NoError(t, err, "%s", body)
			requireSameAsSDK(t, want, ev)
		})
	}
}

func TestSDKBatch(t *testing.T) {
	t.Parallel()
	var events []cloudevents.Event
	for _, e := range sdkEvents(t) {
		events = append(events, e)
	}
	req, err := cehttp.NewHTTPRequestFromEvents(context.Background(), "http://localhost/events", events)
	require.NoError(t, err)
	h, body := drain(t, req)
	require.Equal(t, cloudevents.ApplicationCloudEventsBatchJSON, h.Get("Content-Type"))
	require.True(t, event.IsBatchBody(body))
	got, errs, err := event.ParseBatch(body, event.Limits{})
	require.NoError(t, err)
	require.Len(t, got, len(events))
	for i := range events {
		require.NoError(t, errs[i])
		requireSameAsSDK(t, events[i], got[i])
	}
}

func drain(t *testing.T, req *http.Request) (http.Header, []byte) {
	t.Helper()
	if req.Body == nil {
		return req.Header, nil
	}
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	require.NoError(t, req.Body.Close())
	return req.Header, body
}
