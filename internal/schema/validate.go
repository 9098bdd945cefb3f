package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Violation is one way an event's data breaks its schema.
type Violation struct {
	// Pointer is a JSON pointer into the event: "/data" is the data itself,
	// "/data/items/0/sku" a member of it.
	Pointer string `json:"pointer"`
	// Keyword is the schema keyword that failed: "required", "minimum",
	// "type", "format", "additionalProperties", "oneOf", ...
	Keyword string `json:"keyword"`
	// Message is short and readable: "must be >= 0 but is -5".
	Message string `json:"message"`
}

// dataPointer is where an event keeps its data.
const dataPointer = "/data"

// Validate checks an event's data (its JSON bytes) and returns every
// violation, sorted by pointer; none means the data is valid. The error is
// non-nil (and wraps ErrInvalidJSON) only when data is not JSON.
//
// Absent data (nil, empty or only whitespace) is validated as JSON null: it
// is valid exactly when the schema accepts null. A schema that requires an
// object therefore refuses an event without data ("is absent but must be
// object"), which is what registering a schema for a type promises; a schema
// that makes data optional says so with "type": ["object", "null"].
func (s *Schema) Validate(data []byte) ([]Violation, error) {
	return s.validate(data, false)
}

// ValidateJSON is Validate for data already known to be strict JSON (an
// event's data, checked by the event parser): it skips one check of it.
func (s *Schema) ValidateJSON(data []byte) ([]Violation, error) {
	return s.validate(data, true)
}

func (s *Schema) validate(data []byte, strict bool) ([]Violation, error) {
	var v any
	absent := isBlank(data)
	if !absent && s.fast != nil && s.fast.fastValid(data, strict) {
		return nil, nil
	}
	if !absent {
		var err error
		if v, err = decodeJSON(data); err != nil {
			return nil, fmt.Errorf("schema: data is not valid JSON: %w", err)
		}
	}
	if s.fast != nil && s.fast.valid(v, 0) {
		return nil, nil
	}
	err := s.compiled.Validate(v)
	if err == nil {
		return nil, nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil, fmt.Errorf("schema: validating data: %w", err)
	}
	return flatten(verr, dataPointer, absent), nil
}

func isBlank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}

// flatten turns the library's error tree into its leaf causes, each located
// by prefix plus the instance location, sorted by pointer, without
// duplicates.
func flatten(verr *jsonschema.ValidationError, prefix string, absent bool) []Violation {
	f := flattener{prefix: prefix, absent: absent}
	f.walk(verr)
	sortViolations(f.out)
	return slices.Compact(f.out)
}

type flattener struct {
	prefix string
	absent bool
	out    []Violation
}

func (f *flattener) pointer(loc []string) string {
	var sb strings.Builder
	sb.WriteString(f.prefix)
	for _, tok := range loc {
		sb.WriteByte('/')
		sb.WriteString(escapeToken(tok))
	}
	return sb.String()
}

func (f *flattener) add(ptr, keyword, msg string) {
	f.out = append(f.out, Violation{Pointer: ptr, Keyword: keyword, Message: msg})
}

func (f *flattener) walk(e *jsonschema.ValidationError) {
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, c := range e.Causes {
			f.walk(c)
		}
		return
	case *kind.AnyOf:
		f.alternatives(e, "anyOf", "any")
		return
	case *kind.OneOf:
		if len(k.Subschemas) == 0 {
			f.alternatives(e, "oneOf", "one")
			return
		}
	}
	if len(e.Causes) > 0 && !isLeafWithCauses(e.ErrorKind) {
		for _, c := range e.Causes {
			f.walk(c)
		}
		return
	}
	f.leaf(e)
}

// isLeafWithCauses tells kinds whose causes are detail we summarize rather
// than list.
func isLeafWithCauses(k jsonschema.ErrorKind) bool {
	switch k.(type) {
	case *kind.Contains, *kind.MinContains, *kind.PropertyNames, *kind.ContentSchema:
		return true
	}
	return false
}

