package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestNewResponse(t *testing.T) {
	t.Parallel()
	h := http.Header{"Content-Type": {"text/plain"}, "X-Many": {"a", "b"}}
	for _, tc := range []struct {
		name      string
		raw       string
		wantBody  string
		truncated bool
	}{
		{"json object", `{"ok": true}`, `{"ok": true}`, false},
		{"json number", `42`, `42`, false},
		{"text", "accepted\n", `"accepted\n"`, false},
		{"escapes", "a\"b\\c\x01\xff\u2028", `"a\"b\\c\u0001\ufffd\u2028"`, false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newResponse(201, h, []byte(tc.raw))
			require.Equal(t, 201, r.Status)
			require.Equal(t, map[string]string{"content-type": "text/plain", "x-many": "a, b"}, r.Headers)
			require.Equal(t, tc.wantBody, string(r.Body))
			require.Equal(t, tc.truncated, r.Truncated)
			_, err := json.Marshal(r)
			require.NoError(t, err)
		})
	}
}

// A body cut at the limit must stay a valid JSON string that decodes to a
// prefix of the text, whatever escaping costs.
func TestNewResponseTruncates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"long json", append(append([]byte(`["`), bytes.Repeat([]byte("x"), MaxBody)...), `"]`...)},
		{"exactly at the limit once quoted", bytes.Repeat([]byte("y"), MaxBody-1)},
		{"control characters", bytes.Repeat([]byte{1}, MaxBody+1)},
		{"multi-byte runes", []byte(strings.Repeat("é", MaxBody))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := tc.raw[:min(len(tc.raw), MaxBody+1)] // what the reader hands over
			r := newResponse(200, nil, raw)
			require.True(t, r.Truncated)
			require.LessOrEqual(t, len(r.Body), MaxBody)
			var s string
			require.NoError(t, json.Unmarshal(r.Body, &s))
			require.True(t, strings.HasPrefix(string(tc.raw), s), "decoded body is not a prefix")
			require.Greater(t, len(r.Body), MaxBody-6, "cut more than one escape short of the limit")
		})
	}
}

func FuzzJSONStringPrefix(f *testing.F) {
	for _, seed := range []string{"", "plain", "\x00\x1f\"\\", "\xff\xfe", "é\u2028\u2029"} {
		f.Add([]byte(seed), 10)
	}
	f.Fuzz(func(t *testing.T, text []byte, limit int) {
		limit = 2 + abs(limit)%64
		enc, cut := jsonStringPrefix(text, limit)
		require.LessOrEqual(t, len(enc), limit)
		var s string
		require.NoError(t, json.Unmarshal(enc, &s))
		// Each invalid byte becomes one U+FFFD, as encoding/json does.
		var want strings.Builder
		for i := 0; i < len(text); {
			r, size := utf8.DecodeRune(text[i:])
			want.WriteRune(r)
			i += size
		}
		if !cut {
			require.Equal(t, want.String(), s)
		}
		require.True(t, strings.HasPrefix(want.String(), s))
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
