package schema_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema"
)

// compileFile compiles testdata/schemas/<name>.json.
func compileFile(tb testing.TB, name string) *schema.Schema {
	tb.Helper()
	doc, err := os.ReadFile(filepath.Join("testdata", "schemas", name+".json"))
	require.NoError(tb, err)
	s, err := schema.Compile(doc)
	require.NoError(tb, err)
	return s
}

// validOrder is a ~400 B order that order.json accepts.
const validOrder = `{"order_id":"5f0c6b1e-8a4d-4c2e-9b7a-3d2f1e0c9b8a","customer":"Ada Lovelace","email":"ada@example.com","status":"paid","currency":"EUR","total":129.97,"items":[{"sku":"BOOK-0001","qty":2,"price":39.99},{"sku":"PEN-42","qty":1,"price":49.99}],"placed_at":"2026-03-14T15:09:26.535Z","website":"https://example.com/orders/42","note":"leave at the door, please ring twice"}`

// withOrder returns validOrder with top-level members replaced (a nil value
// removes the member).
func withOrder(tb testing.TB, changes map[string]string) string {
	tb.Helper()
	s := validOrder
	for k, v := range changes {
		key := `"` + k + `":`
		i := strings.Index(s, key)
		if i < 0 {
			require.NotEmpty(tb, v, "cannot remove absent %s", k)
			s = s[:len(s)-1] + "," + key + v + "}"
			continue
		}
		end := i + len(key) + valueLen(s[i+len(key):])
		if v == "" { // remove, with a comma
			if s[end] == ',' {
				end++
			} else if s[i-1] == ',' {
				i--
			}
			s = s[:i] + s[end:]
			continue
		}
		s = s[:i+len(key)] + v + s[end:]
	}
	return s
}

// valueLen is the length of the JSON value at the start of s (no nested
// strings with brackets in our fixtures).
func valueLen(s string) int {
	depth, inStr := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
				if depth == 0 {
					return i + 1
				}
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case c == ',' && depth == 0:
			return i
		}
	}
	return len(s)
}

type want struct{ pointer, keyword string }

func wants(vs []schema.Violation) []want {
	var out []want
	for _, v := range vs {
		out = append(out, want{v.Pointer, v.Keyword})
	}
	return out
}

