package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIngestModes sends one event in each mode of the CloudEvents HTTP
// binding and reads back what was stored.
func TestIngestModes(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	type stored struct {
		data       any    // the stored "data", when JSON or text
		dataBase64 string // the stored "data_base64"
		attrs      map[string]any
	}
	tests := []struct {
		name string
		ct   string
		body string
		hdr  []string // further headers; a ce-specversion makes binary mode
		want stored
	}{
		{
			name: "structured",
			ct:   ctStructured,
			body: `{"specversion":"1.0","id":"e1","source":"/s","type":"t.a","subject":"st","data":{"a":1}}`,
			want: stored{data: map[string]any{"a": "1"}, attrs: map[string]any{"subject": "st"}},
		},
		{
			name: "structured with charset parameter",
			ct:   "application/cloudevents+json; charset=utf-8",
			body: `{"specversion":"1.0","id":"e1","source":"/s","type":"t.a","subject":"st"}`,
		},
		{
			name: "structured media type in capitals",
			ct:   "Application/CloudEvents+JSON",
			body: `{"specversion":"1.0","id":"e1","source":"/s","type":"t.a","subject":"st"}`,
		},
		{
			name: "application/json object is structured",
			ct:   "application/json; charset=utf-8",
			body: ` {"specversion":"1.0","id":"e1","source":"/s","type":"t.a","subject":"st","data":"x"}`,
			want: stored{data: "x"},
		},
		{
			name: "data_base64",
			ct:   ctStructured,
			body: `{"specversion":"1.0","id":"e1","source":"/s","type":"t.a","subject":"st","datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="}`,
			want: stored{dataBase64: "AAEC/w==", attrs: map[string]any{"datacontenttype": "application/octet-stream"}},
		},
		{
			name: "binary json",
			ct:   "application/json",
			body: "{\n  \"a\": [1, 2]\n}",
			hdr:  []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/s", "ce-type", "t.a", "ce-subject", "st", "ce-myext", "v%C3%A9"},
			want: stored{data: map[string]any{"a": []any{"1", "2"}}, attrs: map[string]any{"datacontenttype": "application/json", "myext": "vé"}},
		},
		{
			name: "binary json with charset",
			ct:   "application/json; charset=utf-8",
			body: `"just a string"`,
			hdr:  []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/s", "ce-type", "t.a", "ce-subject", "st"},
			want: stored{data: "just a string", attrs: map[string]any{"datacontenttype": "application/json; charset=utf-8"}},
		},
		{
			name: "binary text",
			ct:   "text/plain; charset=utf-8",
			body: "hello\nworld é",
			hdr:  []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/s", "ce-type", "t.a", "ce-subject", "st", "ce-time", "2024-05-01T12:30:00.5+02:00"},
			want: stored{data: "hello\nworld é", attrs: map[string]any{"datacontenttype": "text/plain; charset=utf-8", "time": "2024-05-01T12:30:00.5+02:00"}},
		},
		{
			name: "binary bytes",
			ct:   "application/octet-stream",
			body: "\x00\x01\x02\xfe\xff",
			hdr:  []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/s", "ce-type", "t.a", "ce-subject", "st"},
			want: stored{dataBase64: base64.StdEncoding.EncodeToString([]byte("\x00\x01\x02\xfe\xff"))},
		},
		{
			name: "binary without body",
			hdr:  []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/s", "ce-type", "t.a", "ce-subject", "st"},
		},
		{
			name: "binary with expected version",
			ct:   "text/plain",
			body: "x",
			hdr:  []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/s", "ce-type", "t.a", "ce-subject", "st", "ce-expectedversion", "0"},
			want: stored{data: "x"},
		},
		{
			name: "binary headers in any case",
			ct:   "text/plain",
			body: "x",
			hdr:  []string{"CE-SpecVersion", "1.0", "Ce-Id", "e1", "CE-SOURCE", "/s", "ce-type", "t.a", "ce-Subject", "st", "Ce-CorrelationID", "c1"},
			want: stored{data: "x", attrs: map[string]any{"correlationid": "c1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			r := c.post("", tc.ct, []byte(tc.body), tc.hdr...)
			pos := requireResult(t, okJSON(t, r), "st", 1, false)

			rec := c.getRecord(pos)
			require.Equal(t, pos, rec.Position)
			require.Equal(t, "st", *rec.Stream)
			require.Equal(t, int64(1), *rec.Version)
			require.Equal(t, c.ns, rec.Namespace)
			require.NotEmpty(t, rec.RecordedAt)
			ev := rec.attrs(t)
			require.Equal(t, "1.0", ev["specversion"])
			require.Equal(t, "e1", ev["id"])
			require.Equal(t, "/s", ev["source"])
			require.Equal(t, "t.a", ev["type"])
			require.NotContains(t, ev, "expectedversion", "expectedversion is never stored")
			for k, v := range tc.want.attrs {
				require.Equal(t, v, ev[k], k)
			}
			switch {
			case tc.want.data != nil:
				require.Equal(t, normalize(tc.want.data), normalize(ev["data"]))
				require.NotContains(t, ev, "data_base64")
			case tc.want.dataBase64 != "":
				require.Equal(t, tc.want.dataBase64, ev["data_base64"])
				require.NotContains(t, ev, "data")
			default:
				require.NotContains(t, ev, "data")
				require.NotContains(t, ev, "data_base64")
			}
		})
	}
}

// normalize turns json.Number into strings so that expectations can be
// written as literals.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case interface{ String() string }:
		return x.String()
	}
	return v
}

