package infer_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema/infer"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (default: from the clock)")

// testSeed returns the seed of a randomized test, logged so that a failure
// replays with go test -run NAME -seed N.
func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d", seed)
	return seed
}

// orderGen makes the data of varied "order.created" events: nested objects,
// arrays of objects, optional fields, uuids, date-times, e-mails, URIs, small
// enums, and integers mixed with floats.
type orderGen struct{ r *rand.Rand }

func (g orderGen) pick(values ...string) string { return values[g.r.IntN(len(values))] }

func (g orderGen) uuid() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (g orderGen) dateTime() string {
	t := time.Unix(1_600_000_000+g.r.Int64N(200_000_000), g.r.Int64N(1e9))
	switch g.r.IntN(3) {
	case 0:
		return t.UTC().Format(time.RFC3339)
	case 1:
		return t.UTC().Format(time.RFC3339Nano)
	default:
		return t.In(time.FixedZone("", (g.r.IntN(27)-12)*3600+g.r.IntN(2)*1800)).Format(time.RFC3339)
	}
}

func (g orderGen) word() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 3+g.r.IntN(8))
	for i := range b {
		b[i] = letters[g.r.IntN(len(letters))]
	}
	return string(b)
}

func (g orderGen) email() string {
	return g.word() + g.pick("", ".", "+", "_") + g.word() + "@" + g.word() + "." + g.pick("com", "io", "co.uk", "org")
}

func (g orderGen) uri() string {
	return g.pick("https", "http") + "://" + g.word() + ".example." + g.pick("com", "org") + "/" + g.word() + g.pick("", "?q="+g.word(), "#top")
}

// amount is sometimes an integer, sometimes a float.
func (g orderGen) amount() any {
	if g.r.IntN(3) == 0 {
		return g.r.IntN(10_000)
	}
	return float64(g.r.IntN(1_000_000)) / 100
}

func (g orderGen) maybe(p float64) bool { return g.r.Float64() < p }

