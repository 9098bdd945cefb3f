package schema

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path.
//
// jsonschema/v6 allocates for every subschema it enters (a scope, an
// evaluation record, the location path) and for every number it checks
// (fmt.Sprintf, then big.Rat); on a typical order that is most of the cost of
// Validate. Most event schemas use a small set of keywords, so Compile also
// builds a plan from the library's compiled schema that answers one question
// without allocating: is this value certainly valid? When the plan says yes,
// Validate is done. When it says no — the data is invalid, or the plan cannot
// be sure — the library validates as before and its errors become the
// violations. A schema using any keyword outside the set gets no plan.
//
// Soundness is the one rule: the plan may only say yes where the library
// says valid. FuzzValidate checks exactly that against the library.

type plan struct {
	always    bool // true schema / no constraints
	never     bool // false schema
	ref       *plan
	refOnly   bool // draft-07: a $ref hides its siblings
	types     jsonschema.Types
	hasTypes  bool
	enum      []any
	hasEnum   bool
	format    func(any) error
	fmtName   string // the format's name, for the checks done here without allocating
	minLen    int    // -1 = none
	maxLen    int
	pattern   jsonschema.Regexp
	min, max  *bound
	exMin     *bound
	exMax     *bound
	multOf    *big.Rat
	required  []string
	props     map[string]*plan
	addlFalse bool
	addl      *plan
	items     *plan
	minItems  int // -1 = none
	maxItems  int
}

type bound struct {
	rat *big.Rat
	f   float64
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	f, _ := r.Float64()
	return &bound{rat: r, f: f}
}

// handledFields are the fields of jsonschema.Schema the plan understands or
// that do not affect validation. Any other field set makes buildPlan give up,
// including fields a future library version adds.
var handledFields = map[string]bool{
	"DraftVersion": true, "Location": true, "ID": true, "Anchor": true,
	"Title": true, "Description": true, "Default": true, "Comment": true,
	"ReadOnly": true, "WriteOnly": true, "Examples": true, "Deprecated": true,
	"Bool": true, "Ref": true, "Types": true, "Enum": true, "Const": true, "Format": true,
	"Required": true, "Properties": true, "AdditionalProperties": true,
	"MinItems": true, "MaxItems": true, "Items": true, "Items2020": true,
	"MinLength": true, "MaxLength": true, "Pattern": true,
	"Minimum": true, "Maximum": true, "ExclusiveMinimum": true, "ExclusiveMaximum": true, "MultipleOf": true,
}

// buildPlan returns the plan for a compiled schema, or nil when the schema
// uses something the plan does not handle.
func buildPlan(root *jsonschema.Schema) *plan {
	b := planBuilder{plans: map[*jsonschema.Schema]*plan{}}
	p := b.build(root)
	if b.failed {
		return nil
	}
	return p
}

type planBuilder struct {
	plans  map[*jsonschema.Schema]*plan
	failed bool
}

