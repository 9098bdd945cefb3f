package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

// base is a minimal valid event object; with(…) adds members to it.
const base = `{"specversion":"1.0","id":"1","source":"/s","type":"t"`

func with(members string) string {
	if members == "" {
		return base + "}"
	}
	return base + "," + members + "}"
}

// checkEvent asserts the invariants every returned Event keeps: its JSON is
// valid, compact JSON in the canonical member order that encoding/json decodes
// back to the same attributes, without expectedversion, and parsing it again
// gives the same Event.
func checkEvent(t testing.TB, ev *event.Event, lim event.Limits) {
	t.Helper()
	require.NotNil(t, ev)
	require.True(t, json.Valid(ev.JSON), "invalid JSON: %s", ev.JSON)
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, ev.JSON))
	require.Equal(t, compact.String(), string(ev.JSON), "not compact")
	limit := lim.MaxEventBytes
	if limit <= 0 {
		limit = event.DefaultMaxEventBytes
	}
	require.LessOrEqual(t, len(ev.JSON), limit)

	dec := json.NewDecoder(bytes.NewReader(ev.JSON))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	require.Equal(t, "1.0", m["specversion"])
	for name, want := range map[string]string{
		"id": ev.ID, "source": ev.Source, "type": ev.Type, "subject": ev.Subject,
		"time": ev.Time, "datacontenttype": ev.DataContentType, "dataschema": ev.DataSchema,
		"correlationid": ev.CorrelationID, "causationid": ev.CausationID,
		"partitionkey": ev.PartitionKey, "traceparent": ev.TraceParent,
		"tracestate": ev.TraceState, "sequence": ev.Sequence,
	} {
		got, ok := m[name]
		if want == "" && !ok {
			continue
		}
		require.True(t, ok, "%s missing from %s", name, ev.JSON)
		require.Equal(t, want, fmt.Sprint(got), "attribute %s", name)
	}
	require.NotContains(t, m, "expectedversion")
	require.False(t, m["data"] != nil && m["data_base64"] != nil, "both data and data_base64")

	keys := memberNames(t, ev.JSON)
	require.Equal(t, []string{"specversion", "id", "source", "type"}, keys[:4])
	rank := map[string]int{"subject": 1, "time": 2, "datacontenttype": 3, "dataschema": 4, "data": 100, "data_base64": 100}
	require.True(t, slices.IsSortedFunc(keys[4:], func(a, b string) int { return rankOf(rank, a) - rankOf(rank, b) }), "member order %v", keys)

	again, err := event.ParseStructured(ev.JSON, lim)
	require.NoError(t, err, "reparsing %s", ev.JSON)
	want := *ev
	want.ExpectedVersion, want.HasExpectedVersion = 0, false
	require.Equal(t, &want, again)
}

// rankOf orders members: context attributes, then extensions (all equal, in
// the order given), then data.
func rankOf(rank map[string]int, name string) int {
	if r, ok := rank[name]; ok {
		return r
	}
	return 10
}

// memberNames lists the top-level member names of a JSON object in order.
func memberNames(t testing.TB, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		names = append(names, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return names
}

// requireError asserts err is an *event.Error with the status and exactly the
// pointers given (in any order), and returns it.
func requireError(t testing.TB, err error, status int, pointers ...string) *event.Error {
	t.Helper()
	require.Error(t, err)
	var e *event.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, status, e.Status, "%v", e)
	got := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		got[i] = fe.Pointer
		require.NotEmpty(t, fe.Message)
	}
	require.ElementsMatch(t, pointers, got, "%v", e)
	require.NotEmpty(t, e.Title)
	require.NotEmpty(t, e.Detail)
	return e
}