// alternatives reports a failed anyOf/oneOf as one violation at its
// location plus the leaf errors of the alternative that came closest, so the
// user sees what to fix in the branch they most likely meant rather than the
// errors of every branch.
func (f *flattener) alternatives(e *jsonschema.ValidationError, keyword, word string) {
	ptr := f.pointer(e.InstanceLocation)
	n := len(e.Causes)
	type alt struct {
		vs       []Violation
		mismatch bool
	}
	alts := make([]alt, n)
	best := -1
	for i, c := range e.Causes {
		sub := flattener{prefix: f.prefix, absent: f.absent}
		sub.walk(c)
		a := alt{vs: sub.out, mismatch: isMismatch(sub.out, ptr)}
		alts[i] = a
		if best == -1 || (!a.mismatch && alts[best].mismatch) ||
			(a.mismatch == alts[best].mismatch && len(a.vs) < len(alts[best].vs)) {
			best = i
		}
	}
	if best == -1 {
		f.add(ptr, keyword, fmt.Sprintf("must match %s of the alternatives", word))
		return
	}
	if alts[best].mismatch {
		// If every branch was for another type of value, say which types
		// were allowed instead of picking one branch's details.
		var wants []string
		for _, a := range alts {
			found := false
			for _, v := range a.vs {
				if v.Pointer == ptr && v.Keyword == "type" {
					found = true
					w, _ := strings.CutPrefix(v.Message, "must be ")
					w, _ = strings.CutPrefix(w, "is absent but must be ")
					w, _, _ = strings.Cut(w, " but ")
					if !slices.Contains(wants, w) {
						wants = append(wants, w)
					}
				}
			}
			if !found {
				wants = nil
				break
			}
		}
		if wants != nil {
			got := "absent"
			if !f.absent || ptr != dataPointer {
				got = f.gotType(e)
			}
			f.add(ptr, keyword, fmt.Sprintf("matches none of the %d alternatives: must be %s but is %s", n, strings.Join(wants, " or "), got))
			return
		}
	}
	f.add(ptr, keyword, fmt.Sprintf("matches none of the %d alternatives; the closest is #/%s/%d", n, keyword, best))
	f.out = append(f.out, alts[best].vs...)
}

// gotType digs the actual type out of a type violation under e.
func (f *flattener) gotType(e *jsonschema.ValidationError) string {
	for _, c := range e.Causes {
		if t, ok := c.ErrorKind.(*kind.Type); ok {
			return t.Got
		}
		if got := f.gotType(c); got != "" {
			return got
		}
	}
	return ""
}

// isMismatch tells an alternative that was meant for another value: its type
// differs at the alternative's own location, or a const/enum on one of its
// direct members (a discriminator such as "kind") fails.
func isMismatch(vs []Violation, ptr string) bool {
	for _, v := range vs {
		if v.Keyword == "type" && v.Pointer == ptr {
			return true
		}
		if (v.Keyword == "const" || v.Keyword == "enum") && strings.HasPrefix(v.Pointer, ptr+"/") &&
			!strings.Contains(v.Pointer[len(ptr)+1:], "/") {
			return true
		}
	}
	return false
}

