package compat

import (
	"fmt"
	"math/big"
	"strings"
)

// kinds is a set of JSON types. Numbers are split into integers and the rest
// so that "integer" is a subset of "number".
type kinds uint8

const (
	kNull kinds = 1 << iota
	kBoolean
	kObject
	kArray
	kString
	kInteger
	kFraction // a number that is not an integer

	kNumber = kInteger | kFraction
	kAll    = kNull | kBoolean | kObject | kArray | kString | kNumber
)

var typeNames = []struct {
	name string
	k    kinds
}{
	{"null", kNull}, {"boolean", kBoolean}, {"object", kObject}, {"array", kArray},
	{"number", kNumber}, {"integer", kInteger}, {"string", kString},
}

func parseType(s string) (kinds, bool) {
	for _, t := range typeNames {
		if t.name == s {
			return t.k, true
		}
	}
	return 0, false
}

// parseTypes reads the value of `type`.
func parseTypes(v any) (kinds, bool) {
	switch v := v.(type) {
	case string:
		return parseType(v)
	case []any:
		var k kinds
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return 0, false
			}
			t, ok := parseType(s)
			if !ok {
				return 0, false
			}
			k |= t
		}
		return k, true
	}
	return 0, false
}

// typesOf is the set of types a schema object's `type` allows.
func typesOf(m map[string]any) kinds {
	v, ok := m["type"]
	if !ok {
		return kAll
	}
	k, ok := parseTypes(v)
	if !ok {
		return kAll
	}
	return k
}

// String names the types in a message, such as "`null`, `string`"; a lone
// kFraction is "`number` (non-integer)".
func (k kinds) String() string {
	var names []string
	for _, t := range typeNames {
		switch {
		case t.k == kNumber && k&kNumber == kNumber:
			names = append(names, "`number`")
		case t.k == kInteger && k&kNumber == kInteger:
			names = append(names, "`integer`")
		case t.k == kNumber && k&kNumber == kFraction:
			names = append(names, "`number` (non-integer)")
		case t.k != kNumber && t.k != kInteger && k&t.k != 0:
			names = append(names, "`"+t.name+"`")
		}
	}
	return strings.Join(names, ", ")
}

func (k kinds) plural() bool {
	n := 0
	for _, t := range typeNames {
		if t.k != kInteger && k&t.k != 0 {
			n++
		}
	}
	return n > 1
}

// bound is a lower or upper limit on numbers as one schema states it.
type bound struct {
	set  bool
	v    *big.Rat
	excl bool
	text string // how the schema says it, for messages
}

// numberBound reads the lower (minimum, exclusiveMinimum) or upper limit of a
// schema, in the 2020-12 form (exclusiveMinimum a number) or the draft-04 one
// (exclusiveMinimum: true beside minimum). With both, the tighter wins.
func numberBound(m map[string]any, lower bool) bound {
	incl, excl := "maximum", "exclusiveMaximum"
	if lower {
		incl, excl = "minimum", "exclusiveMinimum"
	}
	var b bound
	tighter := func(c bound) {
		if !b.set {
			b = c
			return
		}
		cmp := c.v.Cmp(b.v)
		if !lower {
			cmp = -cmp
		}
		if cmp > 0 || (cmp == 0 && c.excl) {
			b = c
		}
	}
	if r, ok := rat(m[incl]); ok {
		c := bound{set: true, v: r, text: fmt.Sprintf("`%s: %s`", incl, render(m[incl]))}
		if m[excl] == true {
			c.excl = true
			c.text = fmt.Sprintf("`%s: %s, %s: true`", incl, render(m[incl]), excl)
		}
		tighter(c)
	}
	if r, ok := rat(m[excl]); ok {
		tighter(bound{set: true, v: r, excl: true, text: fmt.Sprintf("`%s: %s`", excl, render(m[excl]))})
	}
	return b
}

// asIntegers turns a bound into the inclusive one it is on integers.
func (b bound) asIntegers(lower bool) bound {
	if !b.set {
		return b
	}
	num, den := b.v.Num(), b.v.Denom()
	q := new(big.Int)
	if lower { // ceil; +1 if exclusive and already whole
		q.Div(num, den) // Euclidean: floor for positive den
		if b.v.IsInt() && b.excl {
			q.Add(q, big.NewInt(1))
		} else if !b.v.IsInt() {
			q.Add(q, big.NewInt(1))
		}
	} else { // floor; -1 if exclusive and whole
		q.Div(num, den)
		if b.v.IsInt() && b.excl {
			q.Sub(q, big.NewInt(1))
		}
	}
	return bound{set: true, v: new(big.Rat).SetInt(q), text: b.text}
}

// within reports whether every number inside n is inside w.
func within(w, n bound, lower bool) bool {
	if !w.set {
		return true
	}
	if !n.set {
		return false
	}
	cmp := n.v.Cmp(w.v)
	if !lower {
		cmp = -cmp
	}
	return cmp > 0 || (cmp == 0 && (!w.excl || n.excl))
}

// changed says how a keyword went from old to new; "" is absent.
func changed(old, new string) string {
	switch {
	case old == "":
		return new + " was added"
	case new == "":
		return old + " was removed"
	}
	return old + " changed to " + new
}

// handled lists the keywords the checker compares; any other keyword is
// compared only for equality.
var handled = map[string]bool{
	"type": true, "enum": true, "const": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true, "format": true,
	"properties": true, "additionalProperties": true, "patternProperties": true, "required": true,
	"minProperties": true, "maxProperties": true,
	"items": true, "prefixItems": true, "additionalItems": true, "minItems": true, "maxItems": true, "uniqueItems": true,
}

// wellFormed reports whether a handled keyword's value has the shape the
// checker needs; a malformed one is treated like a keyword it does not
// compare.
func wellFormed(k string, v any) bool {
	switch k {
	case "type":
		_, ok := parseTypes(v)
		return ok
	case "enum":
		_, ok := v.([]any)
		return ok
	case "minimum", "maximum":
		_, ok := rat(v)
		return ok
	case "exclusiveMinimum", "exclusiveMaximum":
		_, isBool := v.(bool)
		_, ok := rat(v)
		return ok || isBool
	case "multipleOf":
		r, ok := rat(v)
		return ok && r.Sign() > 0
	case "minLength", "maxLength", "minProperties", "maxProperties", "minItems", "maxItems":
		_, ok := count(v)
		return ok
	case "pattern", "format":
		_, ok := v.(string)
		return ok
	case "uniqueItems":
		_, ok := v.(bool)
		return ok
	case "required":
		a, ok := v.([]any)
		for _, e := range a {
			if _, isStr := e.(string); !isStr {
				return false
			}
		}
		return ok
	case "properties", "patternProperties":
		_, ok := v.(map[string]any)
		return ok
	case "prefixItems":
		_, ok := v.([]any)
		return ok
	case "additionalProperties", "additionalItems":
		return isSchema(v)
	case "items":
		if a, ok := v.([]any); ok {
			for _, e := range a {
				if !isSchema(e) {
					return false
				}
			}
			return true
		}
		return isSchema(v)
	}
	return true
}

func isSchema(v any) bool {
	_, ok := schemaObject(v)
	return ok
}
