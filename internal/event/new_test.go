package event_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		attrs event.Attributes
		json  string
	}{
		{
			name:  "minimal",
			attrs: event.Attributes{ID: "1", Source: "/s", Type: "t"},
			json:  with(""),
		},
		{
			name:  "reserved type, as Ensue emits",
			attrs: event.Attributes{ID: "1", Source: "/ensue", Type: "ensue.rule.fired"},
			json:  `{"specversion":"1.0","id":"1","source":"/ensue","type":"ensue.rule.fired"}`,
		},
		{
			name: "every attribute",
			attrs: event.Attributes{
				ID: "1", Source: "/s", Type: "t", Subject: "s", Time: "2024-05-01T12:30:00Z",
				DataContentType: "application/json", DataSchema: "https://example.com/s",
				CorrelationID: "r", CausationID: "c", PartitionKey: "p", TraceParent: "tp", TraceState: "ts",
				Sequence: "9", ExpectedVersion: 5, HasExpectedVersion: true,
				Extensions: map[string]any{
					"zint": -3, "uint": uint64(math.MaxUint64), "float": 2.5, "big": 1e21, "small": float32(0.25),
					"bool": true, "str": "a\"b", "num": json.Number("1.5e3"), "gone": nil,
				},
				Data: json.RawMessage(" {\n \"k\" : [ 1 , true ] } "),
			},
			json: with(`"subject":"s","time":"2024-05-01T12:30:00Z","datacontenttype":"application/json","dataschema":"https://example.com/s",` +
				`"correlationid":"r","causationid":"c","partitionkey":"p","traceparent":"tp","tracestate":"ts","sequence":"9",` +
				`"big":1e+21,"bool":true,"float":2.5,"num":1.5e3,"small":0.25,"str":"a\"b","uint":18446744073709551615,"zint":-3,` +
				`"data":{"k":[1,true]}`),
		},
		{
			name:  "integer sequence through Extensions",
			attrs: event.Attributes{ID: "1", Source: "/s", Type: "t", Extensions: map[string]any{"sequence": int64(12)}},
			json:  with(`"sequence":12`),
		},
		{
			name:  "binary data",
			attrs: event.Attributes{ID: "1", Source: "/s", Type: "t", DataBinary: []byte{0, 1, 2}},
			json:  with(`"data_base64":"AAEC"`),
		},
		{
			name:  "empty data is none",
			attrs: event.Attributes{ID: "1", Source: "/s", Type: "t", Data: json.RawMessage{}, DataBinary: []byte{}},
			json:  with(""),
		},
		{
			name:  "JSON null data is none",
			attrs: event.Attributes{ID: "1", Source: "/s", Type: "t", Data: json.RawMessage("null")},
			json:  with(""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.New(tt.attrs)
			require.NoError(t, err)
			require.Equal(t, tt.json, string(ev.JSON))
			require.Equal(t, tt.attrs.ID, ev.ID)
			require.Equal(t, tt.attrs.Subject, ev.Subject)
			require.Equal(t, tt.attrs.HasExpectedVersion, ev.HasExpectedVersion)
			require.Equal(t, tt.attrs.ExpectedVersion, ev.ExpectedVersion)
			checkEvent(t, ev, event.Limits{AllowReserved: true})
		})
	}
}

