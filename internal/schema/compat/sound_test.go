package compat_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ensue-dev/ensue/internal/schema/compat"
)

// TestCheckIsSound holds the checker to a real validator: for random schemas
// and random mutations of them, whenever Check says a direction is
// compatible, no random event valid under the narrower version may be
// rejected by the wider one. The seed is printed; COMPAT_SEED=<seed> replays
// a failure.
func TestCheckIsSound(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COMPAT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("COMPAT_SEED: %v", err)
		}
	}
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>32))
	pairs, compatible := 1500, 0
	if testing.Short() {
		pairs = 200
	}
	for range pairs {
		oldDoc := genSchema(r, 3)
		newDoc := mutate(r, oldDoc, 3)
		old, _ := json.Marshal(oldDoc)
		new, _ := json.Marshal(newDoc)
		oldSch, newSch := compile(t, old), compile(t, new)
		if oldSch == nil || newSch == nil {
			continue
		}
		for _, mode := range []compat.Mode{compat.Backward, compat.Forward} {
			changes, err := compat.Check(old, new, mode, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) > 0 {
				continue
			}
			compatible++
			narrower, wider := oldSch, newSch
			if mode == compat.Forward {
				narrower, wider = newSch, oldSch
			}
			for range 60 {
				inst := genValue(r, 3)
				if narrower.Validate(inst) == nil && wider.Validate(inst) != nil {
					b, _ := json.Marshal(inst)
					t.Fatalf("seed %d: Check says %s compatible\nold: %s\nnew: %s\nbut event %s breaks it", seed, mode, old, new, b)
				}
			}
		}
	}
	t.Logf("%d compatible directions checked against the validator", compatible)
}

func compile(t *testing.T, doc []byte) *jsonschema.Schema {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(doc)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://s.json", v); err != nil {
		return nil
	}
	s, err := c.Compile("mem://s.json")
	if err != nil {
		return nil // e.g. a pattern the validator refuses
	}
	return s
}

var (
	names   = []string{"a", "b", "c"}
	strs    = []any{"", "a", "ab", "abc", "abcdef", "x_1", "B"}
	nums    = []any{json.Number("-1"), json.Number("0"), json.Number("0.5"), json.Number("1"), json.Number("2"), json.Number("3"), json.Number("2.5"), json.Number("10")}
	types   = []string{"null", "boolean", "object", "array", "number", "integer", "string"}
	pattern = []string{"^a", "^[a-z]*$", "b"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func genValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(7); {
	case k == 0:
		return nil
	case k == 1:
		return r.IntN(2) == 0
	case k == 2:
		return pick(r, strs)
	case k == 3:
		return pick(r, nums)
	case k == 4 && depth > 0:
		a := []any{}
		for range r.IntN(4) {
			a = append(a, genValue(r, depth-1))
		}
		return a
	case depth > 0:
		m := map[string]any{}
		for _, n := range names {
			if r.IntN(2) == 0 {
				m[n] = genValue(r, depth-1)
			}
		}
		return m
	}
	return pick(r, strs)
}

// genSchema draws a schema from the keywords the checker compares, with an
// occasional combinator.
func genSchema(r *rand.Rand, depth int) any {
	if r.IntN(12) == 0 {
		return r.IntN(3) > 0
	}
	m := map[string]any{}
	for range 1 + r.IntN(3) {
		addKeyword(r, m, depth)
	}
	return m
}

func addKeyword(r *rand.Rand, m map[string]any, depth int) {
	switch r.IntN(22) {
	case 0, 1:
		if r.IntN(2) == 0 {
			m["type"] = pick(r, types)
		} else {
			m["type"] = []any{pick(r, types), pick(r, types)}
		}
	case 2:
		m["enum"] = []any{genValue(r, 0), genValue(r, 0)}
	case 3:
		m["const"] = genValue(r, 0)
	case 4:
		m[pick(r, []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})] = pick(r, nums)
	case 5:
		m["multipleOf"] = pick(r, []any{json.Number("0.5"), json.Number("1"), json.Number("2")})
	case 6:
		m[pick(r, []string{"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})] = r.IntN(4)
	case 7:
		m["pattern"] = pick(r, pattern)
	case 8, 9, 10:
		if depth > 0 {
			props := map[string]any{}
			for _, n := range names {
				if r.IntN(2) == 0 {
					props[n] = genSchema(r, depth-1)
				}
			}
			m["properties"] = props
		}
	case 11, 12:
		var req []any
		for _, n := range names {
			if r.IntN(3) == 0 {
				req = append(req, n)
			}
		}
		m["required"] = req
	case 13, 14:
		if r.IntN(2) == 0 || depth == 0 {
			m["additionalProperties"] = r.IntN(2) == 0
		} else {
			m["additionalProperties"] = genSchema(r, depth-1)
		}
	case 15, 16:
		if depth > 0 {
			m["items"] = genSchema(r, depth-1)
		}
	case 17:
		if depth > 0 {
			m["prefixItems"] = []any{genSchema(r, depth-1)}
		}
	case 18:
		m["uniqueItems"] = r.IntN(2) == 0
	case 19:
		if depth > 0 {
			m[pick(r, []string{"anyOf", "oneOf", "allOf"})] = []any{genSchema(r, depth-1), genSchema(r, depth-1)}
		}
	case 20:
		if depth > 0 {
			m["not"] = genSchema(r, depth-1)
		}
	case 21:
		if depth > 0 {
			m["patternProperties"] = map[string]any{"^a": genSchema(r, depth-1)}
		}
	}
}

// mutate changes a schema a little: a keyword added, removed or redrawn, or
// a change deeper down.
func mutate(r *rand.Rand, s any, depth int) any {
	m, ok := s.(map[string]any)
	if !ok {
		return genSchema(r, depth)
	}
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	switch r.IntN(4) {
	case 0:
		addKeyword(r, out, depth)
	case 1:
		for k := range out {
			delete(out, k)
			break
		}
	default:
		if props, ok := out["properties"].(map[string]any); ok && depth > 0 {
			np := map[string]any{}
			for k, v := range props {
				np[k] = v
			}
			n := pick(r, names)
			np[n] = mutate(r, np[n], depth-1)
			out["properties"] = np
		} else if items, ok := out["items"]; ok && depth > 0 {
			out["items"] = mutate(r, items, depth-1)
		} else {
			addKeyword(r, out, depth)
		}
	}
	return out
}
