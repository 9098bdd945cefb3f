package infer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema/infer"
)

// ruleCase is samples and the schema (without $schema, title and
// description) they must give.
type ruleCase struct {
	name    string
	opts    infer.Options
	samples []string
	want    string
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := inferAll(t, tc.opts, tc.samples...)
			got := in.Schema()
			require.JSONEq(t, tc.want, body(t, got), "schema:\n%s", got)

			// Whatever the rule, every sample stays valid.
			sch := compile(t, got)
			for _, s := range tc.samples {
				require.NoError(t, validate(t, sch, []byte(s)), "sample %s\nschema:\n%s", s, got)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	t.Parallel()
	runRuleCases(t, []ruleCase{
		{
			name:    "each JSON type",
			samples: []string{`{"s":"x","i":1,"f":1.5,"b":true,"n":null,"o":{},"a":[]}`},
			want: `{"type":"object","properties":{
				"s":{"type":"string"},"i":{"type":"integer"},"f":{"type":"number"},"b":{"type":"boolean"},
				"n":{"type":"null"},"o":{"type":"object"},"a":{"type":"array","items":{}}},
				"required":["a","b","f","i","n","o","s"]}`,
		},
		{
			name: "integer means no fraction, no exponent, fits int64",
			samples: []string{`{"zero":0,"negzero":-0,"max":9223372036854775807,"min":-9223372036854775808,
				"over":9223372036854775808,"under":-9223372036854775809,"point":1.0,"exp":1e3,"bigexp":2E+400}`},
			want: `{"type":"object","properties":{
				"zero":{"type":"integer"},"negzero":{"type":"integer"},"max":{"type":"integer"},"min":{"type":"integer"},
				"over":{"type":"number"},"under":{"type":"number"},"point":{"type":"number"},"exp":{"type":"number"},
				"bigexp":{"type":"number"}},
				"required":["bigexp","exp","max","min","negzero","over","point","under","zero"]}`,
		},
		{
			name:    "several types are listed sorted",
			samples: []string{`{"v":"x"}`, `{"v":1}`, `{"v":null}`, `{"v":[true]}`, `{"v":{"k":false}}`},
			want: `{"type":"object","properties":{"v":{
				"type":["array","integer","null","object","string"],
				"items":{"type":"boolean"},"properties":{"k":{"type":"boolean"}},"required":["k"]}},
				"required":["v"]}`,
		},
		{
			name:    "integer and number merge to number",
			samples: []string{`{"v":1,"w":1}`, `{"v":2.5,"w":"x"}`, `{"w":0.5}`},
			want: `{"type":"object","properties":{"v":{"type":"number"},"w":{"type":["number","string"]}},
				"required":["w"]}`,
		},
		{
			name:    "a root that is not an object",
			samples: []string{`"x"`, `3`},
			want:    `{"type":["integer","string"]}`,
		},
		{
			name:    "a root array",
			samples: []string{`[1,2]`, `[]`},
			want:    `{"type":"array","items":{"type":"integer"}}`,
		},
		{
			name:    "the last of duplicate keys counts, as validators read it",
			samples: []string{`{"a":1,"a":"x"}`},
			want:    `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
		},
	})
}

func TestRequired(t *testing.T) {
	t.Parallel()
	runRuleCases(t, []ruleCase{
		{
			name:    "present in every sample",
			samples: []string{`{"a":1,"b":2}`, `{"a":3}`, `{"c":4,"a":5}`},
			want: `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},
				"required":["a"]}`,
		},
		{
			name:    "null is present",
			samples: []string{`{"a":null}`, `{"a":1}`},
			want:    `{"type":"object","properties":{"a":{"type":["integer","null"]}},"required":["a"]}`,
		},
		{
			name:    "nested: in every sample where the parent was present",
			samples: []string{`{"o":{"x":1,"y":2}}`, `{"o":{"x":3}}`, `{}`},
			want: `{"type":"object","properties":{"o":{"type":"object",
				"properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x"]}}}`,
		},
		{
			name:    "deeply nested",
			samples: []string{`{"a":{"b":{"c":{"d":1}}}}`, `{"a":{"b":{}}}`},
			want: `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"object",
				"properties":{"c":{"type":"object","properties":{"d":{"type":"integer"}},"required":["d"]}}}},
				"required":["b"]}},"required":["a"]}`,
		},
		{
			name:    "a field that is sometimes not an object counts only its objects",
			samples: []string{`{"o":{"x":1}}`, `{"o":5}`, `{"o":{"x":2,"y":3}}`},
			want: `{"type":"object","properties":{"o":{"type":["integer","object"],
				"properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x"]}},"required":["o"]}`,
		},
		{
			name:    "array elements: in every element object of every sample",
			samples: []string{`{"items":[{"sku":"a","qty":1},{"sku":"b"}]}`, `{"items":[{"sku":"c","qty":2}]}`},
			want: `{"type":"object","properties":{"items":{"type":"array","items":{"type":"object",
				"properties":{"qty":{"type":"integer"},"sku":{"type":"string"}},"required":["sku"]}}},
				"required":["items"]}`,
		},
		{
			name:    "an empty object has none",
			samples: []string{`{}`, `{}`},
			want:    `{"type":"object"}`,
		},
	})
}

func TestFormats(t *testing.T) {
	t.Parallel()
	cases := []struct {
		value  string
		format string // "" for none
	}{
		{"123e4567-e89b-12d3-a456-426614174000", "uuid"},
		{"123E4567-E89B-12D3-A456-426614174000", "uuid"},
		{"123e4567e89b12d3a456426614174000", ""},
		{"123e4567-e89b-12d3-a456-42661417400g", ""},
		{"123e4567-e89b-12d3-a456-4266141740000", ""},

		{"2024-05-06T07:08:09Z", "date-time"},
		{"2024-05-06t07:08:09z", "date-time"},
		{"2024-05-06T07:08:09.123456789+02:00", "date-time"},
		{"2024-02-29T23:59:59-11:30", "date-time"},
		{"2023-02-29T00:00:00Z", ""},      // no such day
		{"2024-05-06T24:00:00Z", ""},      // hour 24
		{"2024-05-06T07:08:09", ""},       // no offset
		{"2024-05-06 07:08:09Z", ""},      // space, not T
		{"2024-05-06T07:08:09.Z", ""},     // empty fraction
		{"2024-05-06T07:08:09+0200", ""},  // offset without colon
		{"2024-05-06T07:08:09+24:00", ""}, // offset hour
		{"2024-05-06T23:59:60Z", ""},      // leap seconds left out
		{"2024-5-6T07:08:09Z", ""},        // short date
		{"2024-05-06T07:08:09Z ", ""},     // trailing space

		{"2024-05-06", "date"},
		{"2024-13-06", ""},
		{"2024-05-32", ""},
		{"24-05-06", ""},
		{"2024/05/06", ""},

		{"ada@example.com", "email"},
		{"first.last+tag@mail.example.co.uk", "email"},
		{"o'brien@x-y.io", "email"},
		{"ada@localhost", ""},      // one label
		{"ada@127.0.0.1", ""},      // an IP, not a name
		{"a..b@example.com", ""},   // consecutive dots
		{".a@example.com", ""},     // leading dot
		{"a@b@example.com", ""},    // two @
		{"ada lovelace@x.com", ""}, // space
		{"ada@-x.com", ""},         // label starts with hyphen
		{"ada@exa_mple.com", ""},   // underscore in domain
		{"@example.com", ""},       // empty local part
		{"ada@example.com.", ""},   // trailing dot
		{`"ada"@example.com`, ""},  // quoted local parts left out
		{"adä@example.com", ""},    // non-ASCII
		{strings.Repeat("a", 65) + "@example.com", ""},

		{"https://example.com", "uri"},
		{"https://example.com:8443/a/b?c=d#e", "uri"},
		{"ftp://user@files.example.org/x", "uri"},
		{"http://127.0.0.1/x", "uri"},
		{"urn:isbn:0451450523", ""},     // no host
		{"mailto:ada@example.com", ""},  // no host
		{"/relative/path", ""},          // not absolute
		{"example.com/x", ""},           // no scheme
		{"https://exa mple.com", ""},    // space
		{"https://[::1]/x", ""},         // IPv6 literals left out
		{"https:///path", ""},           // empty host
		{"https://example.com/a b", ""}, // space in path
		{"", ""},
		{"plain text", ""},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			sample := fmt.Sprintf(`{"v":%q}`, tc.value)
			got := inferAll(t, infer.Options{}, sample).Schema()
			want := `{"type":"string"}`
			if tc.format != "" {
				want = fmt.Sprintf(`{"type":"string","format":%q}`, tc.format)
			}
			require.JSONEq(t, `{"type":"object","properties":{"v":`+want+`},"required":["v"]}`, body(t, got))
			require.NoError(t, validate(t, compile(t, got), []byte(sample)))
		})
	}
}

func TestFormatsOverSamples(t *testing.T) {
	t.Parallel()
	const u1, u2 = `"123e4567-e89b-12d3-a456-426614174000"`, `"00000000-0000-0000-0000-000000000000"`
	runRuleCases(t, []ruleCase{
		{
			name:    "every sample matches",
			samples: []string{`{"v":` + u1 + `}`, `{"v":` + u2 + `}`},
			want:    `{"type":"object","properties":{"v":{"type":"string","format":"uuid"}},"required":["v"]}`,
		},
		{
			name:    "one sample fails: no format",
			samples: []string{`{"v":` + u1 + `}`, `{"v":"n/a"}`, `{"v":` + u2 + `}`},
			want:    `{"type":"object","properties":{"v":{"type":"string"}},"required":["v"]}`,
		},
		{
			name:    "dates and date-times mixed: neither",
			samples: []string{`{"v":"2024-05-06"}`, `{"v":"2024-05-06T07:08:09Z"}`},
			want:    `{"type":"object","properties":{"v":{"type":"string"}},"required":["v"]}`,
		},
		{
			name:    "values of other types do not count against a format",
			samples: []string{`{"v":"2024-05-06"}`, `{"v":null}`, `{"v":7}`},
			want:    `{"type":"object","properties":{"v":{"type":["integer","null","string"],"format":"date"}},"required":["v"]}`,
		},
		{
			name:    "array elements",
			samples: []string{`{"links":["https://a.example/x","http://b.example"]}`, `{"links":[]}`},
			want: `{"type":"object","properties":{"links":{"type":"array","items":{"type":"string","format":"uri"}}},
				"required":["links"]}`,
		},
	})
}

func TestEnums(t *testing.T) {
	t.Parallel()
	status := func(values ...string) []string {
		var out []string
		for _, v := range values {
			out = append(out, fmt.Sprintf(`{"status":%q}`, v))
		}
		return out
	}
	field := func(schema string) string {
		return `{"type":"object","properties":{"status":` + schema + `},"required":["status"]}`
	}
	runRuleCases(t, []ruleCase{
		{
			name:    "a small closed set, sorted",
			samples: status(strings.Split(strings.Repeat("paid,new,shipped,new,", 5), ",")[:20]...),
			want:    field(`{"type":"string","enum":["new","paid","shipped"]}`),
		},
		{
			name:    "too few samples",
			samples: status(strings.Split(strings.Repeat("paid,new,", 10), ",")[:19]...),
			want:    field(`{"type":"string"}`),
		},
		{
			name:    "MaxEnum distinct values still an enum",
			samples: repeat(3, status("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")...),
			want:    field(`{"type":"string","enum":["a","b","c","d","e","f","g","h","i","j"]}`),
		},
		{
			name:    "one more than MaxEnum is not",
			samples: repeat(3, status("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k")...),
			want:    field(`{"type":"string"}`),
		},
		{
			name:    "MaxEnum and MinEnumSamples options",
			opts:    infer.Options{MaxEnum: 2, MinEnumSamples: 4},
			samples: repeat(2, status("on", "off")...),
			want:    field(`{"type":"string","enum":["off","on"]}`),
		},
		{
			name:    "MaxEnum option exceeded",
			opts:    infer.Options{MaxEnum: 2, MinEnumSamples: 4},
			samples: repeat(2, status("on", "off", "unknown")...),
			want:    field(`{"type":"string"}`),
		},
		{
			name:    "negative MaxEnum turns enums off",
			opts:    infer.Options{MaxEnum: -1},
			samples: repeat(30, status("on")...),
			want:    field(`{"type":"string"}`),
		},
		{
			name:    "distinct values about as many as samples: free text",
			opts:    infer.Options{MinEnumSamples: 5},
			samples: status("a", "b", "c", "d", "e", "a"),
			want:    field(`{"type":"string"}`),
		},
		{
			name:    "two samples per value is enough",
			opts:    infer.Options{MinEnumSamples: 5},
			samples: status("a", "b", "c", "a", "b", "c"),
			want:    field(`{"type":"string","enum":["a","b","c"]}`),
		},
		{
			name:    "strings with a format are open sets",
			samples: repeat(20, status("2024-05-06", "2024-05-07")...),
			want:    field(`{"type":"string","format":"date"}`),
		},
		{
			name:    "null joins the enum",
			samples: append(repeat(10, status("a", "b")...), `{"status":null}`),
			want:    field(`{"type":["null","string"],"enum":["a","b",null]}`),
		},
		{
			name:    "other types: no enum, it would reject them",
			samples: append(repeat(10, status("a", "b")...), `{"status":1}`),
			want:    field(`{"type":["integer","string"]}`),
		},
		{
			name:    "long values are free text",
			samples: repeat(20, status(strings.Repeat("x", 65))...),
			want:    field(`{"type":"string"}`),
		},
		{
			name:    "values up to 64 bytes",
			samples: repeat(20, status(strings.Repeat("x", 64))...),
			want:    field(`{"type":"string","enum":["` + strings.Repeat("x", 64) + `"]}`),
		},
		{
			name:    "numbers are not enumerated",
			samples: repeat(20, `{"status":1}`, `{"status":2}`),
			want:    field(`{"type":"integer"}`),
		},
		{
			name:    "array elements",
			samples: repeat(10, `{"status":["red","green"]}`, `{"status":["blue"]}`),
			want:    field(`{"type":"array","items":{"type":"string","enum":["blue","green","red"]}}`),
		},
	})
}

func TestArrays(t *testing.T) {
	t.Parallel()
	runRuleCases(t, []ruleCase{
		{
			name:    "only empty arrays: any items",
			samples: []string{`{"a":[]}`, `{"a":[]}`},
			want:    `{"type":"object","properties":{"a":{"type":"array","items":{}}},"required":["a"]}`,
		},
		{
			name:    "empty arrays contribute nothing",
			samples: []string{`{"a":[]}`, `{"a":[1,2]}`, `{"a":[]}`},
			want:    `{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}}},"required":["a"]}`,
		},
		{
			name:    "elements of all samples merge",
			samples: []string{`{"a":[1,"x"]}`, `{"a":[2.5,null]}`},
			want: `{"type":"object","properties":{"a":{"type":"array","items":{"type":["null","number","string"]}}},
				"required":["a"]}`,
		},
		{
			name:    "arrays of arrays",
			samples: []string{`{"m":[[1,2],[3]]}`, `{"m":[[]]}`, `{"m":[]}`},
			want: `{"type":"object","properties":{"m":{"type":"array","items":{"type":"array","items":{"type":"integer"}}}},
				"required":["m"]}`,
		},
		{
			name:    "arrays of arrays, inner ones empty",
			samples: []string{`{"m":[[],[]]}`},
			want:    `{"type":"object","properties":{"m":{"type":"array","items":{"type":"array","items":{}}}},"required":["m"]}`,
		},
	})
}

func TestSchemaOutput(t *testing.T) {
	t.Parallel()
	in := inferAll(t, infer.Options{Title: "order.created"},
		`{"b":1,"a":{"y":"<&>","x":[true]}}`, `{"b":2,"a":{"x":[]},"c":null}`)
	require.Equal(t, `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "order.created",
  "description": "Inferred from 2 events",
  "type": "object",
  "properties": {
    "a": {
      "type": "object",
      "properties": {
        "x": {
          "type": "array",
          "items": {
            "type": "boolean"
          }
        },
        "y": {
          "type": "string"
        }
      },
      "required": [
        "x"
      ]
    },
    "b": {
      "type": "integer"
    },
    "c": {
      "type": "null"
    }
  },
  "required": [
    "a",
    "b"
  ]
}
`, string(in.Schema()))
	require.Equal(t, 2, in.Samples())
}

func TestNoSamples(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "user.signed_up",
  "description": "Inferred from 0 events"
}
`, string(infer.New(infer.Options{Title: "user.signed_up"}).Schema()))
	require.Equal(t, `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "description": "Inferred from 0 events"
}
`, string(infer.New(infer.Options{}).Schema()))
}