// TestIngestBatchModes: a batch by its media type and application/json by
// the body's shape.
func TestIngestBatchModes(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	for _, ct := range []string{ctBatch, ctBatch + "; charset=utf-8", ctJSON, "application/json;charset=UTF-8"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			body := "\n\t [" + string(mustJSON(t, event("a", "subject", "s"))) + "," + string(mustJSON(t, event("b", "subject", "s"))) + "," + string(mustJSON(t, event("c"))) + "]"
			res := results(t, okJSON(t, c.post("", ct, []byte(body))))
			require.Len(t, res, 3)
			p1 := requireResult(t, res[0], "s", 1, false)
			p2 := requireResult(t, res[1], "s", 2, false)
			p3 := requireResult(t, res[2], "", 0, false)
			require.Less(t, p1, p2)
			require.Less(t, p2, p3)
			recs, ver := c.stream("s", "")
			require.Equal(t, int64(2), ver)
			require.Equal(t, []string{"a", "b"}, ids(t, recs))
		})
	}
	t.Run("empty batch", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		for _, q := range []string{"", "?atomic=true"} {
			res := results(t, okJSON(t, c.post(q, ctBatch, []byte(`[]`))))
			require.Empty(t, res)
		}
	})
}

// TestIngestUnsupportedMediaType: anything but the three JSON media types
// (outside binary mode) is 415.
func TestIngestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	srv := newClient(t)
	body := mustJSON(t, event("x"))
	for _, ct := range []string{"", "text/plain", "application/xml", "application/cloudevents+xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "json", "garbage;;;", "application/cloudevents"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			c := srv.in(t)
			requireProblem(t, c.post("", ct, body), http.StatusUnsupportedMediaType, "Content-Type")
			// Nothing stored.
			requireProblem(t, c.get("/v1/events/lookup?source=/test&id=x"), http.StatusNotFound)
		})
	}
	t.Run("binary mode with a structured media type", func(t *testing.T) {
		t.Parallel()
		c := srv.in(t)
		r := c.post("", ctStructured, body, "ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t")
		requireProblem(t, r, http.StatusUnsupportedMediaType)
	})
}

// TestIngestResponseShapes: the single and batch answers, in input order,
// with per-item problems carrying their index.
func TestIngestResponseShapes(t *testing.T) {
	t.Parallel()
	c := newClient(t)

	// Without subject: no stream, no version.
	m := c.appendOK(event("nosubj"))
	requireResult(t, m, "", 0, false)

	// With subject.
	requireResult(t, c.appendOK(event("s1", "subject", "order-123")), "order-123", 1, false)
	requireResult(t, c.appendOK(event("s2", "subject", "order-123")), "order-123", 2, false)

	// A batch mixing good and bad events: each answered in input order, a
	// bad one fails alone.
	batch := []map[string]any{
		event("b0", "subject", "order-123"),
		{"id": "b1"},
		event("b2", "subject", "order-123", "expectedversion", 1),
		event("b3"),
		nil, // b4, over 1 MiB, below
		event("b5", "subject", "order-123", "expectedversion", 3),
		event("b6", "type", "ensue.mine"),
	}
	parts := make([]string, len(batch))
	for i, ev := range batch {
		parts[i] = string(mustJSON(t, ev))
	}
	parts[4] = bigEvent("b4", 1<<20)
	res := results(t, okJSON(t, c.post("", ctBatch, []byte("["+strings.Join(parts, ",")+"]"))))
	require.Len(t, res, len(batch))
	p0 := requireResult(t, res[0], "order-123", 3, false)

	checkProblem(t, res[1], http.StatusBadRequest, "/specversion", "/source", "/type")
	require.Equal(t, int64(1), num(t, res[1], "index"))

	checkProblem(t, res[2], http.StatusConflict, "/expectedversion")
	require.Equal(t, int64(2), num(t, res[2], "index"))
	require.Equal(t, int64(3), num(t, res[2], "currentVersion"))

	p3 := requireResult(t, res[3], "", 0, false)
	require.Less(t, p0, p3)

	checkProblem(t, res[4], http.StatusRequestEntityTooLarge)
	require.Equal(t, int64(4), num(t, res[4], "index"))

	requireResult(t, res[5], "order-123", 4, false)

	checkProblem(t, res[6], http.StatusBadRequest, "/type")
	require.Equal(t, int64(6), num(t, res[6], "index"))

	recs, ver := c.stream("order-123", "")
	require.Equal(t, int64(4), ver)
	require.Equal(t, []string{"s1", "s2", "b0", "b5"}, ids(t, recs))
	requireProblem(t, c.get("/v1/events/lookup?source=/test&id=b2"), http.StatusNotFound)
	requireProblem(t, c.get("/v1/events/lookup?source=/test&id=b4"), http.StatusNotFound)
}