func (f *flattener) leaf(e *jsonschema.ValidationError) {
	ptr := f.pointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		if f.absent && len(e.InstanceLocation) == 0 {
			f.add(ptr, "type", "is absent but must be "+strings.Join(k.Want, " or "))
			return
		}
		f.add(ptr, "type", fmt.Sprintf("must be %s but is %s", strings.Join(k.Want, " or "), k.Got))
	case *kind.Required:
		for _, p := range k.Missing {
			f.add(ptr, "required", fmt.Sprintf("missing property `%s`", p))
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			f.add(ptr+"/"+escapeToken(p), "additionalProperties", fmt.Sprintf("`%s` is not allowed", p))
		}
	case *kind.Dependency:
		for _, p := range k.Missing {
			f.add(ptr, "dependencies", fmt.Sprintf("missing property `%s`, required when `%s` is present", p, k.Prop))
		}
	case *kind.DependentRequired:
		for _, p := range k.Missing {
			f.add(ptr, "dependentRequired", fmt.Sprintf("missing property `%s`, required when `%s` is present", p, k.Prop))
		}
	case *kind.Minimum:
		f.add(ptr, "minimum", fmt.Sprintf("must be >= %s but is %s", ratString(k.Want), ratString(k.Got)))
	case *kind.Maximum:
		f.add(ptr, "maximum", fmt.Sprintf("must be <= %s but is %s", ratString(k.Want), ratString(k.Got)))
	case *kind.ExclusiveMinimum:
		f.add(ptr, "exclusiveMinimum", fmt.Sprintf("must be > %s but is %s", ratString(k.Want), ratString(k.Got)))
	case *kind.ExclusiveMaximum:
		f.add(ptr, "exclusiveMaximum", fmt.Sprintf("must be < %s but is %s", ratString(k.Want), ratString(k.Got)))
	case *kind.MultipleOf:
		f.add(ptr, "multipleOf", fmt.Sprintf("must be a multiple of %s but is %s", ratString(k.Want), ratString(k.Got)))
	case *kind.MinLength:
		f.add(ptr, "minLength", fmt.Sprintf("must be at least %d characters long but is %d", k.Want, k.Got))
	case *kind.MaxLength:
		f.add(ptr, "maxLength", fmt.Sprintf("must be at most %d characters long but is %d", k.Want, k.Got))
	case *kind.Pattern:
		f.add(ptr, "pattern", fmt.Sprintf("must match the pattern `%s`", k.Want))
	case *kind.Format:
		f.add(ptr, "format", "is not a valid "+k.Want)
	case *kind.Enum:
		f.add(ptr, "enum", fmt.Sprintf("must be one of %s but is %s", displayList(k.Want), display(k.Got)))
	case *kind.Const:
		f.add(ptr, "const", fmt.Sprintf("must be %s but is %s", display(k.Want), display(k.Got)))
	case *kind.MinItems:
		f.add(ptr, "minItems", fmt.Sprintf("must have at least %s but has %d", plural(k.Want, "item"), k.Got))
	case *kind.MaxItems:
		f.add(ptr, "maxItems", fmt.Sprintf("must have at most %s but has %d", plural(k.Want, "item"), k.Got))
	case *kind.MinProperties:
		f.add(ptr, "minProperties", fmt.Sprintf("must have at least %s but has %d", plural(k.Want, "property"), k.Got))
	case *kind.MaxProperties:
		f.add(ptr, "maxProperties", fmt.Sprintf("must have at most %s but has %d", plural(k.Want, "property"), k.Got))
	case *kind.UniqueItems:
		f.add(ptr, "uniqueItems", fmt.Sprintf("items %d and %d are equal; items must be unique", k.Duplicates[0], k.Duplicates[1]))
	case *kind.AdditionalItems:
		f.add(ptr, "additionalItems", fmt.Sprintf("has %s more than allowed", plural(k.Count, "item")))
	case *kind.Contains:
		f.add(ptr, "contains", "must contain at least one item matching `contains`")
	case *kind.MinContains:
		f.add(ptr, "minContains", fmt.Sprintf("must contain at least %s matching `contains` but has %d", plural(k.Want, "item"), len(k.Got)))
	case *kind.MaxContains:
		f.add(ptr, "maxContains", fmt.Sprintf("must contain at most %s matching `contains` but has %d", plural(k.Want, "item"), len(k.Got)))
	case *kind.PropertyNames:
		f.add(ptr+"/"+escapeToken(k.Property), "propertyNames", fmt.Sprintf("property name `%s` is not allowed by `propertyNames`", k.Property))
	case *kind.Not:
		f.add(ptr, "not", "must not match the schema in `not`")
	case *kind.OneOf:
		f.add(ptr, "oneOf", fmt.Sprintf("matches alternatives #/oneOf/%d and #/oneOf/%d but must match exactly one", k.Subschemas[0], k.Subschemas[1]))
	case *kind.FalseSchema:
		if n := len(e.InstanceLocation); n > 0 {
			f.add(ptr, "false", fmt.Sprintf("`%s` is not allowed", e.InstanceLocation[n-1]))
		} else {
			f.add(ptr, "false", "no value is allowed here")
		}
	case *kind.InvalidJsonValue:
		if _, ok := k.Value.(hugeNumber); ok {
			f.add(ptr, "type", fmt.Sprintf("number is out of range (exponent beyond ±%d or more than %d characters)", maxExponent, maxNumberLen))
		} else {
			f.add(ptr, "type", "is not a JSON value")
		}
	case *kind.RefCycle:
		f.add(ptr, "$ref", "the schema's $ref loops back on itself without consuming any data")
	default:
		kw := ""
		if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
			kw = p[0]
		}
		// Kinds we never enable (content assertions) or never expect; the
		// library's own words, without its location prefix.
		msg := (&jsonschema.ValidationError{ErrorKind: e.ErrorKind}).Error()
		if _, after, ok := strings.Cut(msg, ": "); ok {
			msg = after
		}
		f.add(ptr, kw, msg)
	}
}

// ratString prints a bound or a number as a person would write it.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	fl, _ := r.Float64()
	return strconv.FormatFloat(fl, 'g', -1, 64)
}

// display prints a value of the data or the schema as JSON, cut short when
// long.
func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 60
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

func displayList(vs []any) string {
	const max = 10
	parts := make([]string, 0, min(len(vs), max)+1)
	for i, v := range vs {
		if i == max {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(vs)-max))
			break
		}
		parts = append(parts, display(v))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if noun == "property" {
		return strconv.Itoa(n) + " properties"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// escapeToken escapes a JSON pointer reference token (RFC 6901).
func escapeToken(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }

// sortViolations orders by pointer, comparing array indexes as numbers
// (/items/2 before /items/10), then by keyword and message so the order
// never depends on map iteration.
func sortViolations(vs []Violation) {
	slices.SortStableFunc(vs, func(a, b Violation) int {
		if c := comparePointers(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		if c := strings.Compare(a.Keyword, b.Keyword); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

func comparePointers(a, b string) int {
	for a != "" && b != "" {
		var ta, tb string
		ta, a = nextToken(a)
		tb, b = nextToken(b)
		if ta == tb {
			continue
		}
		na, ea := strconv.Atoi(ta)
		nb, eb := strconv.Atoi(tb)
		if ea == nil && eb == nil {
			if na < nb {
				return -1
			}
			return 1
		}
		return strings.Compare(ta, tb)
	}
	return len(a) - len(b)
}

// nextToken splits "/a/b" into "a" and "/b".
func nextToken(p string) (tok, rest string) {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}
