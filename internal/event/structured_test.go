package event_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

func TestParseStructuredValid(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		body string
		lim  event.Limits
		want event.Event // JSON is checked separately
		json string
	}{
		{
			name: "minimal",
			body: with(""),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(""),
		},
		{
			name: "reordered with whitespace is compacted into the canonical order",
			body: " {\n\t\"data\" : { \"a\" : [ 1 , 2.5e3 , \"x y\" ] } , \"type\":\"t\", \"myext\" : true, \"id\":\"1\",\r\n\"source\":\"/s\",\"specversion\":\"1.0\", \"subject\": \"s\" } \n",
			want: event.Event{ID: "1", Source: "/s", Type: "t", Subject: "s"},
			json: `{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"s","myext":true,"data":{"a":[1,2.5e3,"x y"]}}`,
		},
		{
			name: "every attribute",
			body: with(`"data":"hi","tracestate":"k=v","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","partitionkey":"p","causationid":"c","correlationid":"r","sequence":"0042","dataschema":"https://example.com/s.json","datacontenttype":"text/plain","time":"2024-05-01T12:30:00.123456789+02:00","subject":"order-1"`),
			want: event.Event{
				ID: "1", Source: "/s", Type: "t", Subject: "order-1", Time: "2024-05-01T12:30:00.123456789+02:00",
				DataContentType: "text/plain", DataSchema: "https://example.com/s.json",
				CorrelationID: "r", CausationID: "c", PartitionKey: "p",
				TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "k=v", Sequence: "0042",
			},
			json: `{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"order-1","time":"2024-05-01T12:30:00.123456789+02:00","datacontenttype":"text/plain","dataschema":"https://example.com/s.json","tracestate":"k=v","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","partitionkey":"p","causationid":"c","correlationid":"r","sequence":"0042","data":"hi"}`,
		},
		{
			name: "integer sequence stays a number",
			body: with(`"sequence":-17`),
			want: event.Event{ID: "1", Source: "/s", Type: "t", Sequence: "-17"},
			json: with(`"sequence":-17`),
		},
		{
			name: "extension values are kept verbatim",
			body: with(`"big":1e400,"neg":-0.5,"f":false,"s":"x\/y","n":123456789012345678901234567890`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"big":1e400,"neg":-0.5,"f":false,"s":"x/y","n":123456789012345678901234567890`),
		},
		{
			name: "null optional members are absent",
			body: with(`"subject":null,"time":null,"datacontenttype":null,"dataschema":null,"correlationid":null,"sequence":null,"myext":null,"data":null,"data_base64":null,"expectedversion":null`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(""),
		},
		{
			name: "escapes are decoded in attributes and re-escaped minimally",
			body: `{"specversion":"1.0","id":"\u0041\n\"\\\/\u00e9\ud83d\ude00\u0001","source":"/s","type":"t"}`,
			want: event.Event{ID: "A\n\"\\/é😀\x01", Source: "/s", Type: "t"},
			json: `{"specversion":"1.0","id":"A\n\"\\/é😀\u0001","source":"/s","type":"t"}`,
		},
		{
			name: "escaped member names are decoded",
			body: `{"specversion":"1.0","\u0069d":"1","source":"/s","typ\u0065":"t","\u006dyext":1}`,
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"myext":1`),
		},
		{
			name: "data is kept verbatim, escapes and all",
			body: with(`"data":"a\u00e9\/\n"`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"data":"a\u00e9\/\n"`),
		},
		{
			name: "data of every JSON kind",
			body: with(`"data":[{},[],0,-1.5E-3,true,false,null,"",{"k":{"\u0000":"v"}}]`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"data":[{},[],0,-1.5E-3,true,false,null,"",{"k":{"\u0000":"v"}}]`),
		},
		{
			name: "data_base64",
			body: with(`"data_base64":"aGVsbG8="`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"data_base64":"aGVsbG8="`),
		},
		{
			name: "empty data_base64",
			body: with(`"data_base64":""`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"data_base64":""`),
		},
		{
			name: "expectedversion is taken and never stored",
			body: with(`"expectedversion":0,"subject":"order-1"`),
			want: event.Event{ID: "1", Source: "/s", Type: "t", Subject: "order-1", HasExpectedVersion: true},
			json: with(`"subject":"order-1"`),
		},
		{
			name: "largest expectedversion",
			body: with(`"subject":"s","expectedversion":9223372036854775807`),
			want: event.Event{ID: "1", Source: "/s", Type: "t", Subject: "s", ExpectedVersion: 9223372036854775807, HasExpectedVersion: true},
			json: with(`"subject":"s"`),
		},
		{
			name: "reserved type when allowed",
			body: `{"specversion":"1.0","id":"1","source":"/s","type":"ensue.rule.fired"}`,
			lim:  event.Limits{AllowReserved: true},
			want: event.Event{ID: "1", Source: "/s", Type: "ensue.rule.fired"},
			json: `{"specversion":"1.0","id":"1","source":"/s","type":"ensue.rule.fired"}`,
		},
		{
			name: "longest id, source, type and subject",
			body: `{"specversion":"1.0","id":"` + long(1024) + `","source":"` + long(1024) + `","type":"` + long(1024) + `","subject":"` + long(512) + `"}`,
			want: event.Event{ID: long(1024), Source: long(1024), Type: long(1024), Subject: long(512)},
			json: `{"specversion":"1.0","id":"` + long(1024) + `","source":"` + long(1024) + `","type":"` + long(1024) + `","subject":"` + long(512) + `"}`,
		},
		{
			name: "longest extension name",
			body: with(`"abcdefghij0123456789":"v"`),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"abcdefghij0123456789":"v"`),
		},
		{
			name: "exactly MaxEventBytes",
			body: with(`"x":"` + long(20) + `"`),
			lim:  event.Limits{MaxEventBytes: len(with(`"x":"` + long(20) + `"`))},
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"x":"` + long(20) + `"`),
		},
		{
			name: "data nested as deep as allowed",
			body: with(`"data":` + strings.Repeat("[", event.MaxDepth-1) + strings.Repeat("]", event.MaxDepth-1)),
			want: event.Event{ID: "1", Source: "/s", Type: "t"},
			json: with(`"data":` + strings.Repeat("[", event.MaxDepth-1) + strings.Repeat("]", event.MaxDepth-1)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.ParseStructured([]byte(tt.body), tt.lim)
			require.NoError(t, err)
			require.Equal(t, tt.json, string(ev.JSON))
			got := *ev
			got = event.Comparable(got)
			require.Equal(t, tt.want, got)
			checkEvent(t, ev, tt.lim)
		})
	}
}

