package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a compiled JSON Schema, safe for concurrent use.
type Schema struct {
	compiled *jsonschema.Schema
	fast     *plan  // nil when the schema uses keywords the fast path does not handle
	doc      []byte // canonical JSON of the document
}

// Doc returns the canonical (compact, key-sorted) JSON of the document the
// schema was compiled from, for storage and identity comparison. The caller
// may keep and modify the returned slice.
func (s *Schema) Doc() []byte { return slices.Clone(s.doc) }

// CompileError is why a schema document does not compile.
type CompileError struct {
	// Pointer is a JSON pointer into the schema document to what is wrong; ""
	// is the whole document.
	Pointer string
	// Message says what is wrong and what to do about it.
	Message string
	// Err is the underlying error, if any (a JSON syntax error, an error of
	// the jsonschema library).
	Err error
}

func (e *CompileError) Error() string {
	if e.Pointer == "" {
		return "schema: " + e.Message
	}
	return "schema at " + e.Pointer + ": " + e.Message
}

func (e *CompileError) Unwrap() error { return e.Err }

// baseURL names the document being compiled inside the jsonschema compiler.
// It never reaches the network (the loader refuses every URL) and is cut out of
// the messages we show.
const baseURL = "https://schema.ensue.invalid/event.json"

const (
	draft2020 = "https://json-schema.org/draft/2020-12/schema"
	draft07   = "http://json-schema.org/draft-07/schema#"
)

// Compile compiles a schema document (JSON).
//
// Draft 2020-12 and draft-07 are accepted ($schema names the draft; none means
// 2020-12); other drafts are refused. Formats are asserted, and a format name
// the validator does not know is refused. $ref may point anywhere in the same
// document ("#/$defs/item", "#/definitions/item", an anchor, an embedded $id);
// a $ref to another document is refused and nothing is ever fetched.
// Errors are *CompileError.
func Compile(doc []byte) (s *Schema, err error) {
	v, err := decodeSchemaDoc(doc)
	if err != nil {
		return nil, err
	}
	canon, err := marshalCanonical(v)
	if err != nil {
		return nil, &CompileError{Message: "cannot encode the document: " + err.Error(), Err: err}
	}
	if err := checkDraft(v); err != nil {
		return nil, err
	}
	w := walkSchema(v)
	if w.err != nil {
		return nil, w.err
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(baseURL, v); err != nil {
		return nil, &CompileError{Message: cleanURLs(err.Error()), Err: err}
	}
	// The library is not ours to fix; a panic on some odd document must not
	// take the registry down with it.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &CompileError{Message: fmt.Sprintf("the schema could not be compiled (internal error: %v)", r)}
		}
	}()
	compiled, err := c.Compile(baseURL)
	if err != nil {
		return nil, compileError(err, w)
	}
	return &Schema{compiled: compiled, fast: buildPlan(compiled), doc: canon}, nil
}

// decodeSchemaDoc parses a schema document the way the jsonschema library
// does (numbers kept exact as json.Number) with errors that locate the
// problem.
func decodeSchemaDoc(doc []byte) (any, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, &CompileError{Message: "the document is empty; send a JSON Schema object such as {\"type\":\"object\"}"}
	}
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, &CompileError{Message: "the document is not valid JSON: " + err.Error(), Err: err}
	}
	if ptr, ok := findHugeNumber(v, ""); ok {
		return nil, &CompileError{Pointer: ptr, Message: fmt.Sprintf("number exponent beyond ±%d or longer than %d characters; write the number in float64 range", maxExponent, maxNumberLen)}
	}
	switch v.(type) {
	case map[string]any, bool:
		return v, nil
	}
	return nil, &CompileError{Message: fmt.Sprintf("a schema must be a JSON object (or true/false), not %s", jsonTypeName(v))}
}