func TestValidate(t *testing.T) {
	t.Parallel()
	order := compileFile(t, "order")
	payment := compileFile(t, "payment")
	host := compileFile(t, "host_draft07")
	nullable, err := schema.Compile([]byte(`{"type":["object","null"],"properties":{"n":{"type":"integer"}}}`))
	require.NoError(t, err)

	const validPayment = `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":1299,"method":{"kind":"card","last4":"4242","expires":"2028-09-30"}}`
	const validHost = `{"host":{"name":"db-1.internal.example.com","ipv4":"10.0.0.7","ipv6":"fe80::1","since":"2024-02-29"},"checks":[{"at":"08:30:00Z","window":[0,5,10]}],"owner":"ops@example.com","link":"/runbooks/db"}`

	tests := []struct {
		name   string
		schema *schema.Schema
		data   string
		want   []want
	}{
		{"order valid", order, validOrder, nil},
		{"order missing currency", order, withOrder(t, map[string]string{"currency": ""}), []want{{"/data", "required"}}},
		{"order negative total", order, withOrder(t, map[string]string{"total": "-5"}), []want{{"/data/total", "minimum"}}},
		{"order extra property", order, withOrder(t, map[string]string{"discount": "10"}), []want{{"/data/discount", "additionalProperties"}}},
		{"order bad email", order, withOrder(t, map[string]string{"email": `"ada-at-example.com"`}), []want{{"/data/email", "format"}}},
		{"order bad date-time", order, withOrder(t, map[string]string{"placed_at": `"2026-02-30T25:00:00Z"`}), []want{{"/data/placed_at", "format"}}},
		{"order bad uuid", order, withOrder(t, map[string]string{"order_id": `"not-a-uuid"`}), []want{{"/data/order_id", "format"}}},
		{"order bad uri", order, withOrder(t, map[string]string{"website": `"no scheme here"`}), []want{{"/data/website", "format"}}},
		{"order unknown status", order, withOrder(t, map[string]string{"status": `"lost"`}), []want{{"/data/status", "enum"}}},
		{"order lowercase currency", order, withOrder(t, map[string]string{"currency": `"eur"`}), []want{{"/data/currency", "pattern"}}},
		{"order total is a string", order, withOrder(t, map[string]string{"total": `"12"`}), []want{{"/data/total", "type"}}},
		{"order no items", order, withOrder(t, map[string]string{"items": `[]`}), []want{{"/data/items", "minItems"}}},
		{"order nested item errors", order, withOrder(t, map[string]string{"items": `[{"sku":"ok-lower","qty":0,"price":1.005},{"sku":"B-2","qty":1.5},{"sku":"C-3","qty":1,"price":1,"gift":true}]`}),
			[]want{
				{"/data/items/0/price", "multipleOf"},
				{"/data/items/0/qty", "minimum"},
				{"/data/items/0/sku", "pattern"},
				{"/data/items/1", "required"},
				{"/data/items/1/qty", "type"},
				{"/data/items/2/gift", "additionalProperties"},
			}},
		{"order many errors sorted", order, withOrder(t, map[string]string{"total": "-1", "email": `"x"`, "customer": `""`}),
			[]want{{"/data/customer", "minLength"}, {"/data/email", "format"}, {"/data/total", "minimum"}}},
		{"order absent data", order, "", []want{{"/data", "type"}}},
		{"order data null", order, "null", []want{{"/data", "type"}}},
		{"order data array", order, "[]", []want{{"/data", "type"}}},

		{"payment valid card", payment, validPayment, nil},
		{"payment valid bank", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"bank","iban":"DE89370400440532013000"}}`, nil},
		{"payment card missing last4", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"card","expires":"2028-01-01"}}`,
			[]want{{"/data/method", "oneOf"}, {"/data/method", "required"}}},
		{"payment bank short iban", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"bank","iban":"DE89"}}`,
			[]want{{"/data/method", "oneOf"}, {"/data/method/iban", "minLength"}}},
		{"payment method wrong type", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":"cash"}`,
			[]want{{"/data/method", "oneOf"}}},
		{"payment ref matches none", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"bank","iban":"DE89370400440532013000"},"ref":true}`,
			[]want{{"/data/ref", "oneOf"}}},
		{"payment duplicate tags", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"bank","iban":"DE89370400440532013000"},"tags":["a","b","a"]}`,
			[]want{{"/data/tags", "uniqueItems"}}},
		{"payment amount not integer", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":12.5,"method":{"kind":"bank","iban":"DE89370400440532013000"}}`,
			[]want{{"/data/amount", "type"}}},
		{"payment amount integer written as 1.0", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":1.0,"method":{"kind":"bank","iban":"DE89370400440532013000"}}`, nil},

		{"draft-07 valid", host, validHost, nil},
		{"draft-07 bad formats", host, `{"host":{"name":"-bad-.example..com","ipv4":"10.0.0.300","ipv6":"fe80:::1","since":"2024-02-30"},"checks":[{"at":"25:00:00Z","window":[0,-1,2,3]}],"owner":"nobody","link":"http://[bad"}`,
			[]want{
				{"/data/checks/0/at", "format"},
				{"/data/checks/0/window", "maxItems"},
				{"/data/checks/0/window/1", "minimum"},
				{"/data/host/ipv4", "format"},
				{"/data/host/ipv6", "format"},
				{"/data/host/name", "format"},
				{"/data/host/since", "format"},
				{"/data/link", "format"},
				{"/data/owner", "format"},
			}},
		{"draft-07 ref missing required", host, `{"host":{"name":"a"},"checks":[]}`, []want{{"/data/host", "required"}}},

		{"nullable absent", nullable, "", nil},
		{"nullable whitespace", nullable, " \n", nil},
		{"nullable null", nullable, "null", nil},
		{"nullable wrong member", nullable, `{"n":"x"}`, []want{{"/data/n", "type"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs, err := tt.schema.Validate([]byte(tt.data))
			require.NoError(t, err)
			require.Equal(t, tt.want, wants(vs), "violations: %+v", vs)
			for _, v := range vs {
				require.NotEmpty(t, v.Message)
				require.NotContains(t, v.Message, "ensue.invalid")
			}
		})
	}
}

