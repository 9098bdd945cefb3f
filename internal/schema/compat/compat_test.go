package compat_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema/compat"
)

// outcome is what one direction of a check finds.
type outcome int

const (
	ok  outcome = iota // compatible
	brk                // at least one proven break
	unp                // only unprovable changes
)

func (o outcome) String() string { return [...]string{"compatible", "break", "unprovable"}[o] }

func outcomeOf(changes []compat.Change) outcome {
	if len(changes) == 0 {
		return ok
	}
	for _, c := range changes {
		if !c.Unprovable {
			return brk
		}
	}
	return unp
}

// worst is the outcome of full: a break wins over unprovable.
func worst(a, b outcome) outcome {
	if a == brk || b == brk {
		return brk
	}
	return max(a, b)
}

// TestCheckModes runs each schema change in every mode. backward and forward
// give the expected outcome of each direction; full must be the worse of the
// two and none always compatible.
func TestCheckModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		old, new          string
		backward, forward outcome
	}{
		// type
		{"type narrowed", `{"type":["string","null"]}`, `{"type":"string"}`, brk, ok},
		{"type widened", `{"type":"string"}`, `{"type":["string","null"]}`, ok, brk},
		{"integer to number", `{"type":"integer"}`, `{"type":"number"}`, ok, brk},
		{"number to integer", `{"type":"number"}`, `{"type":"integer"}`, brk, ok},
		{"type added", `{}`, `{"type":"object"}`, brk, ok},
		{"type reordered", `{"type":["null","string"]}`, `{"type":["string","null"]}`, ok, ok},

		// properties and additionalProperties
		{"optional property added, open model, restrictive", `{"type":"object","properties":{"a":{"type":"string"}}}`, `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, brk, ok},
		{"optional property added, open model, unconstrained", `{"type":"object","properties":{"a":{}}}`, `{"type":"object","properties":{"a":{},"b":{"description":"free"}}}`, ok, ok},
		{"optional property added, closed model", `{"type":"object","properties":{"a":{}},"additionalProperties":false}`, `{"type":"object","properties":{"a":{},"b":{"type":"integer"}},"additionalProperties":false}`, ok, brk},
		{"property removed, closed model", `{"type":"object","properties":{"a":{},"b":{"type":"integer"}},"additionalProperties":false}`, `{"type":"object","properties":{"a":{}},"additionalProperties":false}`, brk, ok},
		{"property removed, open model", `{"type":"object","properties":{"a":{},"b":{"type":"integer"}}}`, `{"type":"object","properties":{"a":{}}}`, ok, brk},
		{"additionalProperties true to false", `{"type":"object","properties":{"a":{}},"additionalProperties":true}`, `{"type":"object","properties":{"a":{}},"additionalProperties":false}`, brk, ok},
		{"additionalProperties false to true", `{"type":"object","additionalProperties":false}`, `{"type":"object","additionalProperties":true}`, ok, brk},
		{"additionalProperties schema narrowed", `{"additionalProperties":{"type":["string","number"]}}`, `{"additionalProperties":{"type":"string"}}`, brk, ok},
		{"additionalProperties schema covers new property", `{"additionalProperties":{"type":"string"}}`, `{"properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}`, ok, ok},
		{"nested array item property widened", `{"properties":{"items":{"type":"array","items":{"properties":{"qty":{"type":"integer"}}}}}}`, `{"properties":{"items":{"type":"array","items":{"properties":{"qty":{"type":"number"}}}}}}`, ok, brk},
		{"minProperties raised", `{"minProperties":1}`, `{"minProperties":2}`, brk, ok},

		// required
		{"required added", `{"properties":{"a":{}}}`, `{"properties":{"a":{}},"required":["a"]}`, brk, ok},
		{"required removed", `{"properties":{"a":{}},"required":["a"]}`, `{"properties":{"a":{}}}`, ok, brk},
		{"required reordered", `{"required":["a","b"]}`, `{"required":["b","a"]}`, ok, ok},

		// enum and const
		{"enum value removed", `{"enum":["EUR","USD"]}`, `{"enum":["EUR"]}`, brk, ok},
		{"enum value added", `{"enum":["EUR"]}`, `{"enum":["EUR","USD"]}`, ok, brk},
		{"const changed", `{"const":"a"}`, `{"const":"b"}`, brk, brk},
		{"enum added", `{"type":"string"}`, `{"type":"string","enum":["a"]}`, brk, ok},
		{"const widened to enum", `{"const":1}`, `{"enum":[1,2]}`, ok, brk},
		{"enum numbers equal by value", `{"enum":[1,2.5]}`, `{"enum":[1.0,2.50]}`, ok, ok},
		{"enum value type no longer allowed", `{"enum":["a",1]}`, `{"enum":["a",1],"type":"string"}`, brk, ok},
		{"boolean narrowed to one value", `{"type":"boolean"}`, `{"enum":[true]}`, brk, ok},
		{"null as const", `{"type":"null"}`, `{"const":null}`, ok, ok},

		// arrays
		{"items narrowed", `{"type":"array","items":{"type":["string","integer"]}}`, `{"type":"array","items":{"type":"string"}}`, brk, ok},
		{"prefixItems position added", `{"prefixItems":[{"type":"string"}]}`, `{"prefixItems":[{"type":"string"},{"type":"integer"}]}`, brk, ok},
		{"closed tuple opened", `{"prefixItems":[{}],"items":false}`, `{"prefixItems":[{}]}`, ok, brk},
		{"draft-07 tuple opened", `{"items":[{"type":"string"}],"additionalItems":false}`, `{"items":[{"type":"string"}],"additionalItems":true}`, ok, brk},
		{"draft-07 tuple to 2020-12 prefixItems", `{"items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`, `{"prefixItems":[{"type":"string"}],"items":{"type":"integer"}}`, ok, ok},
		{"minItems raised", `{"type":"array","minItems":1}`, `{"type":"array","minItems":2}`, brk, ok},
		{"maxItems removed", `{"type":"array","maxItems":3}`, `{"type":"array"}`, ok, brk},
		{"uniqueItems added", `{"type":"array"}`, `{"type":"array","uniqueItems":true}`, brk, ok},
		{"uniqueItems false is no constraint", `{"type":"array"}`, `{"type":"array","uniqueItems":false}`, ok, ok},

		// numbers
		{"minimum raised", `{"type":"number","minimum":0}`, `{"type":"number","minimum":1}`, brk, ok},
		{"maximum removed", `{"type":"number","maximum":10}`, `{"type":"number"}`, ok, brk},
		{"minimum made exclusive (2020-12)", `{"minimum":0}`, `{"exclusiveMinimum":0}`, brk, ok},
		{"minimum made exclusive (draft-04)", `{"minimum":0}`, `{"minimum":0,"exclusiveMinimum":true}`, brk, ok},
		{"integer bounds equal in effect", `{"type":"integer","minimum":1,"maximum":9}`, `{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":9.5}`, ok, ok},
		{"bounds ignore strings", `{"type":"string"}`, `{"type":"string","minimum":5}`, ok, ok},
		{"multipleOf 2 to 4", `{"type":"number","multipleOf":2}`, `{"type":"number","multipleOf":4}`, brk, ok},
		{"multipleOf 2 to 3", `{"multipleOf":2}`, `{"multipleOf":3}`, brk, brk},
		{"multipleOf 1 on integers", `{"type":"integer"}`, `{"type":"integer","multipleOf":1}`, ok, ok},
		{"multipleOf 0.1 to 0.5", `{"multipleOf":0.1}`, `{"multipleOf":0.5}`, brk, ok},

		// strings
		{"maxLength lowered", `{"type":"string","maxLength":10}`, `{"type":"string","maxLength":5}`, brk, ok},
		{"minLength added", `{"type":"string"}`, `{"type":"string","minLength":1}`, brk, ok},
		{"pattern changed", `{"type":"string","pattern":"^[a-z]+$"}`, `{"type":"string","pattern":"^[a-z0-9]+$"}`, unp, unp},
		{"pattern added", `{"type":"string"}`, `{"type":"string","pattern":"^a"}`, brk, ok},
		{"format added", `{"type":"string"}`, `{"type":"string","format":"email"}`, brk, ok},
		{"format changed", `{"type":"string","format":"date"}`, `{"type":"string","format":"date-time"}`, unp, unp},
		{"length bound beside a pattern of the narrower", `{"type":"string","pattern":"^[a-z]{1,3}$"}`, `{"type":"string","maxLength":3}`, unp, brk},

		// $ref
		{"$ref target narrowed", `{"properties":{"m":{"$ref":"#/$defs/money"}},"$defs":{"money":{"type":["string","number"]}}}`, `{"properties":{"m":{"$ref":"#/$defs/money"}},"$defs":{"money":{"type":"string"}}}`, brk, ok},
		{"$ref inlined", `{"properties":{"m":{"$ref":"#/definitions/money"}},"definitions":{"money":{"type":"string"}}}`, `{"properties":{"m":{"type":"string","description":"inlined"}}}`, ok, ok},
		{"$ref by any pointer", `{"properties":{"a":{"type":"string"},"b":{"$ref":"#/properties/a"}}}`, `{"properties":{"a":{"type":"string"},"b":{"type":"string"}}}`, ok, ok},
		{"recursive unchanged but for annotations", `{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`, `{"$defs":{"node":{"title":"node","type":"object","properties":{"next":{"$ref":"#/$defs/node"}}}},"$ref":"#/$defs/node"}`, ok, ok},
		{"recursive widened deep", `{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"},"v":{"type":"integer"}}}},"$ref":"#/$defs/n"}`, `{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"},"v":{"type":"number"}}}},"$ref":"#/$defs/n"}`, ok, brk},
		{"$ref cycle without structure", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`, `{"type":"string"}`, unp, unp},
		{"draft-07 ignores keywords beside $ref", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"s":{"type":"string"}},"$ref":"#/definitions/s","maxLength":1}`, `{"type":"string"}`, ok, ok},

		// keywords compared only for equality
		{"oneOf identical, annotations changed", `{"oneOf":[{"type":"string"},{"type":"integer"}],"title":"a"}`, `{"oneOf":[{"type":"string","description":"s"},{"type":"integer"}],"title":"b"}`, ok, ok},
		{"oneOf changed", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"},{"type":"number"}]}`, unp, unp},
		{"allOf added", `{}`, `{"allOf":[{"type":"string"}]}`, unp, ok},
		{"not changed", `{"not":{"type":"string"}}`, `{"not":{"type":"number"}}`, unp, unp},
		{"type narrowed beside if-then", `{"type":["string","number"],"if":{"type":"string"},"then":{"minLength":1}}`, `{"type":"string","if":{"type":"string"},"then":{"minLength":1}}`, unp, ok},
		{"dependentRequired identical", `{"dependentRequired":{"a":["b"]}}`, `{"dependentRequired":{"a":["b"]},"description":"d"}`, ok, ok},
		{"patternProperties identical, property declared", `{"patternProperties":{"^x_":{"type":"string"}}}`, `{"patternProperties":{"^x_":{"type":"string"}},"properties":{"x_a":{"maxLength":3}}}`, unp, ok},
		{"patternProperties changed", `{"patternProperties":{"^x_":{"type":"string"}}}`, `{"patternProperties":{"^y_":{"type":"string"}}}`, unp, unp},
		{"unknown keyword changed", `{"x-kafka":1}`, `{"x-kafka":2}`, unp, unp},
		{"annotations only", `{"title":"a","description":"b","examples":[1],"default":1,"deprecated":false,"readOnly":true,"writeOnly":false,"$comment":"c"}`, `{"title":"z","examples":[2],"default":2}`, ok, ok},

		// boolean and empty schemas
		{"true to false", `true`, `false`, brk, ok},
		{"empty to true", `{}`, `true`, ok, ok},
		{"false to string", `false`, `{"type":"string"}`, ok, brk},
		{"empty to string", `{}`, `{"type":"string"}`, brk, ok},
		{"property schema false", `{"properties":{"a":{}}}`, `{"properties":{"a":false}}`, brk, ok},
		{"not a schema", `{"properties":{"a":1}}`, `{"properties":{"a":{}}}`, ok, unp},
	}
	require.GreaterOrEqual(t, len(tests), 40)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := map[compat.Mode]outcome{
				compat.Backward: tt.backward,
				compat.Forward:  tt.forward,
				compat.Full:     worst(tt.backward, tt.forward),
				compat.None:     ok,
			}
			for _, mode := range []compat.Mode{compat.Backward, compat.Forward, compat.Full, compat.None} {
				changes, err := compat.Check([]byte(tt.old), []byte(tt.new), mode, 1, 2)
				require.NoError(t, err)
				require.Equal(t, want[mode].String(), outcomeOf(changes).String(), "mode %s: %+v", mode, changes)
				for _, c := range changes {
					switch mode {
					case compat.Backward, compat.Forward:
						require.Equal(t, string(mode), c.Direction)
					case compat.Full:
						require.Contains(t, []string{"backward", "forward"}, c.Direction)
					}
				}
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]compat.Mode{
		"": compat.Backward, "backward": compat.Backward, "FORWARD": compat.Forward, " full ": compat.Full, "none": compat.None,
	} {
		got, err := compat.ParseMode(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := compat.ParseMode("backward_transitive")
	require.ErrorIs(t, err, compat.ErrUnknownMode)
	require.EqualError(t, err, `unknown compatibility mode "backward_transitive": use backward, forward, full or none`)
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	_, err := compat.Check([]byte(`{}`), []byte(`{"type":`), compat.Backward, 1, 2)
	var se *compat.InvalidSchemaError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 2, se.Version)
	require.EqualError(t, err, "schema version 2 is not valid JSON at byte 8: unexpected EOF")

	_, err = compat.Check([]byte(`{} {}`), []byte(`{}`), compat.None, 1, 2)
	require.ErrorAs(t, err, &se)
	require.Equal(t, 1, se.Version)

	_, err = compat.Check([]byte(``), []byte(`{}`), compat.Backward, 1, 2)
	require.EqualError(t, err, "schema version 1 is not valid JSON at byte 0: empty document")

	_, err = compat.Check([]byte(`{}`), []byte(`{}`), "sideways", 1, 2)
	require.True(t, errors.Is(err, compat.ErrUnknownMode))

	changes, err := compat.Check([]byte(`{}`), []byte(`{"type":"string"}`), "", 1, 2)
	require.NoError(t, err)
	require.Len(t, changes, 1, "the default mode is backward")
}
