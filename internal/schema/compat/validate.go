package compat

import (
	"encoding/json"
	"math/big"
	"regexp"
	"unicode/utf8"
)

// verdict is three-valued: a value is accepted, rejected, or the checker
// cannot tell (a keyword it does not evaluate, such as `format`).
type verdict int8

const (
	rejected verdict = iota
	unknown
	accepted
)

func and(a, b verdict) verdict { return min(a, b) }
func or(a, b verdict) verdict  { return max(a, b) }
func not(a verdict) verdict    { return accepted - a }

func of(ok bool) verdict {
	if ok {
		return accepted
	}
	return rejected
}

// maxDepth bounds validation through recursive references.
const maxDepth = 64

// validate decides whether the schema at l accepts v. It is used where the
// narrower schema admits finitely many values (`enum`, `const`, `type`
// null or boolean): each one is then tried against the wider schema.
func (d document) validate(l loc, v any, depth int) verdict {
	if depth > maxDepth {
		return unknown
	}
	l = d.deref(l)
	switch s := l.v.(type) {
	case bool:
		return of(s)
	case map[string]any:
		res := accepted
		for _, k := range sortedKeys(s) {
			if annotation(k) {
				continue
			}
			res = and(res, d.keyword(l, k, v, depth))
			if res == rejected {
				return rejected
			}
		}
		return res
	}
	return unknown
}

// kindOf is the type bit of a JSON value (see kinds).
func kindOf(v any) kinds {
	switch v := v.(type) {
	case nil:
		return kNull
	case bool:
		return kBoolean
	case string:
		return kString
	case []any:
		return kArray
	case map[string]any:
		return kObject
	case json.Number:
		if r, ok := rat(v); ok && !r.IsInt() {
			return kFraction
		}
		return kInteger
	}
	return 0
}

func (d document) keyword(l loc, k string, v any, depth int) verdict {
	s := l.v.(map[string]any)
	kv := s[k]
	switch k {
	case "type":
		t, ok := parseTypes(kv)
		if !ok {
			return unknown
		}
		return of(kindOf(v)&t != 0)
	case "enum":
		vals, ok := kv.([]any)
		if !ok {
			return unknown
		}
		for _, e := range vals {
			if jsonEqual(e, v) {
				return accepted
			}
		}
		return rejected
	case "const":
		return of(jsonEqual(kv, v))
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf":
		x, ok := v.(json.Number)
		if !ok {
			return accepted
		}
		r, ok := rat(x)
		if !ok {
			return unknown
		}
		return numberKeyword(s, k, r)
	case "minLength", "maxLength", "pattern", "format":
		str, ok := v.(string)
		if !ok {
			return accepted
		}
		switch k {
		case "minLength", "maxLength":
			n, ok := count(kv)
			if !ok {
				return unknown
			}
			if k == "minLength" {
				return of(utf8.RuneCountInString(str) >= n)
			}
			return of(utf8.RuneCountInString(str) <= n)
		case "pattern":
			return match(kv, str)
		}
		return unknown // format
	case "required", "minProperties", "maxProperties", "properties", "patternProperties",
		"additionalProperties", "propertyNames", "dependentRequired", "dependentSchemas":
		obj, ok := v.(map[string]any)
		if !ok {
			return accepted
		}
		return d.objectKeyword(l, k, obj, depth)
	case "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
		"contains", "minContains", "maxContains":
		arr, ok := v.([]any)
		if !ok {
			return accepted
		}
		return d.arrayKeyword(l, k, arr, depth)
	case "allOf", "anyOf", "oneOf":
		subs, ok := kv.([]any)
		if !ok || len(subs) == 0 {
			return unknown
		}
		res, hits, maybes := accepted, 0, 0
		if k == "anyOf" {
			res = rejected
		}
		for i := range subs {
			r := d.validate(l.child(k).index(i), v, depth+1)
			switch k {
			case "allOf":
				res = and(res, r)
			case "anyOf":
				res = or(res, r)
			}
			if r == accepted {
				hits++
			} else if r == unknown {
				maybes++
			}
		}
		if k == "oneOf" {
			switch {
			case hits > 1:
				return rejected
			case maybes > 0:
				return unknown
			}
			return of(hits == 1)
		}
		return res
	case "not":
		return not(d.validate(l.child(k), v, depth+1))
	case "if":
		cond := d.validate(l.child("if"), v, depth+1)
		then, els := accepted, accepted
		if _, ok := s["then"]; ok {
			then = d.validate(l.child("then"), v, depth+1)
		}
		if _, ok := s["else"]; ok {
			els = d.validate(l.child("else"), v, depth+1)
		}
		switch cond {
		case accepted:
			return then
		case rejected:
			return els
		}
		if then == els {
			return then
		}
		return unknown
	case "then", "else":
		return accepted // evaluated with "if"
	}
	return unknown
}

func numberKeyword(s map[string]any, k string, x *big.Rat) verdict {
	kv := s[k]
	if b, ok := kv.(bool); ok && (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
		if !b {
			return accepted
		}
		// draft-04: makes minimum or maximum exclusive.
		bound := "minimum"
		if k == "exclusiveMaximum" {
			bound = "maximum"
		}
		r, ok := rat(s[bound])
		if !ok {
			return of(s[bound] == nil)
		}
		if k == "exclusiveMinimum" {
			return of(x.Cmp(r) > 0)
		}
		return of(x.Cmp(r) < 0)
	}
	r, ok := rat(kv)
	if !ok {
		return unknown
	}
	switch k {
	case "minimum":
		return of(x.Cmp(r) >= 0)
	case "maximum":
		return of(x.Cmp(r) <= 0)
	case "exclusiveMinimum":
		return of(x.Cmp(r) > 0)
	case "exclusiveMaximum":
		return of(x.Cmp(r) < 0)
	}
	if r.Sign() <= 0 {
		return unknown
	}
	return of(new(big.Rat).Quo(x, r).IsInt())
}

