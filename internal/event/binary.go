package event

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

func parseBinary(h http.Header, body []byte, lim Limits) (*Event, *Error) {
	d := getDecoder(lim)
	defer putDecoder(d)
	d.sortErrs = true // header order is map order
	contentType, nContentType := "", 0
	for k, vs := range h {
		switch {
		case len(k) >= 3 && strings.EqualFold(k[:3], "ce-"):
			d.header(k, vs)
		case strings.EqualFold(k, "Content-Type") && len(vs) > 0:
			contentType, nContentType = vs[0], nContentType+len(vs)
		}
	}
	// Map order must not leak into the canonical JSON.
	slices.SortFunc(d.exts, func(a, b ext) int { return bytes.Compare(a.name, b.name) })

	mediaType := ""
	switch {
	case nContentType > 1:
		d.addErr(memberPointers[aDataContentType], "Content-Type appears more than once: send one")
	case nContentType == 1 && strings.TrimSpace(contentType) != "":
		ct := strings.TrimSpace(contentType)
		if !utf8.ValidString(ct) {
			d.addErr(memberPointers[aDataContentType], fmt.Sprintf("Content-Type %q is not valid UTF-8", clip(ct)))
			break
		}
		mt, ok := mediaTypeOf(ct)
		if !ok {
			d.addErr(memberPointers[aDataContentType], fmt.Sprintf("Content-Type %q is not a media type such as \"application/json\" or \"text/plain; charset=utf-8\"", clip(ct)))
			break
		}
		if strings.HasPrefix(mt, "application/cloudevents") {
			msg := fmt.Sprintf("Content-Type %q is a structured-mode event format, not the type of binary-mode data: send the event as the body, without ce-* headers", mt)
			return nil, &Error{Status: http.StatusUnsupportedMediaType, Title: TitleUnsupportedMedia, Detail: msg,
				Errors: []FieldError{{Pointer: memberPointers[aDataContentType], Message: msg}}}
		}
		mediaType = mt
		d.arena = append(d.arena, ct...)
		d.val[aDataContentType] = d.arena[len(d.arena)-len(ct):]
		d.present |= 1 << aDataContentType
	}
	d.body(body, mediaType)
	return d.finish(new(Event))
}

// header decodes one ce-* header, whose name is key.
func (d *decoder) header(key string, vs []string) {
	start := len(d.arena)
	for i := 3; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		d.arena = append(d.arena, c)
	}
	name := d.arena[start:]
	m := lookupMember(name)
	// The pointer is built only for a problem: this is the hot path.
	ptr := func() string { return pointerTo(string(name)) }
	switch {
	case len(vs) == 0:
		return
	case m == mData || m == mDataBase64:
		d.addErr(ptr(), fmt.Sprintf("header %s: in binary mode the data is the request body, not a header", key))
		return
	case m == aDataContentType:
		d.addErr(ptr(), fmt.Sprintf("header %s: in binary mode datacontenttype is the Content-Type header", key))
		return
	case m < 0 && !validExtName(name):
		d.addErr(ptr(), fmt.Sprintf("header %s does not name a valid extension: after \"ce-\", CloudEvents attribute names are 1 to %d letters a-z and digits 0-9", clip(key), MaxExtNameBytes))
		return
	case m >= 0 && !d.see(m) || m < 0 && !d.seeExt(name):
		return
	case len(vs) > 1:
		d.addErr(ptr(), fmt.Sprintf("header %s appears %d times: send it once", key, len(vs)))
		if m >= 0 {
			d.bad |= 1 << m
		}
		return
	}
	val, msg := d.percentDecode(vs[0])
	if msg != "" {
		d.addErr(ptr(), fmt.Sprintf("header %s: %s", key, msg))
		if m >= 0 {
			d.bad |= 1 << m
		}
		return
	}
	switch {
	case m == mExpectedVersion:
		d.setExpectedVersion(val, "a decimal integer")
	case m >= aCorrelationID:
		d.addExt(m, name, extString, val)
	case m >= 0:
		d.val[m] = val
		d.present |= 1 << m
	default:
		d.addExt(-1, name, extString, val)
	}
}

// percentDecode decodes a header value as the HTTP binding asks (%XX escapes
// of UTF-8 bytes) into the arena.
func (d *decoder) percentDecode(s string) ([]byte, string) {
	start := len(d.arena)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			// A '%' that starts no %XX escape is kept as it is: common
			// clients (the CloudEvents Go SDK among them) send "100%"
			// unencoded, and rejecting it would refuse their events.
			hi, ok1 := unhex(s, i+1)
			lo, ok2 := unhex(s, i+2)
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		}
		d.arena = append(d.arena, c)
	}
	val := d.arena[start:]
	if !utf8.Valid(val) {
		return nil, "the value is not valid UTF-8 once percent-decoded"
	}
	return val, ""
}

func unhex(s string, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// mediaTypeOf returns the lowercased type/subtype of a Content-Type value,
// parameters left out, and whether it has that shape.
func mediaTypeOf(ct string) (string, bool) {
	mt := ct
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	slash := strings.IndexByte(mt, '/')
	if slash <= 0 || slash == len(mt)-1 {
		return "", false
	}
	for i := 0; i < len(mt); i++ {
		if i != slash && !isTokenChar(mt[i]) {
			return "", false
		}
	}
	return mt, true
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isJSONMedia(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func isTextMedia(mt string) bool {
	return strings.HasPrefix(mt, "text/") || mt == "application/xml" || strings.HasSuffix(mt, "+xml")
}

// body takes a binary-mode body as the event's data, as its media type says.
func (d *decoder) body(body []byte, mediaType string) {
	if len(body) == 0 {
		return
	}
	switch {
	case isJSONMedia(mediaType):
		if at := invalidUTF8At(body); at >= 0 {
			d.addErr(memberPointers[mData], fmt.Sprintf("the body is not valid UTF-8 (invalid byte at %d), but Content-Type %q says it is JSON", at, mediaType))
			return
		}
		// The data sits one level inside the event object.
		var data []byte
		var err *syntaxError
		if d.arena, data, err = compactJSON(d.arena, body, MaxDepth-1); err != nil {
			d.addErr(memberPointers[mData], fmt.Sprintf("the body is not valid JSON, but Content-Type %q says it is: %v", mediaType, err))
			return
		}
		if string(data) != "null" {
			d.data, d.dataKind = data, dataJSON
			d.present |= 1 << mData
		}
	case isTextMedia(mediaType) && utf8.Valid(body):
		d.data, d.dataKind = body, dataText
		d.present |= 1 << mData
	default:
		d.data, d.dataKind = body, dataBinary
		d.present |= 1 << mDataBase64
	}
}

func compareFieldErrors(a, b FieldError) int {
	return cmp.Or(strings.Compare(a.Pointer, b.Pointer), strings.Compare(a.Message, b.Message))
}
