package api

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ensue-dev/ensue/internal/store"
)

// The hot paths write their JSON answers by hand: they are small, fixed in
// shape, and encoding/json's reflection was a measurable share of ingest.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func quote(s string) string { return string(appendString(nil, s)) }

// appendPlace opens an object with where an event is: its position, and
// its stream and version (null without a stream).
func appendPlace(b []byte, pos uint64, stream string, version uint64) []byte {
	b = append(b, `{"position":`...)
	b = strconv.AppendUint(b, pos, 10)
	if stream == "" {
		return append(b, `,"stream":null,"version":null`...)
	}
	b = append(b, `,"stream":`...)
	b = appendString(b, stream)
	b = append(b, `,"version":`...)
	return strconv.AppendUint(b, version, 10)
}

// appendResult appends one append result object.
func appendResult(b []byte, r store.Result) []byte {
	b = appendPlace(b, r.Position, r.Stream, r.Version)
	if r.Duplicate {
		b = append(b, `,"duplicate":true}`...)
	} else {
		b = append(b, `,"duplicate":false}`...)
	}
	return b
}

// appendRecord appends one record object.
func appendRecord(b []byte, r store.Record) []byte {
	b = appendPlace(b, r.Position, r.Stream, r.Version)
	b = append(b, `,"recorded_at":"`...)
	b = r.RecordedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","namespace":`...)
	b = appendString(b, r.Namespace)
	b = append(b, `,"event":`...)
	b = append(b, r.Data...)
	return append(b, '}')
}

func appendRecords(b []byte, recs []store.Record) []byte {
	b = append(b, `"records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, r)
	}
	return append(b, ']')
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