func (b *planBuilder) build(s *jsonschema.Schema) *plan {
	if b.failed {
		return nil
	}
	if p, ok := b.plans[s]; ok {
		return p
	}
	p := &plan{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1}
	b.plans[s] = p

	rv := reflect.ValueOf(s).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() || handledFields[f.Name] {
			continue
		}
		if !rv.Field(i).IsZero() {
			b.failed = true
			return nil
		}
	}

	if s.Bool != nil {
		p.always, p.never = *s.Bool, !*s.Bool
		return p
	}
	if s.Ref != nil {
		p.ref = b.build(s.Ref)
		p.refOnly = s.DraftVersion < 2019
	}
	if s.Types != nil && !s.Types.IsEmpty() {
		p.types, p.hasTypes = *s.Types, true
	}
	if s.Enum != nil {
		p.enum, p.hasEnum = s.Enum.Values, true
	}
	if s.Const != nil {
		p.enum, p.hasEnum = []any{*s.Const}, true
		if s.Enum != nil { // both: keep it simple, let the library decide
			b.failed = true
			return nil
		}
	}
	if s.Format != nil {
		p.format = s.Format.Validate
		p.fmtName = s.Format.Name
	}
	if s.MinLength != nil {
		p.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		p.maxLen = *s.MaxLength
	}
	p.pattern = s.Pattern
	p.min, p.max = newBound(s.Minimum), newBound(s.Maximum)
	p.exMin, p.exMax = newBound(s.ExclusiveMinimum), newBound(s.ExclusiveMaximum)
	p.multOf = s.MultipleOf
	p.required = s.Required
	if len(s.Properties) > 0 {
		p.props = make(map[string]*plan, len(s.Properties))
		for name, sub := range s.Properties {
			p.props[name] = b.build(sub)
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		p.addlFalse = !a
	case *jsonschema.Schema:
		p.addl = b.build(a)
	}
	if s.MinItems != nil {
		p.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		p.maxItems = *s.MaxItems
	}
	switch it := s.Items.(type) {
	case nil:
	case *jsonschema.Schema:
		p.items = b.build(it)
	default: // draft-07 tuple form
		b.failed = true
		return nil
	}
	if s.Items2020 != nil {
		p.items = b.build(s.Items2020)
	}
	return p
}

// maxRefHops bounds $ref chains that do not descend into the data (a
// schema whose $ref loops back to itself); the library reports those.
const maxRefHops = 32

// valid reports whether v is certainly valid against p.
func (p *plan) valid(v any, hops int) bool {
	if p.always {
		return true
	}
	if p.never {
		return false
	}
	if p.ref != nil {
		if hops >= maxRefHops || !p.ref.valid(v, hops+1) {
			return false
		}
		if p.refOnly {
			return true
		}
	}
	if p.hasTypes && !p.typeOK(v) {
		return false
	}
	if p.hasEnum && !enumOK(p.enum, v) {
		return false
	}
	if p.format != nil && p.format(v) != nil {
		return false
	}
	switch v := v.(type) {
	case map[string]any:
		return p.objectOK(v)
	case []any:
		return p.arrayOK(v)
	case string:
		return p.stringOK(v)
	case json.Number:
		return p.numberOK(v)
	case hugeNumber:
		return false
	}
	return true
}

func (p *plan) typeOK(v any) bool {
	var name string
	switch v := v.(type) {
	case nil:
		name = "null"
	case bool:
		name = "boolean"
	case string:
		name = "string"
	case []any:
		name = "array"
	case map[string]any:
		name = "object"
	case json.Number:
		if typesHas(p.types, "number") {
			return true
		}
		return typesHas(p.types, "integer") && isIntegerLiteral(v)
	default:
		return false
	}
	return typesHas(p.types, name)
}

// typesHas asks jsonschema.Types, whose bits are not exported, whether it
// holds name, without allocating.
func typesHas(t jsonschema.Types, name string) bool {
	bit, ok := typeBits[name]
	return ok && int(t)&bit != 0
}

// typeBits maps type names to the library's bits, learned through its API.
var typeBits = func() map[string]int {
	m := map[string]int{}
	for _, n := range []string{"null", "boolean", "number", "integer", "string", "array", "object"} {
		var t jsonschema.Types
		t.Add(n)
		m[n] = int(t)
	}
	return m
}()

func isIntegerLiteral(n json.Number) bool {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		return true
	}
	r, ok := new(big.Rat).SetString(s)
	return ok && r.IsInt()
}

// enumOK compares strings, booleans and null exactly; for numbers, arrays
// and objects it is not sure and leaves them to the library.
func enumOK(values []any, v any) bool {
	switch v := v.(type) {
	case string:
		for _, e := range values {
			if s, ok := e.(string); ok && s == v {
				return true
			}
		}
	case bool:
		for _, e := range values {
			if b, ok := e.(bool); ok && b == v {
				return true
			}
		}
	case nil:
		for _, e := range values {
			if e == nil {
				return true
			}
		}
	}
	return false
}

