package compat

import (
	"encoding/json"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// rat reads a JSON number exactly. Exponents beyond ±400 are refused rather
// than expanded: "1e999999999" would otherwise cost gigabytes.
func rat(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	s := string(n)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// jsonEqual is JSON Schema equality: numbers by value (1 == 1.0), objects
// regardless of member order.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		ra, oka := rat(a)
		rb, okb := rat(b)
		return oka && okb && ra.Cmp(rb) == 0
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, ok := b[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	default: // string, bool, nil
		return a == b
	}
}

// render writes a value for a message.
func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// escape turns a property name into a JSON pointer token.
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// loc is a schema and where it is in its document, the key that makes
// recursive comparisons terminate.
type loc struct {
	v   any
	ptr string
}

// trueLoc stands for the schema an absent keyword implies.
var trueLoc = loc{v: true, ptr: "#true"}

func (l loc) child(key string) loc {
	m, _ := l.v.(map[string]any)
	v, ok := m[key]
	if !ok {
		return loc{}
	}
	return loc{v: v, ptr: l.ptr + "/" + escape(key)}
}

func (l loc) index(i int) loc {
	a, _ := l.v.([]any)
	return loc{v: a[i], ptr: l.ptr + "/" + strconv.Itoa(i)}
}

// document resolves local references within one schema document.
type document struct {
	root any
	// legacy is set for drafts 04 to 07 (by $schema), where keywords beside
	// $ref are ignored; later drafts apply them.
	legacy bool
}

func newDocument(root any) document {
	d := document{root: root}
	if m, ok := root.(map[string]any); ok {
		s, _ := m["$schema"].(string)
		for _, draft := range []string{"draft-04", "draft-06", "draft-07"} {
			d.legacy = d.legacy || strings.Contains(s, draft)
		}
	}
	return d
}

// pointer finds the value a "#..." reference names, or reports false.
func (d document) pointer(ref string) (loc, bool) {
	if !strings.HasPrefix(ref, "#") {
		return loc{}, false
	}
	frag, err := url.PathUnescape(ref[1:])
	if err != nil || (frag != "" && !strings.HasPrefix(frag, "/")) {
		return loc{}, false // anchors ("#name") are not resolved
	}
	at := loc{v: d.root, ptr: ""}
	if frag == "" {
		return at, true
	}
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch v := at.v.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return loc{}, false
			}
			at = loc{v: next, ptr: at.ptr + "/" + escape(tok)}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return loc{}, false
			}
			at = at.index(i)
		default:
			return loc{}, false
		}
	}
	return at, true
}

// refOnly lists what may sit beside $ref without changing what it means.
func refOnly(k string) bool {
	switch k {
	case "$ref", "$defs", "definitions", "$schema", "$id", "$anchor", "$dynamicAnchor", "$vocabulary":
		return true
	}
	return annotation(k)
}

// deref follows a chain of local references. A $ref with constraining
// siblings, a reference it cannot resolve and a cycle of references are left
// in place: the caller sees `$ref` as a keyword it does not compare.
func (d document) deref(l loc) loc {
	seen := map[string]bool{}
	for {
		m, ok := l.v.(map[string]any)
		if !ok {
			return l
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return l
		}
		for k := range m {
			if !refOnly(k) && !d.legacy {
				return l
			}
		}
		target, ok := d.pointer(ref)
		if !ok || seen[target.ptr] {
			return l
		}
		seen[target.ptr] = true
		l = target
	}
}

// annotation reports keywords that never change which events are valid.
func annotation(k string) bool {
	switch k {
	case "title", "description", "examples", "$comment", "default", "deprecated",
		"readOnly", "writeOnly", "contentEncoding", "contentMediaType", "contentSchema",
		"$schema", "$id", "$anchor", "$dynamicAnchor", "$vocabulary", "$defs", "definitions":
		return true
	}
	return false
}

// Keywords whose value is a schema, an array of schemas or a map of schemas,
// for comparing schemas structurally.
var (
	schemaKeywords = map[string]bool{
		"not": true, "if": true, "then": true, "else": true, "additionalProperties": true,
		"additionalItems": true, "contains": true, "propertyNames": true,
		"unevaluatedProperties": true, "unevaluatedItems": true, "items": true,
	}
	schemaArrayKeywords = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true}
	schemaMapKeywords   = map[string]bool{"properties": true, "patternProperties": true, "dependentSchemas": true, "dependencies": true}
)

