package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

// fuzzLimits are small enough for the fuzzer to reach the size limits.
var fuzzLimits = event.Limits{MaxEventBytes: 1 << 16, MaxBatch: 50}

// requireEventError asserts that err is an *event.Error fit to show a client.
func requireEventError(t *testing.T, err error) *event.Error {
	t.Helper()
	var e *event.Error
	require.True(t, errors.As(err, &e), "%T %v", err, err)
	require.Contains(t, []int{400, 413, 415}, e.Status)
	require.NotEmpty(t, e.Title)
	require.NotEmpty(t, e.Detail)
	require.NotEmpty(t, e.Errors)
	require.LessOrEqual(t, len(e.Errors), 100)
	return e
}

func FuzzParseStructured(f *testing.F) {
	f.Add([]byte(with("")))
	f.Add([]byte(with(`"subject":"s","expectedversion":3,"data":{"a":[1,"\u00e9"]},"x":1.5e3`)))
	f.Add([]byte(with(`"data_base64":"aGk=","sequence":7`)))
	f.Add([]byte(`{"specversion":"1.0","\u0069d":"\ud83d\ude00","source":"/s","type":"t","t":"\ud83d"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := event.ParseStructured(body, fuzzLimits)
		if err != nil {
			require.Nil(t, ev)
			e := requireEventError(t, err)
			// The checker agrees with encoding/json, except where it is
			// deliberately stricter: nesting depth and unpaired surrogates.
			if e.Title == event.TitleMalformedJSON && json.Valid(body) && utf8.Valid(body) {
				msg := e.Errors[0].Message
				require.True(t, strings.Contains(msg, "nests more than") || strings.Contains(msg, "surrogate"), msg)
			}
			return
		}
		require.True(t, json.Valid(body), "accepted invalid JSON %q", body)
		// The attributes read as encoding/json reads them.
		var attrs map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber() // numbers such as 1e400 overflow float64
		require.NoError(t, dec.Decode(&attrs))
		require.Equal(t, attrs["id"], ev.ID)
		require.Equal(t, attrs["source"], ev.Source)
		require.Equal(t, attrs["type"], ev.Type)
		if s, ok := attrs["subject"].(string); ok {
			require.Equal(t, s, ev.Subject)
		}
		checkEvent(t, ev, fuzzLimits)
	})
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(`[` + with("") + `,1,{}]`))
	f.Add([]byte(`[` + with(`"data":[[[]]]`) + `,` + with(`"type":"ensue.x"`) + `]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, errs, err := event.ParseBatch(body, fuzzLimits)
		if err != nil {
			require.Nil(t, events)
			require.Nil(t, errs)
			requireEventError(t, err)
			return
		}
		require.True(t, json.Valid(body), "accepted invalid JSON %q", body)
		require.Len(t, errs, len(events))
		require.LessOrEqual(t, len(events), fuzzLimits.MaxBatch)
		for i, ev := range events {
			if errs[i] != nil {
				require.Nil(t, ev)
				requireEventError(t, errs[i])
				continue
			}
			checkEvent(t, ev, fuzzLimits)
		}
	})
}

// splitHTTP reads fuzz input as a tiny HTTP message: "name: value" header
// lines, a blank line, then the body. Header names are kept as written, not
// canonicalised, as a hand-built http.Header may have them.
func splitHTTP(in []byte) (http.Header, []byte) {
	h := http.Header{}
	for len(in) > 0 {
		line, rest, _ := bytes.Cut(in, []byte("\n"))
		in = rest
		if len(line) == 0 {
			return h, in
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		h[string(name)] = append(h[string(name)], string(bytes.TrimLeft(value, " ")))
	}
	return h, nil
}

func FuzzParseBinary(f *testing.F) {
	f.Add([]byte("ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\ncontent-type: application/json\n\n{\"a\": [1, 2]}"))
	f.Add([]byte("ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\nce-subject: caf%C3%A9\nce-expectedversion: 3\ncontent-type: text/plain\n\nhello"))
	f.Add([]byte("Ce-Specversion: 1.0\nCe-Id: 1\nCe-Source: /s\nCe-Type: t\nCe-Myext: %zz\n\n\x00\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, body := splitHTTP(in)
		ev, err := event.ParseBinary(h, body, fuzzLimits)
		if err != nil {
			require.Nil(t, ev)
			requireEventError(t, err)
			return
		}
		checkEvent(t, ev, fuzzLimits)
	})
}
