package schema_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		pointer string
		says    []string // substrings of the message
	}{
		{"empty", ``, "", []string{"empty"}},
		{"bad JSON", `{"type":"object",}`, "", []string{"not valid JSON", "byte 17"}},
		{"not an object", `[1,2]`, "", []string{"must be a JSON object", "an array"}},
		{"unknown draft", `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object"}`, "/$schema", []string{"unsupported $schema", "draft-04", "2020-12", "draft-07"}},
		{"draft 2019-09 refused", `{"$schema":"https://json-schema.org/draft/2019-09/schema"}`, "/$schema", []string{"unsupported $schema"}},
		{"custom metaschema", `{"$schema":"https://example.com/my-meta"}`, "/$schema", []string{"unsupported $schema"}},
		{"$schema not a string", `{"$schema":7}`, "/$schema", []string{"must be a string"}},
		{"remote $ref", `{"properties":{"a":{"$ref":"http://example.com/a.json"}}}`, "/properties/a/$ref", []string{"http://example.com/a.json", "not fetched", "$defs"}},
		{"relative $ref to another file", `{"items":{"$ref":"item.json#/x"}}`, "/items/$ref", []string{"item.json", "outside this document"}},
		{"missing $defs target", `{"properties":{"a":{"$ref":"#/$defs/nope"}}}`, "/properties/a/$ref", []string{"#/$defs/nope", "does not exist"}},
		{"invalid keyword value", `{"type":"object","properties":{"total":{"type":"number","minimum":"zero"}}}`, "/properties/total/minimum", []string{"invalid schema", "must be number but is string", "minimum"}},
		{"invalid type name", `{"type":"strin"}`, "/type", []string{"invalid schema"}},
		{"negative minLength", `{"minLength":-1}`, "/minLength", []string{"invalid schema", ">= 0"}},
		{"required not array", `{"required":"a"}`, "/required", []string{"invalid schema", "must be array"}},
		{"bad regex", `{"properties":{"s":{"pattern":"(?<=a)b"}}}`, "/properties/s/pattern", []string{"invalid regular expression", "RE2"}},
		{"unknown format", `{"properties":{"e":{"type":"string","format":"emial"}}}`, "/properties/e/format", []string{`unknown format "emial"`, "email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := schema.Compile([]byte(tt.doc))
			require.Nil(t, s)
			var ce *schema.CompileError
			require.True(t, errors.As(err, &ce), "error %T %v", err, err)
			require.Equal(t, tt.pointer, ce.Pointer, "message: %s", ce.Message)
			for _, sub := range tt.says {
				require.Contains(t, ce.Error(), sub)
			}
			require.NotContains(t, ce.Error(), "ensue.invalid")
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`true`,
		`{}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema"}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema#"}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"type":"string"}},"$ref":"#/definitions/a"}`,
		`{"$schema":"https://json-schema.org/draft-07/schema"}`,
		`{"$defs":{"n":{"$anchor":"num","type":"number"}},"items":{"$ref":"#num"}}`,
		`{"$id":"https://example.com/order","$defs":{"i":{"$id":"item","type":"object"}},"items":{"$ref":"item"}}`,
		`{"$defs":{"tree":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/tree"}}}}},"$ref":"#/$defs/tree"}`,
		`{"enum":[{"format":"not-a-format"}],"default":{"$ref":"http://example.com/x"}}`,
	} {
		_, err := schema.Compile([]byte(doc))
		require.NoError(t, err, doc)
	}
}

func TestDraft07AssertsFormatsAndDefinitions(t *testing.T) {
	t.Parallel()
	s, err := schema.Compile([]byte(`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"when":{"type":"string","format":"date-time"}},"properties":{"at":{"$ref":"#/definitions/when"}}}`))
	require.NoError(t, err)
	vs, err := s.Validate([]byte(`{"at":"yesterday"}`))
	require.NoError(t, err)
	require.Equal(t, []schema.Violation{{Pointer: "/data/at", Keyword: "format", Message: "is not a valid date-time"}}, vs)
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	a := []byte(`{"type":"object","properties":{"b":{"type":"string"},"a":{"minimum":1.50}},"required":["b","a"]}`)
	b := []byte("{\n  \"required\": [\"b\", \"a\"],\n  \"properties\": {\n    \"a\": {\"minimum\": 1.50},\n    \"b\": {\"type\": \"string\"}\n  },\n  \"type\": \"object\"\n}\n")
	ca, err := schema.Canonical(a)
	require.NoError(t, err)
	cb, err := schema.Canonical(b)
	require.NoError(t, err)
	require.Equal(t, string(ca), string(cb))
	require.Equal(t, `{"properties":{"a":{"minimum":1.50},"b":{"type":"string"}},"required":["b","a"],"type":"object"}`, string(ca))

	s, err := schema.Compile(b)
	require.NoError(t, err)
	require.Equal(t, ca, s.Doc())

	// Array order and number spelling are meaning, not formatting.
	cc, err := schema.Canonical([]byte(`{"type":"object","properties":{"b":{"type":"string"},"a":{"minimum":1.5}},"required":["a","b"]}`))
	require.NoError(t, err)
	require.NotEqual(t, string(ca), string(cc))

	// No HTML escaping: patterns stay readable.
	cp, err := schema.Canonical([]byte(`{"pattern":"^<a&b>$"}`))
	require.NoError(t, err)
	require.Equal(t, `{"pattern":"^<a&b>$"}`, string(cp))

	_, err = schema.Canonical([]byte(`{"a":}`))
	require.ErrorIs(t, err, schema.ErrInvalidJSON)
}
