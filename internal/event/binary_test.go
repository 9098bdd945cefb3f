package event_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

// headers builds a header set with the required ce-* attributes plus kv
// (name, value pairs, added as given; a value "" for a required one deletes it).
func headers(kv ...string) http.Header {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", "1")
	h.Set("Ce-Source", "/s")
	h.Set("Ce-Type", "t")
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			h.Del(kv[i])
			continue
		}
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestParseBinaryValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
		body string
		lim  event.Limits
		want event.Event // JSON checked separately
		json string
	}{
		{
			name: "no data",
			h:    headers(),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(""),
		},
		{
			name: "content type without data",
			h:    headers("Content-Type", "application/json"),
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "application/json"},
			json: with(`"datacontenttype":"application/json"`),
		},
		{
			name: "JSON data is compacted",
			h:    headers("Content-Type", "application/json; charset=utf-8"),
			body: "{ \"a\" : [ 1, \"x y\" ],\n \"b\": null }",
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "application/json; charset=utf-8"},
			json: with(`"datacontenttype":"application/json; charset=utf-8","data":{"a":[1,"x y"],"b":null}`),
		},
		{
			name: "+json media type",
			h:    headers("Content-Type", "Application/Vnd.Order+JSON"),
			body: `"s"`,
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "Application/Vnd.Order+JSON"},
			json: with(`"datacontenttype":"Application/Vnd.Order+JSON","data":"s"`),
		},
		{
			name: "JSON null is no data",
			h:    headers("Content-Type", "application/json"),
			body: " null ",
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "application/json"},
			json: with(`"datacontenttype":"application/json"`),
		},
		{
			name: "text data is a JSON string",
			h:    headers("Content-Type", "text/plain; charset=utf-8"),
			body: "héllo\n\"world\"\t\x01",
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "text/plain; charset=utf-8"},
			json: with(`"datacontenttype":"text/plain; charset=utf-8","data":"héllo\n\"world\"\t\u0001"`),
		},
		{
			name: "XML data is a JSON string",
			h:    headers("Content-Type", "application/xml"),
			body: `<a x="1"/>`,
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "application/xml"},
			json: with(`"datacontenttype":"application/xml","data":"<a x=\"1\"/>"`),
		},
		{
			name: "+xml data is a JSON string",
			h:    headers("Content-Type", "image/svg+xml"),
			body: `<svg/>`,
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "image/svg+xml"},
			json: with(`"datacontenttype":"image/svg+xml","data":"<svg/>"`),
		},
		{
			name: "text that is not UTF-8 is base64",
			h:    headers("Content-Type", "text/plain; charset=latin1"),
			body: "caf\xe9",
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "text/plain; charset=latin1"},
			json: with(`"datacontenttype":"text/plain; charset=latin1","data_base64":"Y2Fm6Q=="`),
		},
		{
			name: "binary data is base64",
			h:    headers("Content-Type", "application/octet-stream"),
			body: "\x00\x01\x02\xff",
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "application/octet-stream"},
			json: with(`"datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="`),
		},
		{
			name: "data without a content type is base64",
			h:    headers(),
			body: "plain",
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"data_base64":"cGxhaW4="`),
		},
		{
			name: "a percent sign that starts no escape is kept as sent",
			h:    headers("Ce-Subject", "100% sure", "Ce-X", "%zz%"),
			want: event.Event{ID: "1", Source: "/s", Type: "t", Subject: "100% sure"},
			json: with(`"subject":"100% sure","x":"%zz%"`),
		},
		{
			name: "every attribute, percent-decoded, extensions sorted",
			h: headers(
				"Ce-Subject", "caf%C3%A9%20au%20lait%25",
				"Ce-Time", "2024-05-01T12:30:00Z",
				"Ce-Dataschema", "https://example.com/s",
				"Ce-Zeta", "last",
				"Ce-Correlationid", "r",
				"Ce-Causationid", "c",
				"Ce-Partitionkey", "p",
				"Ce-Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				"Ce-Tracestate", "k=v",
				"Ce-Sequence", "7",
				"Ce-Alpha", "1",
				"X-Other", "ignored",
			),
			want: event.Event{
				ID: "1", Source: "/s", Type: "t", Subject: "café au lait%", Time: "2024-05-01T12:30:00Z",
				DataSchema: "https://example.com/s", CorrelationID: "r", CausationID: "c", PartitionKey: "p",
				TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "k=v", Sequence: "7",
			},
			json: with(`"subject":"café au lait%","time":"2024-05-01T12:30:00Z","dataschema":"https://example.com/s","alpha":"1","causationid":"c","correlationid":"r","partitionkey":"p","sequence":"7","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"k=v","zeta":"last"`),
		},
		{
			name: "header names in any case",
			h:    http.Header{"ce-specversion": {"1.0"}, "CE-ID": {"1"}, "cE-sOuRcE": {"/s"}, "Ce-type": {"t"}, "content-type": {"text/plain"}},
			body: "x",
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "text/plain"},
			json: with(`"datacontenttype":"text/plain","data":"x"`),
		},
		{
			name: "expectedversion",
			h:    headers("Ce-Subject", "order-1", "Ce-Expectedversion", "42"),
			want: event.Event{ID: "1", Source: "/s", Type: "t", Subject: "order-1", ExpectedVersion: 42, HasExpectedVersion: true},
			json: with(`"subject":"order-1"`),
		},
		{
			name: "JSON data nested as deep as allowed",
			h:    headers("Content-Type", "application/json"),
			body: strings.Repeat("[", event.MaxDepth-1) + strings.Repeat("]", event.MaxDepth-1),
			want: event.Event{ID: "1", Source: "/s", Type: "t", DataContentType: "application/json"},
			json: with(`"datacontenttype":"application/json","data":` + strings.Repeat("[", event.MaxDepth-1) + strings.Repeat("]", event.MaxDepth-1)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.ParseBinary(tt.h, []byte(tt.body), tt.lim)
			require.NoError(t, err)
			require.Equal(t, tt.json, string(ev.JSON))
			got := *ev
			got = event.Comparable(got)
			require.Equal(t, tt.want, got)
			checkEvent(t, ev, tt.lim)
		})
	}
}

func TestParseBinaryInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		h        http.Header
		body     string
		lim      event.Limits
		status   int
		pointers []string
	}{
		{"no headers", http.Header{}, "", event.Limits{}, 400, []string{"/specversion", "/id", "/source", "/type"}},
		{"other specversion", headers("Ce-Specversion", "", "Ce-Specversion", "0.3"), "", event.Limits{}, 400, []string{"/specversion"}},
		{"empty id", func() http.Header { h := headers(); h["Ce-Id"] = []string{""}; return h }(), "", event.Limits{}, 400, []string{"/id"}},
		{"header given twice", headers("Ce-Id", "2"), "", event.Limits{}, 400, []string{"/id"}},
		{"header in two spellings", func() http.Header { h := headers(); h["ce-id"] = []string{"2"}; return h }(), "", event.Limits{}, 400, []string{"/id"}},
		{"extension in two spellings", func() http.Header { h := headers("Ce-X", "1"); h["CE-X"] = []string{"2"}; return h }(), "", event.Limits{}, 400, []string{"/x"}},
		{"invalid extension name", headers("Ce-My_ext", "v"), "", event.Limits{}, 400, []string{"/my_ext"}},
		{"extension name too long", headers("Ce-Abcdefghij0123456789x", "v"), "", event.Limits{}, 400, []string{"/abcdefghij0123456789x"}},
		{"empty extension name", headers("Ce-", "v"), "", event.Limits{}, 400, []string{"/"}},
		{"ce-datacontenttype", headers("Ce-Datacontenttype", "text/plain"), "", event.Limits{}, 400, []string{"/datacontenttype"}},
		{"ce-data", headers("Ce-Data", "x"), "", event.Limits{}, 400, []string{"/data"}},
		{"ce-data_base64", headers("Ce-Data_base64", "eA=="), "", event.Limits{}, 400, []string{"/data_base64"}},
		{"percent-decodes to invalid UTF-8", headers("Ce-Subject", "%ff"), "", event.Limits{}, 400, []string{"/subject"}},
		{"expectedversion not decimal", headers("Ce-Subject", "s", "Ce-Expectedversion", "three"), "", event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion negative", headers("Ce-Subject", "s", "Ce-Expectedversion", "-1"), "", event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion leading zero", headers("Ce-Subject", "s", "Ce-Expectedversion", "01"), "", event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion overflow", headers("Ce-Subject", "s", "Ce-Expectedversion", "9223372036854775808"), "", event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion without subject", headers("Ce-Expectedversion", "1"), "", event.Limits{}, 400, []string{"/expectedversion"}},
		{"time", headers("Ce-Time", "yesterday"), "", event.Limits{}, 400, []string{"/time"}},
		{"reserved type", headers("Ce-Type", "", "Ce-Type", "ensue.x"), "", event.Limits{}, 400, []string{"/type"}},
		{"subject too long", headers("Ce-Subject", strings.Repeat("s", 513)), "", event.Limits{}, 400, []string{"/subject"}},
		{"invalid JSON data", headers("Content-Type", "application/json"), `{"a":}`, event.Limits{}, 400, []string{"/data"}},
		{"JSON data not UTF-8", headers("Content-Type", "application/json"), "\"\xff\"", event.Limits{}, 400, []string{"/data"}},
		{"JSON data too deep", headers("Content-Type", "application/json"), strings.Repeat("[", event.MaxDepth) + strings.Repeat("]", event.MaxDepth), event.Limits{}, 400, []string{"/data"}},
		{"JSON data 10,000 deep", headers("Content-Type", "application/json"), strings.Repeat("[", 10000), event.Limits{}, 400, []string{"/data"}},
		{"malformed Content-Type", headers("Content-Type", "json"), "x", event.Limits{}, 400, []string{"/datacontenttype"}},
		{"Content-Type not UTF-8", headers("Content-Type", "text/plain; charset=\xd1"), "x", event.Limits{}, 400, []string{"/datacontenttype"}},
		{"Content-Type twice", headers("Content-Type", "text/plain", "Content-Type", "text/html"), "x", event.Limits{}, 400, []string{"/datacontenttype"}},
		{"structured media type", headers("Content-Type", "application/cloudevents+json"), with(""), event.Limits{}, 415, []string{"/datacontenttype"}},
		{"batch media type", headers("Content-Type", "application/cloudevents-batch+json"), "[]", event.Limits{}, 415, []string{"/datacontenttype"}},
		{"too large once base64", headers("Content-Type", "application/octet-stream"), strings.Repeat("\xff", 100), event.Limits{MaxEventBytes: 200}, 413, []string{""}},
		{"every problem at once", http.Header{"Ce-Specversion": {"2"}, "Ce-Type": {"ensue.x"}, "Ce-Bad_name": {"1"}, "Ce-Time": {"x"}, "Ce-Expectedversion": {"x"}, "Content-Type": {"application/json"}}, "{", event.Limits{}, 400,
			[]string{"/specversion", "/id", "/source", "/type", "/bad_name", "/time", "/expectedversion", "/data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.ParseBinary(tt.h, []byte(tt.body), tt.lim)
			require.Nil(t, ev)
			requireError(t, err, tt.status, tt.pointers...)
		})
	}
}

// Map order must not change the result: the errors and the extension order
// come out sorted.
func TestParseBinaryIsDeterministic(t *testing.T) {
	t.Parallel()
	h := headers("Ce-B", "2", "Ce-A", "1", "Ce-C", "3", "Ce-D", "4", "Ce-E", "5")
	bad := http.Header{"Ce-X_1": {"1"}, "Ce-X_2": {"1"}, "Ce-X_3": {"1"}, "Ce-Time": {"x"}, "Ce-Subject": {""}}
	first, err := event.ParseBinary(h, nil, event.Limits{})
	require.NoError(t, err)
	_, firstErr := event.ParseBinary(bad, nil, event.Limits{})
	for range 50 {
		ev, err := event.ParseBinary(h, nil, event.Limits{})
		require.NoError(t, err)
		require.Equal(t, first, ev)
		_, err = event.ParseBinary(bad, nil, event.Limits{})
		require.Equal(t, firstErr, err)
	}
	require.Equal(t, with(`"a":"1","b":"2","c":"3","d":"4","e":"5"`), string(first.JSON))
}