func findHugeNumber(v any, ptr string) (string, bool) {
	switch v := v.(type) {
	case hugeNumber:
		return ptr, true
	case []any:
		for i, e := range v {
			if p, ok := findHugeNumber(e, ptr+"/"+strconv.Itoa(i)); ok {
				return p, true
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, ok := findHugeNumber(v[k], ptr+"/"+escapeToken(k)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// checkDraft refuses documents whose root $schema names a draft other than
// 2020-12 or draft-07.
func checkDraft(v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	raw, ok := obj["$schema"]
	if !ok {
		return nil
	}
	name, ok := raw.(string)
	if !ok {
		return &CompileError{Pointer: "/$schema", Message: fmt.Sprintf("$schema must be a string naming the draft, not %s; use %q or %q, or leave it out for 2020-12", jsonTypeName(raw), draft2020, draft07)}
	}
	if draftOf(name) == "" {
		return &CompileError{Pointer: "/$schema", Message: fmt.Sprintf("unsupported $schema %q: Ensue accepts draft 2020-12 (%q, the default when $schema is absent) and draft-07 (%q)", name, draft2020, draft07)}
	}
	return nil
}

// draftOf returns "2020-12" or "draft-07" for the $schema URIs of those
// drafts (http or https, with or without an empty fragment), else "".
func draftOf(uri string) string {
	u := strings.TrimSuffix(uri, "#")
	if r, ok := strings.CutPrefix(u, "https://"); ok {
		u = r
	} else if r, ok := strings.CutPrefix(u, "http://"); ok {
		u = r
	} else {
		return ""
	}
	switch u {
	case "json-schema.org/draft/2020-12/schema":
		return "2020-12"
	case "json-schema.org/draft-07/schema":
		return "draft-07"
	}
	return ""
}

// knownFormats are the formats the validator asserts; "regex" is handled by
// the library apart from its table.
var knownFormats = map[string]bool{
	"date-time": true, "date": true, "time": true, "duration": true, "period": true,
	"email": true, "hostname": true, "ipv4": true, "ipv6": true,
	"uri": true, "uri-reference": true, "uri-template": true, "iri": true, "iri-reference": true,
	"uuid": true, "json-pointer": true, "relative-json-pointer": true, "regex": true, "semver": true,
}

func knownFormatList() string {
	names := make([]string, 0, len(knownFormats))
	for n := range knownFormats {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

type refuseLoader struct{}

var errRemoteRef = errors.New("remote references are not fetched")

func (refuseLoader) Load(url string) (any, error) { return nil, errRemoteRef }

// schemaWalk is what walkSchema learned about a document.
type schemaWalk struct {
	refs []ref // every $ref, $dynamicRef, $recursiveRef, in document order
	err  *CompileError
}

type ref struct {
	pointer string // of the keyword
	value   string
}

// Keywords whose value is a schema, a map of schemas or an array of schemas.
var (
	schemaKeywords = map[string]bool{
		"additionalProperties": true, "additionalItems": true, "items": true, "contains": true,
		"propertyNames": true, "not": true, "if": true, "then": true, "else": true,
		"unevaluatedProperties": true, "unevaluatedItems": true, "contentSchema": true,
	}
	schemaMapKeywords = map[string]bool{
		"properties": true, "patternProperties": true, "$defs": true, "definitions": true,
		"dependentSchemas": true, "dependencies": true,
	}
	schemaArrayKeywords = map[string]bool{
		"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true,
	}
)

// walkSchema visits every subschema of the document (and not the data inside
// const, enum, default or examples) to check format names and collect
// references, each with its pointer.
func walkSchema(v any) *schemaWalk {
	w := &schemaWalk{}
	w.visit(v, "")
	return w
}

func (w *schemaWalk) visit(v any, ptr string) {
	obj, ok := v.(map[string]any)
	if !ok || w.err != nil {
		return
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first problem reported must not depend on map order
	for _, k := range keys {
		val := obj[k]
		kptr := ptr + "/" + escapeToken(k)
		switch {
		case k == "$ref" || k == "$dynamicRef" || k == "$recursiveRef":
			if s, ok := val.(string); ok {
				w.refs = append(w.refs, ref{pointer: kptr, value: s})
			}
		case k == "format":
			if s, ok := val.(string); ok && !knownFormats[s] {
				w.err = &CompileError{Pointer: kptr, Message: fmt.Sprintf("unknown format %q: formats are asserted, so a name the validator does not know would check nothing; use one of %s, or a \"pattern\"", s, knownFormatList())}
				return
			}
		case schemaMapKeywords[k]:
			if m, ok := val.(map[string]any); ok {
				names := make([]string, 0, len(m))
				for n := range m {
					names = append(names, n)
				}
				slices.Sort(names)
				for _, n := range names {
					w.visit(m[n], kptr+"/"+escapeToken(n))
				}
			}
		case schemaArrayKeywords[k] || schemaKeywords[k]:
			if a, ok := val.([]any); ok && schemaArrayKeywords[k] {
				for i, sub := range a {
					w.visit(sub, kptr+"/"+strconv.Itoa(i))
				}
			} else {
				w.visit(val, kptr)
			}
		}
		if w.err != nil {
			return
		}
	}
}

// compileError turns an error of the jsonschema compiler into a
// *CompileError with a pointer into the document and advice.
func compileError(err error, w *schemaWalk) *CompileError {
	var (
		sve   *jsonschema.SchemaValidationError
		load  *jsonschema.LoadURLError
		regex *jsonschema.InvalidRegexError
		nf    *jsonschema.JSONPointerNotFoundError
		anf   *jsonschema.AnchorNotFoundError
		ud    *jsonschema.UnsupportedDraftError
	)
	switch {
	case errors.As(err, &sve):
		var verr *jsonschema.ValidationError
		if errors.As(sve.Err, &verr) {
			vs := flatten(verr, "", false)
			if len(vs) > 0 {
				v := vs[0]
				msg := fmt.Sprintf("invalid schema: %s (keyword %q); fix it so the document is a valid JSON Schema", v.Message, v.Keyword)
				if v.Keyword == "format" && strings.HasSuffix(v.Message, " regex") {
					msg = "invalid regular expression: patterns use Go's RE2 syntax (no lookaround or backreferences)"
				}
				if len(vs) > 1 {
					msg += fmt.Sprintf(" (and %d more problems)", len(vs)-1)
				}
				return &CompileError{Pointer: v.Pointer, Message: msg, Err: err}
			}
		}
		return &CompileError{Message: "invalid schema: " + cleanURLs(sve.Err.Error()), Err: err}
	case errors.As(err, &load):
		ptr, target := "", cleanURLs(load.URL)
		for _, r := range w.refs {
			t, _, _ := strings.Cut(r.value, "#")
			if t != "" && strings.HasSuffix(load.URL, t) {
				ptr, target = r.pointer, r.value
				break
			}
		}
		return &CompileError{Pointer: ptr, Message: fmt.Sprintf("$ref %q points outside this document; remote references are not fetched: copy the referenced schema into \"$defs\" and refer to it as \"#/$defs/<name>\"", target), Err: err}
	case errors.As(err, &regex):
		return &CompileError{Pointer: fragmentOf(regex.URL), Message: fmt.Sprintf("invalid regular expression %q: %v; patterns use Go's RE2 syntax (no lookaround or backreferences)", regex.Regex, regex.Err), Err: err}
	case errors.As(err, &nf):
		return &CompileError{Pointer: refPointerTo(w, nf.URL), Message: fmt.Sprintf("$ref target %q does not exist in this document; define it (e.g. under \"$defs\") or fix the reference", "#"+fragmentOf(nf.URL)), Err: err}
	case errors.As(err, &anf):
		return &CompileError{Pointer: refPointerTo(w, anf.Reference), Message: fmt.Sprintf("$ref %q names an anchor that does not exist in this document; define it with \"$anchor\" or fix the reference", cleanURLs(anf.Reference)), Err: err}
	case errors.As(err, &ud):
		return &CompileError{Message: fmt.Sprintf("unsupported $schema %q: use %q or %q", cleanURLs(ud.URL), draft2020, draft07), Err: err}
	}
	return &CompileError{Message: cleanURLs(err.Error()), Err: err}
}

// refPointerTo finds the pointer of the first reference whose fragment matches
// the fragment of url.
func refPointerTo(w *schemaWalk, url string) string {
	_, frag, _ := strings.Cut(url, "#")
	for _, r := range w.refs {
		_, f, _ := strings.Cut(r.value, "#")
		if f == frag {
			return r.pointer
		}
	}
	return ""
}

// fragmentOf returns the JSON pointer in url's fragment, unescaped from URL
// encoding where possible.
func fragmentOf(url string) string {
	_, frag, _ := strings.Cut(url, "#")
	if un, err := urlUnescape(frag); err == nil {
		return un
	}
	return frag
}

// cleanURLs removes our internal base URL from library messages.
func cleanURLs(s string) string {
	s = strings.ReplaceAll(s, baseURL+"#", "#")
	return strings.ReplaceAll(s, baseURL, "the schema")
}

// marshalCanonical encodes a decoded document compactly with sorted keys,
// without HTML escaping, numbers exactly as written.
func marshalCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Canonical returns the canonical (compact, key-sorted) JSON of a document
// without compiling it: two documents that differ only in whitespace or key
// order have the same canonical form. Numbers are kept as written (1 and 1.0
// differ); when a key repeats, the last value wins, as in the compiler.
func Canonical(doc []byte) ([]byte, error) {
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, &CompileError{Message: "the document is not valid JSON: " + err.Error(), Err: err}
	}
	return marshalCanonical(v)
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