// count reads a non-negative integer keyword value.
func count(v any) (int, bool) {
	r, ok := rat(v)
	if !ok || !r.IsInt() || r.Sign() < 0 || !r.Num().IsInt64() {
		return 0, false
	}
	n := r.Num().Int64()
	if n > 1<<40 {
		n = 1 << 40
	}
	return int(n), true
}

// match runs an ECMA-262 pattern with Go's regexp; the two agree on the
// patterns schemas use, and a pattern Go cannot compile is unknown.
func match(pattern any, s string) verdict {
	p, ok := pattern.(string)
	if !ok {
		return unknown
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return unknown
	}
	return of(re.MatchString(s))
}

func (d document) objectKeyword(l loc, k string, obj map[string]any, depth int) verdict {
	s := l.v.(map[string]any)
	kv := s[k]
	switch k {
	case "required":
		names, ok := kv.([]any)
		if !ok {
			return unknown
		}
		for _, n := range names {
			name, ok := n.(string)
			if !ok {
				return unknown
			}
			if _, ok := obj[name]; !ok {
				return rejected
			}
		}
		return accepted
	case "minProperties", "maxProperties":
		n, ok := count(kv)
		if !ok {
			return unknown
		}
		if k == "minProperties" {
			return of(len(obj) >= n)
		}
		return of(len(obj) <= n)
	case "properties", "patternProperties":
		m, ok := kv.(map[string]any)
		if !ok {
			return unknown
		}
		res := accepted
		for _, key := range sortedKeys(m) {
			for _, name := range sortedKeys(obj) {
				applies := of(name == key)
				if k == "patternProperties" {
					applies = match(key, name)
				}
				if applies == rejected {
					continue
				}
				r := d.validate(l.child(k).child(key), obj[name], depth+1)
				if applies == unknown && r != accepted {
					r = unknown
				}
				res = and(res, r)
			}
		}
		return res
	case "additionalProperties":
		props, _ := s["properties"].(map[string]any)
		patterns, _ := s["patternProperties"].(map[string]any)
		res := accepted
		for _, name := range sortedKeys(obj) {
			if _, ok := props[name]; ok {
				continue
			}
			covered := rejected
			for p := range patterns {
				covered = or(covered, match(p, name))
			}
			if covered == accepted {
				continue
			}
			r := d.validate(l.child(k), obj[name], depth+1)
			if covered == unknown && r != accepted {
				r = unknown
			}
			res = and(res, r)
		}
		return res
	case "propertyNames":
		res := accepted
		for _, name := range sortedKeys(obj) {
			res = and(res, d.validate(l.child(k), name, depth+1))
		}
		return res
	case "dependentRequired":
		m, ok := kv.(map[string]any)
		if !ok {
			return unknown
		}
		for name, deps := range m {
			if _, ok := obj[name]; !ok {
				continue
			}
			list, ok := deps.([]any)
			if !ok {
				return unknown
			}
			for _, dep := range list {
				ds, ok := dep.(string)
				if !ok {
					return unknown
				}
				if _, ok := obj[ds]; !ok {
					return rejected
				}
			}
		}
		return accepted
	case "dependentSchemas":
		m, ok := kv.(map[string]any)
		if !ok {
			return unknown
		}
		res := accepted
		for _, name := range sortedKeys(m) {
			if _, ok := obj[name]; ok {
				res = and(res, d.validate(l.child(k).child(name), obj, depth+1))
			}
		}
		return res
	}
	return unknown
}

func (d document) arrayKeyword(l loc, k string, arr []any, depth int) verdict {
	s := l.v.(map[string]any)
	kv := s[k]
	switch k {
	case "minItems", "maxItems":
		n, ok := count(kv)
		if !ok {
			return unknown
		}
		if k == "minItems" {
			return of(len(arr) >= n)
		}
		return of(len(arr) <= n)
	case "uniqueItems":
		b, ok := kv.(bool)
		if !ok {
			return unknown
		}
		if !b {
			return accepted
		}
		for i := range arr {
			for j := i + 1; j < len(arr); j++ {
				if jsonEqual(arr[i], arr[j]) {
					return rejected
				}
			}
		}
		return accepted
	case "prefixItems":
		prefix, ok := kv.([]any)
		if !ok {
			return unknown
		}
		res := accepted
		for i := range min(len(prefix), len(arr)) {
			res = and(res, d.validate(l.child(k).index(i), arr[i], depth+1))
		}
		return res
	case "items":
		start := 0
		if tuple, ok := kv.([]any); ok { // draft-07 tuple
			res := accepted
			for i := range min(len(tuple), len(arr)) {
				res = and(res, d.validate(l.child(k).index(i), arr[i], depth+1))
			}
			return res
		}
		if prefix, ok := s["prefixItems"].([]any); ok {
			start = len(prefix)
		}
		res := accepted
		for i := start; i < len(arr); i++ {
			res = and(res, d.validate(l.child(k), arr[i], depth+1))
		}
		return res
	case "additionalItems":
		tuple, ok := s["items"].([]any)
		if !ok {
			return accepted // ignored without tuple items
		}
		res := accepted
		for i := len(tuple); i < len(arr); i++ {
			res = and(res, d.validate(l.child(k), arr[i], depth+1))
		}
		return res
	}
	return unknown // contains, minContains, maxContains
}