// event returns one event's data as a map, for tests to mutate.
func (g orderGen) event() map[string]any {
	ev := map[string]any{
		"order_id":   g.uuid(),
		"created_at": g.dateTime(),
		"status":     g.pick("new", "paid", "shipped", "cancelled"),
		"total":      g.amount(),
		"count":      g.r.IntN(50),
		"customer": map[string]any{
			"id":    g.uuid(),
			"email": g.email(),
			"name":  g.word() + " " + g.word(),
		},
		"tags": func() []any {
			tags := []any{}
			for range g.r.IntN(4) {
				tags = append(tags, g.pick("gift", "express", "fragile", "b2b"))
			}
			return tags
		}(),
	}
	var lines []any
	for range 1 + g.r.IntN(4) {
		line := map[string]any{
			"sku":   strings.ToUpper(g.word()),
			"qty":   1 + g.r.IntN(9),
			"price": g.amount(),
		}
		if g.maybe(0.3) {
			line["discount"] = map[string]any{"code": g.word(), "percent": g.r.IntN(60)}
		}
		lines = append(lines, line)
	}
	ev["lines"] = lines
	if g.maybe(0.7) {
		ev["customer"].(map[string]any)["address"] = map[string]any{
			"city":    g.word(),
			"country": g.pick("FR", "DE", "US", "JP", "BR"),
			"zip":     fmt.Sprint(10000 + g.r.IntN(89999)),
		}
	}
	if g.maybe(0.5) {
		ev["callback_url"] = g.uri()
	}
	if g.maybe(0.5) {
		ev["delivery_date"] = time.Date(2025, 1, 1+g.r.IntN(365), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	if g.maybe(0.6) {
		ev["note"] = g.word() + " " + g.word() + " " + g.word()
	}
	if g.maybe(0.4) {
		ev["priority"] = nil
	} else if g.maybe(0.5) {
		ev["priority"] = g.pick("low", "high")
	}
	if g.maybe(0.5) {
		ev["gift"] = g.maybe(0.5)
	}
	return ev
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	g := orderGen{rand.New(rand.NewPCG(seed, seed>>32))}

	var samples [][]byte
	in := infer.New(infer.Options{Title: "order.created"})
	for range 500 {
		s := marshal(t, g.event())
		samples = append(samples, s)
		require.NoError(t, in.Add(s))
	}
	schema := in.Schema()
	sch := compile(t, schema)
	for _, s := range samples {
		require.NoError(t, validate(t, sch, s), "seed %d: a sample is invalid under its own schema\nsample %s\nschema:\n%s", seed, s, schema)
	}

	// What the data makes certain must have been inferred; the mutations
	// below rely on it.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(schema, &doc))
	props := doc["properties"].(map[string]any)
	require.Equal(t, "uuid", props["order_id"].(map[string]any)["format"])
	require.Equal(t, "date-time", props["created_at"].(map[string]any)["format"])
	require.Equal(t, []any{"cancelled", "new", "paid", "shipped"}, props["status"].(map[string]any)["enum"])
	require.Equal(t, "number", props["total"].(map[string]any)["type"])
	require.Equal(t, "integer", props["count"].(map[string]any)["type"])
	customer := props["customer"].(map[string]any)["properties"].(map[string]any)
	require.Equal(t, "email", customer["email"].(map[string]any)["format"])
	require.Equal(t, "uri", props["callback_url"].(map[string]any)["format"])
	require.Equal(t, "date", props["delivery_date"].(map[string]any)["format"])
	require.Equal(t, []any{"high", "low", nil}, props["priority"].(map[string]any)["enum"])
	require.NotContains(t, props["note"], "enum")
	require.Equal(t, []any{"count", "created_at", "customer", "lines", "order_id", "status", "tags", "total"}, doc["required"])

	mutations := []struct {
		name   string
		mutate func(ev map[string]any)
	}{
		{"required field removed", func(ev map[string]any) { delete(ev, "order_id") }},
		{"required nested field removed", func(ev map[string]any) { delete(ev["customer"].(map[string]any), "email") }},
		{"required field of an array element removed", func(ev map[string]any) {
			delete(ev["lines"].([]any)[0].(map[string]any), "sku")
		}},
		{"string where an integer was", func(ev map[string]any) { ev["count"] = "7" }},
		{"float where an integer was", func(ev map[string]any) { ev["count"] = 7.5 }},
		{"string where an integer was, in an array element", func(ev map[string]any) {
			ev["lines"].([]any)[0].(map[string]any)["qty"] = "two"
		}},
		{"object where an array was", func(ev map[string]any) { ev["tags"] = map[string]any{} }},
		{"value outside the enum", func(ev map[string]any) { ev["status"] = "refunded" }},
		{"value outside the enum of array items", func(ev map[string]any) { ev["tags"] = []any{"gift", "urgent"} }},
		{"value outside an enum with null", func(ev map[string]any) { ev["priority"] = "medium" }},
		{"malformed date-time", func(ev map[string]any) { ev["created_at"] = "2024-13-45T99:00:00Z" }},
		{"date where a date-time was", func(ev map[string]any) { ev["created_at"] = "2024-05-06" }},
		{"malformed uuid", func(ev map[string]any) { ev["order_id"] = "not-a-uuid" }},
		{"malformed e-mail", func(ev map[string]any) { ev["customer"].(map[string]any)["email"] = "nobody" }},
		{"relative URI", func(ev map[string]any) { ev["callback_url"] = "/hooks/order" }},
		{"malformed date", func(ev map[string]any) { ev["delivery_date"] = "2025-02-30" }},
		{"null where a string was", func(ev map[string]any) { ev["note"] = nil }},
	}
	for _, m := range mutations {
		ev := g.event()
		require.NoError(t, validate(t, sch, marshal(t, ev)), "seed %d", seed)
		m.mutate(ev)
		mutated := marshal(t, ev)
		require.Error(t, validate(t, sch, mutated), "seed %d: %s: accepted %s\nschema:\n%s", seed, m.name, mutated, schema)
	}

	// A new field is no reason to reject an event: the schema is a start.
	ev := g.event()
	ev["added_later"] = map[string]any{"x": 1}
	require.NoError(t, validate(t, sch, marshal(t, ev)))
}

// TestRoundTripRandomShapes infers schemas from random JSON of random shape
// and checks that every sample is valid under its schema, and that the
// schema does not depend on the order of the samples.
func TestRoundTripRandomShapes(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed>>32))

	for round := range 40 {
		// Samples of one round share a pool of keys and strings, so fields
		// recur, enums and formats appear, and types collide.
		opts := infer.Options{MaxEnum: 1 + r.IntN(6), MinEnumSamples: 1 + r.IntN(10)}
		var samples [][]byte
		in := infer.New(opts)
		for range 1 + r.IntN(60) {
			s := marshal(t, randomValue(r, 0))
			samples = append(samples, s)
			require.NoError(t, in.Add(s))
		}
		schema := in.Schema()
		sch := compile(t, schema)
		for _, s := range samples {
			require.NoError(t, validate(t, sch, s), "seed %d round %d\nsample %s\nschema:\n%s", seed, round, s, schema)
		}

		shuffled := infer.New(opts)
		for _, i := range r.Perm(len(samples)) {
			require.NoError(t, shuffled.Add(samples[i]))
		}
		require.Equal(t, string(schema), string(shuffled.Schema()), "seed %d round %d: order changed the schema", seed, round)
	}
}

var (
	randomKeys    = []string{"a", "b", "id", "at", "kind", "x", "nested", "list", "", "é"}
	randomStrings = []string{
		"on", "off", "", "2024-05-06", "2024-05-06T07:08:09Z", "2024-05-06T07:08:09.5+01:00",
		"123e4567-e89b-12d3-a456-426614174000", "ada@example.com", "https://example.com/x",
		"urn:x:y", "<&>", "\u00e9t\u00e9", "2024-02-30",
	}
)

func randomValue(r *rand.Rand, depth int) any {
	n := 7
	if depth > 3 {
		n = 5 // no more containers
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		if r.IntN(2) == 0 {
			return r.IntN(100) - 50
		}
		return json.Number(fmt.Sprint(r.Float64() * 1e6))
	case 3, 4:
		return randomStrings[r.IntN(len(randomStrings))]
	case 5:
		obj := map[string]any{}
		for range r.IntN(5) {
			obj[randomKeys[r.IntN(len(randomKeys))]] = randomValue(r, depth+1)
		}
		return obj
	default:
		arr := []any{}
		for range r.IntN(4) {
			arr = append(arr, randomValue(r, depth+1))
		}
		return arr
	}
}