func TestNewInvalid(t *testing.T) {
	t.Parallel()
	ok := event.Attributes{ID: "1", Source: "/s", Type: "t"}
	mod := func(f func(a *event.Attributes)) event.Attributes {
		a := ok
		f(&a)
		return a
	}
	tests := []struct {
		name     string
		attrs    event.Attributes
		status   int
		pointers []string
	}{
		{"nothing", event.Attributes{}, 400, []string{"/id", "/source", "/type"}},
		{"invalid UTF-8", mod(func(a *event.Attributes) { a.Subject = "\xff"; a.CorrelationID = "\xfe" }), 400, []string{"/subject", "/correlationid"}},
		{"bad time", mod(func(a *event.Attributes) { a.Time = "2024-05-01" }), 400, []string{"/time"}},
		{"negative expectedversion", mod(func(a *event.Attributes) { a.Subject = "s"; a.ExpectedVersion, a.HasExpectedVersion = -1, true }), 400, []string{"/expectedversion"}},
		{"expectedversion without subject", mod(func(a *event.Attributes) { a.HasExpectedVersion = true }), 400, []string{"/expectedversion"}},
		{"invalid JSON data", mod(func(a *event.Attributes) { a.Data = json.RawMessage(`{"a":`) }), 400, []string{"/data"}},
		{"data and binary data", mod(func(a *event.Attributes) { a.Data, a.DataBinary = json.RawMessage(`1`), []byte{1} }), 400, []string{"/data_base64"}},
		{"invalid extension name", mod(func(a *event.Attributes) { a.Extensions = map[string]any{"Bad": 1, "a-b": 2} }), 400, []string{"/Bad", "/a-b"}},
		{"extension values of other types", mod(func(a *event.Attributes) {
			a.Extensions = map[string]any{"m": map[string]int{}, "s": []int{1}, "nan": math.NaN(), "inf": math.Inf(1), "num": json.Number("x"), "utf": "\xff"}
		}), 400, []string{"/m", "/s", "/nan", "/inf", "/num", "/utf"}},
		{"attributes are not extensions", mod(func(a *event.Attributes) {
			a.Extensions = map[string]any{"id": "2", "data": "x", "expectedversion": 1, "specversion": "1.0"}
		}), 400, []string{"/id", "/data", "/expectedversion", "/specversion"}},
		{"named extension given twice", mod(func(a *event.Attributes) {
			a.CorrelationID = "r"
			a.Extensions = map[string]any{"correlationid": "r2"}
		}), 400, []string{"/correlationid"}},
		{"named extension of the wrong type", mod(func(a *event.Attributes) {
			a.Extensions = map[string]any{"correlationid": 1, "sequence": 1.5}
		}), 400, []string{"/correlationid", "/sequence"}},
		{"too large", mod(func(a *event.Attributes) { a.DataBinary = make([]byte, event.DefaultMaxEventBytes) }), 413, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.New(tt.attrs)
			require.Nil(t, ev)
			requireError(t, err, tt.status, tt.pointers...)
		})
	}
}

func TestNewIsDeterministic(t *testing.T) {
	t.Parallel()
	attrs := event.Attributes{ID: "1", Source: "/s", Type: "t", Extensions: map[string]any{}}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		attrs.Extensions[name] = name
	}
	first, err := event.New(attrs)
	require.NoError(t, err)
	for range 20 {
		ev, err := event.New(attrs)
		require.NoError(t, err)
		require.Equal(t, string(first.JSON), string(ev.JSON))
	}
}

func TestDataOfTheEvent(t *testing.T) {
	for _, tc := range []struct {
		attrs event.Attributes
		want  string
	}{
		{event.Attributes{ID: "1", Source: "/s", Type: "t", Data: []byte(`{"a": [1, "},"]}`)}, `{"a":[1,"},"]}`},
		{event.Attributes{ID: "1", Source: "/s", Type: "t"}, ``},
		{event.Attributes{ID: "1", Source: "/s", Type: "t", DataBinary: []byte{0, 1}}, ``},
	} {
		ev, err := event.New(tc.attrs)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(ev.Data()); got != tc.want {
			t.Errorf("Data() = %q, want %q (event %s)", got, tc.want, ev.JSON)
		}
	}
	ev, err := event.ParseStructured([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"text \"quoted\""}`), event.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ev.Data()); got != `"text \"quoted\""` {
		t.Errorf("text data: %q", got)
	}
}

func TestWithExtension(t *testing.T) {
	for _, attrs := range []event.Attributes{
		{ID: "1", Source: "/s", Type: "t", Data: []byte(`{"a":1}`)},
		{ID: "1", Source: "/s", Type: "t"},
		{ID: "1", Source: "/s", Type: "t", DataBinary: []byte{0, 1}},
	} {
		ev, err := event.New(attrs)
		require.NoError(t, err)
		got, err := ev.WithExtension("ensuenote", `say "hi"`)
		require.NoError(t, err)
		back, err := event.ParseStructured(got.JSON, event.Limits{})
		require.NoError(t, err, "%s", got.JSON)
		require.Equal(t, string(ev.Data()), string(got.Data()))
		require.Contains(t, string(back.JSON), `"ensuenote":"say \"hi\""`)
		_, err = got.WithExtension("ensuenote", "again")
		require.Error(t, err)
	}
	ev, _ := event.New(event.Attributes{ID: "1", Source: "/s", Type: "t"})
	_, err := ev.WithExtension("Bad-Name", "x")
	require.Error(t, err)
}

func TestIsReserved(t *testing.T) {
	for _, tc := range []struct {
		attrs event.Attributes
		want  bool
	}{
		{event.Attributes{ID: "1", Source: "/s", Type: "ensue.run.started"}, true},
		{event.Attributes{ID: `,"type":"ensue.x`, Source: "/s", Type: "order.placed"}, false},
		{event.Attributes{ID: "1", Source: "/s", Type: "order.placed", Data: []byte(`{"type":"ensue.x"}`)}, false},
	} {
		ev, err := event.New(tc.attrs)
		require.NoError(t, err)
		require.Equal(t, tc.want, event.IsReserved(ev.JSON), "%s", ev.JSON)
	}
}
