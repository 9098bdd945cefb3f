package event

import "encoding/base64"

// jsonEscape holds, for each ASCII byte that JSON strings must escape, its
// short escape letter, or 'u' for the \u00XX form; 0 means the byte is kept.
var jsonEscape = func() (t [256]byte) {
	for i := 0; i < 0x20; i++ {
		t[i] = 'u'
	}
	t['\b'], t['\f'], t['\n'], t['\r'], t['\t'] = 'b', 'f', 'n', 'r', 't'
	t['"'], t['\\'] = '"', '\\'
	return t
}()

// appendString appends s as a JSON string. s must be valid UTF-8 (every input
// is checked first), so only '"', '\' and control characters need escaping.
// strconv.Quote is not used: its \x01 and \U0001F600 forms are not JSON.
func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		e := jsonEscape[s[i]]
		if e == 0 {
			continue
		}
		dst = append(dst, s[start:i]...)
		if e == 'u' {
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[s[i]>>4], hex[s[i]&0xf])
		} else {
			dst = append(dst, '\\', e)
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendAttr appends attribute a as a JSON string.
func (d *decoder) appendAttr(dst []byte, a int) []byte {
	if d.plain&(1<<a) == 0 {
		return appendString(dst, d.val[a])
	}
	dst = append(dst, '"')
	dst = append(dst, d.val[a]...)
	return append(dst, '"')
}

// encode appends the canonical JSON of the decoded event to dst: compact, the
// context attributes in a fixed order, then the extensions in the order given
// (expectedversion, which is never stored, left out), then the data.
func (d *decoder) encode(dst []byte) []byte {
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = d.appendAttr(dst, aID)
	dst = append(dst, `,"source":`...)
	dst = d.appendAttr(dst, aSource)
	dst = append(dst, `,"type":`...)
	dst = d.appendAttr(dst, aType)
	for _, a := range [...]int{aSubject, aTime, aDataContentType, aDataSchema} {
		if d.present&(1<<a) != 0 {
			dst = append(dst, ',', '"')
			dst = append(dst, attrNames[a]...)
			dst = append(dst, '"', ':')
			dst = d.appendAttr(dst, a)
		}
	}
	for i := range d.exts {
		x := &d.exts[i]
		dst = append(dst, ',', '"')
		dst = append(dst, x.name...)
		dst = append(dst, '"', ':')
		switch x.kind {
		case extString:
			dst = appendString(dst, x.val)
		case extPlainString:
			dst = append(dst, '"')
			dst = append(dst, x.val...)
			dst = append(dst, '"')
		default:
			dst = append(dst, x.val...)
		}
	}
	d.dataAt = 0
	switch d.dataKind {
	case dataJSON:
		dst = append(dst, `,"data":`...)
		d.dataAt = len(dst)
		dst = append(dst, d.data...)
	case dataText:
		dst = append(dst, `,"data":`...)
		d.dataAt = len(dst)
		dst = appendString(dst, d.data)
	case dataBase64:
		dst = append(dst, `,"data_base64":`...)
		dst = appendString(dst, d.data)
	case dataBinary:
		dst = append(dst, `,"data_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, d.data)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}