func TestOneSample(t *testing.T) {
	t.Parallel()
	require.Contains(t, string(inferAll(t, infer.Options{}, `1`).Schema()), `"description": "Inferred from 1 event"`)
}

func TestAddInvalidJSON(t *testing.T) {
	t.Parallel()
	cases := []string{
		``,
		`   `,
		`{`,
		`{"a":1,}`,
		`{"a":1} {"b":2}`,
		`{"a":1}]`,
		`[1 2]`,
		`NaN`,
		`{"a":Infinity}`,
		`'single'`,
		`{"a":01}`,
		`{"a":"\x"}`,
		"\"tab\there\"",
		`undefined`,
	}
	for _, data := range cases {
		t.Run(data, func(t *testing.T) {
			t.Parallel()
			in := inferAll(t, infer.Options{}, `{"a":1}`)
			before := in.Schema()
			err := in.Add([]byte(data))
			require.Error(t, err)
			require.True(t, errors.Is(err, infer.ErrInvalidJSON), "%v", err)
			require.Equal(t, 1, in.Samples())
			require.Equal(t, string(before), string(in.Schema()), "a rejected sample changed the schema")
		})
	}
}

func TestAddErrorMessages(t *testing.T) {
	t.Parallel()
	for data, want := range map[string]string{
		``:                "sample is not valid JSON: empty",
		`{"a":[1,2`:       "sample is not valid JSON: cut short at byte 9",
		`{"a":1,}`:        "sample is not valid JSON: at byte 8: invalid character '}' looking for beginning of object key string",
		`{"a":1} {"b":2}`: "sample is not valid JSON: more text after the value that ends at byte 7",
		"{\"a\":\"\t\"}":  "sample is not valid JSON: at byte 7: invalid character '\\t' in string literal",
	} {
		err := infer.New(infer.Options{}).Add([]byte(data))
		require.EqualError(t, err, want, "sample %q", data)
	}
}

func TestAddAcceptsWhitespaceAround(t *testing.T) {
	t.Parallel()
	in := inferAll(t, infer.Options{}, " \n\t{\"a\":1}\r\n ")
	require.Equal(t, 1, in.Samples())
}