func TestParseStructuredInvalid(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name     string
		body     string
		lim      event.Limits
		status   int
		pointers []string
	}{
		{"empty object", `{}`, event.Limits{}, 400, []string{"/specversion", "/id", "/source", "/type"}},
		{"required given as null", `{"specversion":null,"id":null,"source":null,"type":null}`, event.Limits{}, 400, []string{"/specversion", "/id", "/source", "/type"}},
		{"required empty", `{"specversion":"","id":"","source":"","type":""}`, event.Limits{}, 400, []string{"/specversion", "/id", "/source", "/type"}},
		{"required of the wrong type", `{"specversion":1.0,"id":1,"source":{},"type":["t"]}`, event.Limits{}, 400, []string{"/specversion", "/id", "/source", "/type"}},
		{"other specversion", `{"specversion":"0.3","id":"1","source":"/s","type":"t"}`, event.Limits{}, 400, []string{"/specversion"}},
		{"id too long", `{"specversion":"1.0","id":"` + long(1025) + `","source":"/s","type":"t"}`, event.Limits{}, 400, []string{"/id"}},
		{"source too long", `{"specversion":"1.0","id":"1","source":"` + long(1025) + `","type":"t"}`, event.Limits{}, 400, []string{"/source"}},
		{"type too long", `{"specversion":"1.0","id":"1","source":"/s","type":"` + long(1025) + `"}`, event.Limits{}, 400, []string{"/type"}},
		{"subject too long", with(`"subject":"` + long(513) + `"`), event.Limits{}, 400, []string{"/subject"}},
		{"subject empty", with(`"subject":""`), event.Limits{}, 400, []string{"/subject"}},
		{"subject not a string", with(`"subject":1`), event.Limits{}, 400, []string{"/subject"}},
		{"reserved type", `{"specversion":"1.0","id":"1","source":"/s","type":"ensue.x"}`, event.Limits{}, 400, []string{"/type"}},
		{"time not RFC 3339", with(`"time":"2024-05-01 12:30:00Z"`), event.Limits{}, 400, []string{"/time"}},
		{"time out of range", with(`"time":"2024-13-01T12:30:00Z"`), event.Limits{}, 400, []string{"/time"}},
		{"time without zone", with(`"time":"2024-05-01T12:30:00"`), event.Limits{}, 400, []string{"/time"}},
		{"time with a comma", with(`"time":"2024-05-01T12:30:00,5Z"`), event.Limits{}, 400, []string{"/time"}},
		{"time not a string", with(`"time":1714566600`), event.Limits{}, 400, []string{"/time"}},
		{"datacontenttype not a string", with(`"datacontenttype":true`), event.Limits{}, 400, []string{"/datacontenttype"}},
		{"datacontenttype empty", with(`"datacontenttype":""`), event.Limits{}, 400, []string{"/datacontenttype"}},
		{"dataschema not a string", with(`"dataschema":[]`), event.Limits{}, 400, []string{"/dataschema"}},
		{"uppercase extension name", with(`"myExt":"v"`), event.Limits{}, 400, []string{"/myExt"}},
		{"extension name with underscore", with(`"my_ext":"v"`), event.Limits{}, 400, []string{"/my_ext"}},
		{"extension name too long", with(`"abcdefghij0123456789x":"v"`), event.Limits{}, 400, []string{"/abcdefghij0123456789x"}},
		{"extension name needing pointer escapes", with(`"a/b~c":"v"`), event.Limits{}, 400, []string{"/a~1b~0c"}},
		{"empty extension name", with(`"":"v"`), event.Limits{}, 400, []string{"/"}},
		{"extension object", with(`"x":{"a":1}`), event.Limits{}, 400, []string{"/x"}},
		{"extension array", with(`"x":[1]`), event.Limits{}, 400, []string{"/x"}},
		{"named extension not a string", with(`"correlationid":5,"causationid":true,"partitionkey":{},"traceparent":1,"tracestate":[]`), event.Limits{}, 400, []string{"/correlationid", "/causationid", "/partitionkey", "/traceparent", "/tracestate"}},
		{"sequence fraction", with(`"sequence":1.5`), event.Limits{}, 400, []string{"/sequence"}},
		{"sequence exponent", with(`"sequence":1e3`), event.Limits{}, 400, []string{"/sequence"}},
		{"sequence boolean", with(`"sequence":true`), event.Limits{}, 400, []string{"/sequence"}},
		{"expectedversion string", with(`"subject":"s","expectedversion":"3"`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion negative", with(`"subject":"s","expectedversion":-1`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion fraction", with(`"subject":"s","expectedversion":1.0`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion exponent", with(`"subject":"s","expectedversion":1e2`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion overflow", with(`"subject":"s","expectedversion":9223372036854775808`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion without subject", with(`"expectedversion":3`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"expectedversion with null subject", with(`"expectedversion":3,"subject":null`), event.Limits{}, 400, []string{"/expectedversion"}},
		{"data and data_base64", with(`"data":1,"data_base64":"AA=="`), event.Limits{}, 400, []string{"/data_base64"}},
		{"data and invalid data_base64", with(`"data":1,"data_base64":"A"`), event.Limits{}, 400, []string{"/data_base64", "/data_base64"}},
		{"data_base64 not base64", with(`"data_base64":"!!!!"`), event.Limits{}, 400, []string{"/data_base64"}},
		{"data_base64 unpadded", with(`"data_base64":"aGk"`), event.Limits{}, 400, []string{"/data_base64"}},
		{"data_base64 URL alphabet", with(`"data_base64":"-_-_"`), event.Limits{}, 400, []string{"/data_base64"}},
		{"data_base64 with a line break", with(`"data_base64":"aGVs\nbG8="`), event.Limits{}, 400, []string{"/data_base64"}},
		{"data_base64 not a string", with(`"data_base64":12`), event.Limits{}, 400, []string{"/data_base64"}},
		{"duplicate attribute", with(`"type":"u"`), event.Limits{}, 400, []string{"/type"}},
		{"duplicate attribute, once escaped", with(`"typ\u0065":"t"`), event.Limits{}, 400, []string{"/type"}},
		{"duplicate null attribute", with(`"subject":null,"subject":"s"`), event.Limits{}, 400, []string{"/subject"}},
		{"duplicate extension", with(`"x":1,"x":1`), event.Limits{}, 400, []string{"/x"}},
		{"duplicate data", with(`"data":1,"data":2`), event.Limits{}, 400, []string{"/data"}},
		{"every problem at once", `{"specversion":"2.0","type":"ensue.x","subject":"","time":"now","Bad":1,"x":[],"expectedversion":-2,"data":1,"data_base64":"?"}`, event.Limits{}, 400,
			[]string{"/specversion", "/id", "/source", "/type", "/subject", "/time", "/Bad", "/x", "/expectedversion", "/data_base64", "/data_base64"}},
		{"too large", with(`"data":"` + long(100) + `"`), event.Limits{MaxEventBytes: 100}, 413, []string{""}},

		// Problems with the body as a whole.
		{"empty body", ``, event.Limits{}, 400, []string{""}},
		{"only whitespace", " \n\t", event.Limits{}, 400, []string{""}},
		{"array", `[]`, event.Limits{}, 400, []string{""}},
		{"string", `"x"`, event.Limits{}, 400, []string{""}},
		{"null", `null`, event.Limits{}, 400, []string{""}},
		{"truncated", with("")[:20], event.Limits{}, 400, []string{""}},
		{"trailing comma", `{"a":1,}`, event.Limits{}, 400, []string{""}},
		{"two values", with("") + with(""), event.Limits{}, 400, []string{""}},
		{"single quotes", `{'a':1}`, event.Limits{}, 400, []string{""}},
		{"NaN", with(`"data":NaN`), event.Limits{}, 400, []string{""}},
		{"Infinity", with(`"data":-Infinity`), event.Limits{}, 400, []string{""}},
		{"leading plus", with(`"data":+1`), event.Limits{}, 400, []string{""}},
		{"leading zero", with(`"data":01`), event.Limits{}, 400, []string{""}},
		{"bare fraction", with(`"data":.5`), event.Limits{}, 400, []string{""}},
		{"hex number", with(`"data":0x10`), event.Limits{}, 400, []string{""}},
		{"raw control character in a string", with("\"data\":\"a\tb\""), event.Limits{}, 400, []string{""}},
		{"unknown escape", with(`"data":"\x41"`), event.Limits{}, 400, []string{""}},
		{"short unicode escape", with(`"data":"\u41"`), event.Limits{}, 400, []string{""}},
		{"lone high surrogate", with(`"data":"\ud83d"`), event.Limits{}, 400, []string{""}},
		{"lone low surrogate", with(`"data":"\ude00"`), event.Limits{}, 400, []string{""}},
		{"high surrogate then letter", with(`"id2":"\ud83d\u0041"`), event.Limits{}, 400, []string{""}},
		{"invalid UTF-8", with("\"x\":\"\xff\""), event.Limits{}, 400, []string{""}},
		{"overlong UTF-8", with("\"x\":\"\xc0\xaf\""), event.Limits{}, 400, []string{""}},
		{"UTF-16 surrogate in UTF-8", with("\"x\":\"\xed\xa0\x80\""), event.Limits{}, 400, []string{""}},
		{"comment", "{/* c */}", event.Limits{}, 400, []string{""}},
		{"too deep data", with(`"data":` + deep(event.MaxDepth)), event.Limits{}, 400, []string{""}},
		{"10,000 deep", deep(10000), event.Limits{}, 400, []string{""}},
		{"10,000 deep objects", strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), event.Limits{}, 400, []string{""}},
		{"100,000 unclosed", strings.Repeat("[", 100000), event.Limits{}, 400, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.ParseStructured([]byte(tt.body), tt.lim)
			require.Nil(t, ev)
			requireError(t, err, tt.status, tt.pointers...)
		})
	}
}

func TestParseStructuredMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want event.FieldError
	}{
		{"missing type", `{"specversion":"1.0","id":"1","source":"/s"}`,
			event.FieldError{Pointer: "/type", Message: "required attribute `type` is missing: set it to the kind of event, e.g. \"order.placed\""}},
		{"expectedversion without subject", with(`"expectedversion":3`),
			event.FieldError{Pointer: "/expectedversion", Message: "expectedversion needs a subject: it states the version of the stream named by subject"}},
		{"malformed JSON names the byte", `{"a":1,,}`,
			event.FieldError{Pointer: "", Message: "the body is not valid JSON: unexpected character ',', expecting a string as object member name at byte 7"}},
		{"invalid UTF-8 names the byte", "{\"a\":\"\xfe\"}",
			event.FieldError{Pointer: "", Message: "the body is not valid UTF-8: invalid byte 0xfe at byte 6; JSON must be UTF-8"}},
		{"too deep", strings.Repeat("[", 10000),
			event.FieldError{Pointer: "", Message: "the body is not valid JSON: JSON nests more than 128 objects and arrays deep at byte 128"}},
		{"uppercase name suggests lowercase", with(`"MyExt":1`),
			event.FieldError{Pointer: "/MyExt", Message: "extension name `MyExt` is invalid: CloudEvents attribute names are 1 to 20 lowercase letters a-z and digits 0-9; did you mean `myext`?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := event.ParseStructured([]byte(tt.body), event.Limits{})
			var e *event.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, []event.FieldError{tt.want}, e.Errors)
			require.Contains(t, e.Error(), tt.want.Message)
		})
	}
}