// TestValidateMessages pins the wording users see.
func TestValidateMessages(t *testing.T) {
	t.Parallel()
	order := compileFile(t, "order")
	payment := compileFile(t, "payment")
	tests := []struct {
		name   string
		schema *schema.Schema
		data   string
		want   []schema.Violation
	}{
		{"minimum", order, withOrder(t, map[string]string{"total": "-5"}),
			[]schema.Violation{{Pointer: "/data/total", Keyword: "minimum", Message: "must be >= 0 but is -5"}}},
		{"required", order, withOrder(t, map[string]string{"currency": ""}),
			[]schema.Violation{{Pointer: "/data", Keyword: "required", Message: "missing property `currency`"}}},
		{"additionalProperties", order, withOrder(t, map[string]string{"discount": "10"}),
			[]schema.Violation{{Pointer: "/data/discount", Keyword: "additionalProperties", Message: "`discount` is not allowed"}}},
		{"format", order, withOrder(t, map[string]string{"email": `"nope"`}),
			[]schema.Violation{{Pointer: "/data/email", Keyword: "format", Message: "is not a valid email"}}},
		{"enum", order, withOrder(t, map[string]string{"status": `"lost"`}),
			[]schema.Violation{{Pointer: "/data/status", Keyword: "enum", Message: `must be one of "new", "paid", "shipped", "cancelled" but is "lost"`}}},
		{"type", order, withOrder(t, map[string]string{"total": `"12"`}),
			[]schema.Violation{{Pointer: "/data/total", Keyword: "type", Message: "must be number but is string"}}},
		{"absent", order, "",
			[]schema.Violation{{Pointer: "/data", Keyword: "type", Message: "is absent but must be object"}}},
		{"oneOf closest", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"bank","iban":"DE89"}}`,
			[]schema.Violation{
				{Pointer: "/data/method", Keyword: "oneOf", Message: "matches none of the 2 alternatives; the closest is #/oneOf/1"},
				{Pointer: "/data/method/iban", Keyword: "minLength", Message: "must be at least 15 characters long but is 4"},
			}},
		{"oneOf types", payment, `{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":5,"method":{"kind":"bank","iban":"DE89370400440532013000"},"ref":true}`,
			[]schema.Violation{{Pointer: "/data/ref", Keyword: "oneOf", Message: "matches none of the 2 alternatives: must be string or integer but is boolean"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs, err := tt.schema.Validate([]byte(tt.data))
			require.NoError(t, err)
			require.Equal(t, tt.want, vs)
		})
	}
}

func TestValidateInvalidJSON(t *testing.T) {
	t.Parallel()
	order := compileFile(t, "order")
	for _, data := range []string{`{`, `{"a":1,}`, `[1 2]`, `NaN`, `{"a":01}`, `"\x"`, "\"a\x01\"", `{} {}`, `tru`, strings.Repeat("[", 200) + strings.Repeat("]", 200)} {
		vs, err := order.Validate([]byte(data))
		require.Error(t, err, "data %q", data)
		require.True(t, errors.Is(err, schema.ErrInvalidJSON), "%v", err)
		require.Nil(t, vs)
	}
}

func TestValidateHugeExponent(t *testing.T) {
	t.Parallel()
	order := compileFile(t, "order")
	vs, err := order.Validate([]byte(withOrder(t, map[string]string{"total": "1e999999999"})))
	require.NoError(t, err)
	require.Equal(t, []schema.Violation{{Pointer: "/data/total", Keyword: "type", Message: "number is out of range (exponent beyond ±1000 or more than 400 characters)"}}, vs)

	_, err = schema.Compile([]byte(`{"properties":{"a":{"minLength":1e999999999}}}`))
	var ce *schema.CompileError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "/properties/a/minLength", ce.Pointer)

	c, err := schema.Canonical([]byte(`{"a": 1e999999999}`))
	require.NoError(t, err)
	require.Equal(t, `{"a":1e999999999}`, string(c))
}

func TestValidatePointerEscaping(t *testing.T) {
	t.Parallel()
	s, err := schema.Compile([]byte(`{"properties":{"a/b":{"type":"string"},"c~d":{"type":"string"}},"additionalProperties":false}`))
	require.NoError(t, err)
	vs, err := s.Validate([]byte(`{"a/b":1,"c~d":2,"e/f":3}`))
	require.NoError(t, err)
	require.Equal(t, []want{{"/data/a~1b", "type"}, {"/data/c~0d", "type"}, {"/data/e~1f", "additionalProperties"}}, wants(vs))
}

func TestValidateSortsIndexesAsNumbers(t *testing.T) {
	t.Parallel()
	s, err := schema.Compile([]byte(`{"type":"array","items":{"type":"integer"}}`))
	require.NoError(t, err)
	vs, err := s.Validate([]byte(`[0,1,"x",3,4,5,6,7,8,9,"y",11]`))
	require.NoError(t, err)
	require.Equal(t, []want{{"/data/2", "type"}, {"/data/10", "type"}}, wants(vs))
}
