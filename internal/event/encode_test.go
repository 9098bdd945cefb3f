package event_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

// Every character a string may hold survives the canonical JSON: through
// encoding/json, and through ParseStructured again.
func TestStringEscapingRoundTrips(t *testing.T) {
	t.Parallel()
	var all strings.Builder
	for r := rune(0); r < 0x80; r++ {
		all.WriteRune(r)
	}
	tests := map[string]string{
		"every ASCII character": all.String(),
		"line separators":       "a\u2028b\u2029c",
		"non-BMP and others":    "😀 é ñ \ufffd \u00ad \ufeff",
		"quotes and slashes":    `"\/\\"`,
		"a lone backslash":      `\`,
		"escape look-alikes":    `\u0041 \n \"`,
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev, err := event.New(event.Attributes{ID: s, Source: "/s", Type: "t", Subject: s, Extensions: map[string]any{"x": s}})
			require.NoError(t, err)
			var decoded struct {
				ID      string `json:"id"`
				Subject string `json:"subject"`
				X       string `json:"x"`
			}
			require.NoError(t, json.Unmarshal(ev.JSON, &decoded))
			require.Equal(t, s, decoded.ID)
			require.Equal(t, s, decoded.Subject)
			require.Equal(t, s, decoded.X)
			require.NotContains(t, string(ev.JSON), `\x`, "Go-only escape")
			checkEvent(t, ev, event.Limits{AllowReserved: true})
		})
	}
}
