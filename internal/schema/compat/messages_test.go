package compat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema/compat"
)

// TestCheckMessages pins the path and wording users see in a 409 for the
// changes they make most.
func TestCheckMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string
		mode     compat.Mode
		want     []compat.Change
	}{
		{
			"required added", `{"properties":{"currency":{"type":"string"}}}`, `{"properties":{"currency":{"type":"string"}},"required":["currency"]}`, compat.Full,
			[]compat.Change{{Path: "/properties/currency", Direction: "backward", Message: "property `currency` became required: events valid under version 2 would be rejected by version 3"}},
		},
		{
			"required removed", `{"required":["currency"]}`, `{}`, compat.Forward,
			[]compat.Change{{Path: "/properties/currency", Direction: "forward", Message: "property `currency` is no longer required: events valid under version 3 would be rejected by version 2"}},
		},
		{
			"type narrowed", `{"properties":{"note":{"type":["string","null"]}}}`, `{"properties":{"note":{"type":"string"}}}`, compat.Full,
			[]compat.Change{{Path: "/properties/note", Direction: "backward", Message: "type `null` is no longer allowed: events valid under version 2 would be rejected by version 3"}},
		},
		{
			"type widened", `{"type":"integer"}`, `{"type":["number","string"]}`, compat.Forward,
			[]compat.Change{{Path: "", Direction: "forward", Message: "types `number` (non-integer), `string` are now allowed: events valid under version 3 would be rejected by version 2"}},
		},
		{
			"integer to number", `{"type":"integer"}`, `{"type":"number"}`, compat.Forward,
			[]compat.Change{{Path: "", Direction: "forward", Message: "non-integer numbers are now allowed (`integer` became `number`): events valid under version 3 would be rejected by version 2"}},
		},
		{
			"optional property added to an open model", `{"type":"object"}`, `{"type":"object","properties":{"currency":{"type":"string"}}}`, compat.Full,
			[]compat.Change{{Path: "/properties/currency", Direction: "backward", Message: "property `currency` was added with constraints, but version 2 accepts any value for it (it is not declared and `additionalProperties` is not false): events valid under version 2 would be rejected by version 3"}},
		},
		{
			"property removed from a closed model", `{"properties":{"a":{},"b":{}},"additionalProperties":false}`, `{"properties":{"a":{}},"additionalProperties":false}`, compat.Full,
			[]compat.Change{{Path: "/properties/b", Direction: "backward", Message: "property `b` is no longer allowed (version 3 does not declare it and has `additionalProperties: false`): events valid under version 2 would be rejected by version 3"}},
		},
		{
			"additionalProperties closed", `{"properties":{"a":{}}}`, `{"properties":{"a":{}},"additionalProperties":false}`, compat.Full,
			[]compat.Change{{Path: "/additionalProperties", Direction: "backward", Message: "undeclared properties are no longer allowed (`additionalProperties` became false): events valid under version 2 would be rejected by version 3"}},
		},
		{
			"enum values removed and added", `{"properties":{"cur":{"enum":["EUR","USD","JPY"]}}}`, `{"properties":{"cur":{"enum":["EUR","GBP"]}}}`, compat.Full,
			[]compat.Change{
				{Path: "/properties/cur", Direction: "backward", Message: `values "USD", "JPY" are no longer allowed: events valid under version 2 would be rejected by version 3`},
				{Path: "/properties/cur", Direction: "forward", Message: `value "GBP" is now allowed: events valid under version 3 would be rejected by version 2`},
			},
		},
		{
			"bounds", `{"type":"number","minimum":0,"maximum":100}`, `{"type":"number","exclusiveMinimum":0}`, compat.Full,
			[]compat.Change{
				{Path: "", Direction: "backward", Message: "`minimum: 0` changed to `exclusiveMinimum: 0`: events valid under version 2 would be rejected by version 3"},
				{Path: "", Direction: "forward", Message: "`maximum: 100` was removed: events valid under version 3 would be rejected by version 2"},
			},
		},
		{
			"format added", `{"type":"string"}`, `{"type":"string","format":"email"}`, compat.Full,
			[]compat.Change{{Path: "", Direction: "backward", Message: "`format: \"email\"` was added: events valid under version 2 would be rejected by version 3"}},
		},
		{
			"oneOf changed", `{"properties":{"payment":{"oneOf":[{"type":"string"}]}}}`, `{"properties":{"payment":{"oneOf":[{"type":"integer"}]}}}`, compat.Backward,
			[]compat.Change{{Path: "/properties/payment", Direction: "backward", Unprovable: true, Message: "cannot prove `oneOf` at /properties/payment compatible: the versions differ and the checker does not compare `oneOf`, so events valid under version 2 may be rejected by version 3; register with ?force=true if you are sure"}},
		},
		{
			"pattern changed", `{"pattern":"^a"}`, `{"pattern":"^b"}`, compat.Backward,
			[]compat.Change{{Path: "", Direction: "backward", Unprovable: true, Message: "cannot prove `pattern` at the root compatible: it changed from \"^a\" to \"^b\" and the checker compares patterns only for equality, so events valid under version 2 may be rejected by version 3; register with ?force=true if you are sure"}},
		},
		{
			"break hidden by a combinator of the narrower", `{"anyOf":[{"type":"string"}]}`, `{"anyOf":[{"type":"string"}],"type":"string"}`, compat.Backward,
			[]compat.Change{{Path: "", Direction: "backward", Unprovable: true, Message: "types `null`, `boolean`, `object`, `array`, `number` are no longer allowed: events valid under version 2 may be rejected by version 3 (cannot prove it either way: version 2 also constrains this value with `anyOf` at the root, which the checker does not compare; register with ?force=true if you are sure)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := compat.Check([]byte(tt.old), []byte(tt.new), tt.mode, 2, 3)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestCheckReportsEveryChange: one registration attempt lists every break,
// each at its own path, deep inside nested objects and arrays and through
// $ref, backward ones before forward ones.
func TestCheckReportsEveryChange(t *testing.T) {
	t.Parallel()
	old := `{
		"type": "object",
		"properties": {
			"id": {"type": "string"},
			"items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
			"total": {"type": "number", "minimum": 0}
		},
		"required": ["id"],
		"$defs": {"item": {"type": "object", "properties": {"qty": {"type": "integer"}, "sku": {"type": "string", "maxLength": 8}}}}
	}`
	new := `{
		"type": "object",
		"properties": {
			"id": {"type": "string", "format": "uuid"},
			"items": {"type": "array", "items": {"$ref": "#/$defs/line"}, "maxItems": 100},
			"total": {"type": "number"}
		},
		"required": ["id", "items"],
		"$defs": {"line": {"type": "object", "properties": {"qty": {"type": "number"}, "sku": {"type": "string", "maxLength": 6}}}}
	}`
	got, err := compat.Check([]byte(old), []byte(new), compat.Full, 4, 5)
	require.NoError(t, err)
	type at struct{ dir, path string }
	var paths []at
	for _, c := range got {
		require.False(t, c.Unprovable, c.Message)
		paths = append(paths, at{c.Direction, c.Path})
	}
	require.Equal(t, []at{
		{"backward", "/properties/items"},
		{"backward", "/properties/id"},
		{"backward", "/properties/items/items/properties/sku"},
		{"backward", "/properties/items"},
		{"forward", "/properties/items/items/properties/qty"},
		{"forward", "/properties/total"},
	}, paths, "%+v", got)
}
