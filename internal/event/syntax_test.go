package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckJSONAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`0`, `-0`, `1.5e-3`, `1E+2`, `"a"`, `true`, `null`, `[]`, `{}`, ` [1, {"a": [null, false]}] `,
		`{"a":1,"a":2}`, `"\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\"`, "\"\x7f\"", `[` + strings.Repeat(`"x",`, 50) + `1]`,
		``, ` `, `01`, `1.`, `.1`, `1e`, `1e+`, `-`, `+1`, `0x1`, `NaN`, `Infinity`, `tru`, `nul`, `falsey`,
		`[1,]`, `{"a":1,}`, `{"a"}`, `{"a" 1}`, `{1:2}`, `{'a':1}`, `[1 2]`, `"a`, `"\x"`, `"\u12"`, `"\u12g4"`,
		"\"\x00\"", "\"\x1f\"", "\"a\nb\"", `[] []`, `{}x`, `/**/1`, "\u00a01", "1\u00a0",
	} {
		got := checkJSON([]byte(in), 64) == nil
		require.Equal(t, json.Valid([]byte(in)), got, "%q", in)
	}
}

func TestCheckJSONStricterThanEncodingJSON(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"\ud800"`:       `unpaired UTF-16 surrogate \ud800 in a string: JSON text must encode valid Unicode at byte 1`,
		`"\udc00"`:       `unpaired UTF-16 surrogate \udc00 in a string: JSON text must encode valid Unicode at byte 1`,
		`["\ud83dx"]`:    `unpaired UTF-16 surrogate \ud83d in a string: JSON text must encode valid Unicode at byte 2`,
		`"\ud83d\u0041"`: `unpaired UTF-16 surrogate \ud83d in a string: JSON text must encode valid Unicode at byte 1`,
		`[[[1]]]`:        `JSON nests more than 2 objects and arrays deep at byte 2`,
		`{"a":{"b":{}}}`: `JSON nests more than 2 objects and arrays deep at byte 10`,
	} {
		require.True(t, json.Valid([]byte(in)))
		err := checkJSON([]byte(in), 2)
		require.NotNil(t, err, "%q", in)
		require.Equal(t, want, err.Error(), "%q", in)
	}
}

func TestCheckJSONOffsets(t *testing.T) {
	t.Parallel()
	for in, off := range map[string]int{
		``: 0, `   `: 3, `{"a":1,,}`: 7, `[1,2`: 4, `{"a":tru}`: 8, `"abc`: 4, `[1] x`: 4,
		"{\"a\":\"\x01\"}": 6, `{"a":-}`: 6, `[1.e5]`: 3, `{"a" "b"}`: 5, `["\q"]`: 3,
	} {
		err := checkJSON([]byte(in), 64)
		require.NotNil(t, err, "%q", in)
		require.Equal(t, off, err.Offset, "%q: %v", in, err)
	}
}

func TestAppendUnescaped(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, `plain`, `\"`, `\\`, `\/`, `\b\f\n\r\t`, `\u0000\u001f`, `\u00e9`, `\u20ac`, `\ud83d\ude00`,
		`a\ud83d\ude00b\u0041c`, `\\u0041`, `\\\"`, `é😀`, `x\\`,
	} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(`"`+in+`"`), &want), "%q", in)
		require.Nil(t, checkJSON([]byte(`"`+in+`"`), 1), "%q", in)
		require.Equal(t, want, string(appendUnescaped([]byte("prefix"), []byte(in))[len("prefix"):]), "%q", in)
		require.Equal(t, len(in)+1, stringEnd([]byte(`"`+in+`"`), 1), "%q", in)
	}
}

func TestAppendCompact(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`1`, ` { "a" : [ 1 , 2 ] ,  "b c" : " x \" y \\" } `, "[\n\t\"\\\\\" ,\r\n null ]", `"  "`, `{}`,
	} {
		var want bytes.Buffer
		require.NoError(t, json.Compact(&want, []byte(in)))
		require.Equal(t, want.String(), string(appendCompact(nil, []byte(in))), "%q", in)
	}
}