func (p *plan) objectOK(obj map[string]any) bool {
	for _, name := range p.required {
		if _, ok := obj[name]; !ok {
			return false
		}
	}
	for k, v := range obj {
		if sub, ok := p.props[k]; ok {
			if !sub.valid(v, 0) {
				return false
			}
			continue
		}
		if p.addlFalse {
			return false
		}
		if p.addl != nil && !p.addl.valid(v, 0) {
			return false
		}
	}
	return true
}

func (p *plan) arrayOK(a []any) bool {
	if p.minItems >= 0 && len(a) < p.minItems {
		return false
	}
	if p.maxItems >= 0 && len(a) > p.maxItems {
		return false
	}
	if p.items != nil {
		for _, v := range a {
			if !p.items.valid(v, 0) {
				return false
			}
		}
	}
	return true
}

func (p *plan) stringOK(s string) bool {
	if p.minLen >= 0 || p.maxLen >= 0 {
		n := utf8.RuneCountInString(s)
		if p.minLen >= 0 && n < p.minLen || p.maxLen >= 0 && n > p.maxLen {
			return false
		}
	}
	return p.pattern == nil || p.pattern.MatchString(s)
}

// numberOK compares in float64 where rounding cannot change the answer
// (rounding is monotonic, so f > b implies x > B) and exactly, with big.Rat,
// only when the float comparison is a tie.
func (p *plan) numberOK(n json.Number) bool {
	if p.min == nil && p.max == nil && p.exMin == nil && p.exMax == nil && p.multOf == nil {
		return true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return false // out of float64 range: the library decides
	}
	var exact *big.Rat
	cmp := func(b *bound) int {
		switch {
		case f > b.f:
			return 1
		case f < b.f:
			return -1
		}
		if exact == nil {
			r, ok := new(big.Rat).SetString(string(n))
			if !ok {
				return 2 // not comparable: fail safe
			}
			exact = r
		}
		return exact.Cmp(b.rat)
	}
	if p.min != nil {
		if c := cmp(p.min); c < 0 || c == 2 {
			return false
		}
	}
	if p.max != nil {
		if c := cmp(p.max); c > 0 {
			return false
		}
	}
	if p.exMin != nil {
		if c := cmp(p.exMin); c <= 0 || c == 2 {
			return false
		}
	}
	if p.exMax != nil {
		if c := cmp(p.exMax); c >= 0 {
			return false
		}
	}
	if p.multOf != nil && !multipleOf(string(n), p.multOf) {
		return false
	}
	return true
}

// multipleOf decides exactly whether the number written as lit is a multiple
// of m. The common case, a plain decimal against 10^-k (0.01) or an integer
// against an integer, needs no big arithmetic.
func multipleOf(lit string, m *big.Rat) bool {
	if !strings.ContainsAny(lit, "eE") && m.Sign() > 0 {
		intPart, frac, _ := strings.Cut(lit, ".")
		frac = strings.TrimRight(frac, "0")
		if m.IsInt() && m.Num().IsInt64() && frac == "" {
			if x, err := strconv.ParseInt(intPart, 10, 64); err == nil {
				return x%m.Num().Int64() == 0
			}
		}
		if m.Num().IsInt64() && m.Num().Int64() == 1 && m.Denom().IsInt64() {
			if k := decimalPlaces(m.Denom().Int64()); k >= 0 {
				return len(frac) <= k
			}
		}
	}
	x, ok := new(big.Rat).SetString(lit)
	return ok && new(big.Rat).Quo(x, m).IsInt()
}

// decimalPlaces returns k when d is 10^k, else -1.
func decimalPlaces(d int64) int {
	k := 0
	for d > 1 {
		if d%10 != 0 {
			return -1
		}
		d /= 10
		k++
	}
	if d != 1 {
		return -1
	}
	return k
}