func TestErrorStatusAndTitle(t *testing.T) {
	t.Parallel()
	_, err := event.ParseStructured([]byte(`{}`), event.Limits{})
	e := requireError(t, err, http.StatusBadRequest, "/specversion", "/id", "/source", "/type")
	require.Equal(t, event.TitleInvalidEvent, e.Title)
	require.Contains(t, e.Detail, "(and 3 more problems")

	_, err = event.ParseStructured([]byte(`{`), event.Limits{})
	e = requireError(t, err, http.StatusBadRequest, "")
	require.Equal(t, event.TitleMalformedJSON, e.Title)

	_, err = event.ParseStructured([]byte(with(`"data":"0123456789"`)), event.Limits{MaxEventBytes: 64})
	e = requireError(t, err, http.StatusRequestEntityTooLarge, "")
	require.Equal(t, event.TitleEventTooLarge, e.Title)
}

func TestManyProblemsAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(base)
	for i := range 5000 {
		b.WriteString(`,"Bad` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":1`)
		b.WriteString(`,"k` + strings.Repeat("0", i/26%20) + string(rune('a'+i%26)) + `":1`)
	}
	b.WriteString("}")
	_, err := event.ParseStructured([]byte(b.String()), event.Limits{})
	var e *event.Error
	require.ErrorAs(t, err, &e)
	require.Len(t, e.Errors, 100)
	require.Contains(t, e.Detail, "more problems")
}

func TestIsBatchBody(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]bool{
		`[]`: true, " \r\n\t[{}]": true, `{}`: false, ` {"a":[1]}`: false, ``: false, `   `: false, `x[`: false,
	} {
		require.Equal(t, want, event.IsBatchBody([]byte(body)), "%q", body)
	}
}

func TestEventJSONIsItsOwnMemory(t *testing.T) {
	t.Parallel()
	body := []byte(with(`"data":{"a":"b"}`))
	ev, err := event.ParseStructured(body, event.Limits{})
	require.NoError(t, err)
	want := string(ev.JSON)
	for i := range body {
		body[i] = 'X'
	}
	// Parse more events through the pooled decoder, to reuse its memory.
	for range 10 {
		_, err := event.ParseStructured([]byte(with(`"data":{"c":"dddddddddddddddddddddddddd"}`)), event.Limits{})
		require.NoError(t, err)
	}
	require.Equal(t, want, string(ev.JSON))
	require.Equal(t, "1", ev.ID)
}