// pair is two documents compared side by side.
type pair struct {
	w, n document
	// equal memoizes sameSchema. A pair under comparison counts as equal,
	// which is what makes recursive schemas compare; what was found equal on
	// that assumption stays provisional until the outermost comparison ends,
	// and is dropped if it ends unequal.
	equal, provisional map[[2]string]bool
	depth              int
	// noShortcut, set only by tests, turns off the equality shortcut of
	// covers so that every rule runs on equal schemas.
	noShortcut bool
}

func newPair(w, n any) pair {
	return pair{w: newDocument(w), n: newDocument(n), equal: map[[2]string]bool{}, provisional: map[[2]string]bool{}}
}

// sameSchema reports whether two schemas are structurally equal after
// following local references, ignoring annotations.
func (p *pair) sameSchema(a, b loc) bool {
	a, b = p.w.deref(a), p.n.deref(b)
	key := [2]string{a.ptr, b.ptr}
	if eq, ok := p.equal[key]; ok {
		return eq
	}
	if p.provisional[key] {
		return true
	}
	p.provisional[key] = true
	p.depth++
	eq := p.sameSchemaUncached(a, b)
	p.depth--
	if !eq {
		p.equal[key] = false // unequal even on optimistic assumptions
	}
	if p.depth == 0 {
		for k := range p.provisional {
			if eq {
				p.equal[k] = true
			}
			delete(p.provisional, k)
		}
	}
	return eq
}

func (p *pair) sameSchemaUncached(a, b loc) bool {
	am, aok := schemaObject(a.v)
	bm, bok := schemaObject(b.v)
	if !aok || !bok {
		if aok != bok {
			return false
		}
		return jsonEqual(a.v, b.v)
	}
	for k := range am {
		if _, ok := bm[k]; !ok && !annotation(k) {
			return false
		}
	}
	for k := range bm {
		if annotation(k) {
			continue
		}
		if _, ok := am[k]; !ok {
			return false
		}
		if !p.sameKeyword(k, a.child(k), b.child(k)) {
			return false
		}
	}
	return true
}

// schemaObject views a boolean schema as an object: true is {}, false is
// {"not": {}}. ok is false for what is not a schema.
func schemaObject(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case map[string]any:
		return v, true
	case bool:
		if v {
			return map[string]any{}, true
		}
		return map[string]any{"not": map[string]any{}}, true
	}
	return nil, false
}

// sameKeyword compares one keyword's values in two schemas.
func (p *pair) sameKeyword(k string, a, b loc) bool {
	switch {
	case k == "$ref":
		ra, _ := a.v.(string)
		rb, _ := b.v.(string)
		ta, oka := p.w.pointer(ra)
		tb, okb := p.n.pointer(rb)
		if oka && okb {
			return p.sameSchema(ta, tb)
		}
		return !oka && !okb && jsonEqual(a.v, b.v)
	case schemaArrayKeywords[k]:
		aa, oka := a.v.([]any)
		ba, okb := b.v.([]any)
		if oka && okb {
			if len(aa) != len(ba) {
				return false
			}
			for i := range aa {
				if !p.sameSchema(a.index(i), b.index(i)) {
					return false
				}
			}
			return true
		}
		if oka != okb {
			return false
		}
		if schemaKeywords[k] {
			return p.sameSchema(a, b)
		}
		return jsonEqual(a.v, b.v)
	case schemaKeywords[k]:
		return p.sameSchema(a, b)
	case schemaMapKeywords[k]:
		am, oka := a.v.(map[string]any)
		bm, okb := b.v.(map[string]any)
		if !oka || !okb || len(am) != len(bm) {
			return jsonEqual(a.v, b.v)
		}
		for name := range am {
			if _, ok := bm[name]; !ok {
				return false
			}
			ca, cb := a.child(name), b.child(name)
			if _, isArr := ca.v.([]any); isArr && k == "dependencies" {
				if !jsonEqual(ca.v, cb.v) {
					return false
				}
				continue
			}
			if !p.sameSchema(ca, cb) {
				return false
			}
		}
		return true
	}
	return jsonEqual(a.v, b.v)
}
