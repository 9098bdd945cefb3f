package schema_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ensue-dev/ensue/internal/schema"
)

// BenchmarkValidate validates a ~400 B order (testdata/schemas/order.json:
// 10 properties, required, additionalProperties false, a nested array of
// items by $ref, an enum, uuid/email/date-time/uri formats, numeric bounds)
// the way ingest does. Compare with the ~27 µs of CPU an append costs.
func BenchmarkValidate(b *testing.B) {
	s := compileFile(b, "order")
	data := []byte(validOrder)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		vs, err := s.Validate(data)
		if err != nil || len(vs) != 0 {
			b.Fatal(err, vs)
		}
	}
}

// BenchmarkValidateJSON is BenchmarkValidate for data known to be strict
// JSON, as the registry validates an event's data.
func BenchmarkValidateJSON(b *testing.B) {
	s := compileFile(b, "order")
	data := []byte(validOrder)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		vs, err := s.ValidateJSON(data)
		if err != nil || len(vs) != 0 {
			b.Fatal(err, vs)
		}
	}
}

// BenchmarkValidateInvalid is the error path: three violations to flatten
// and word.
func BenchmarkValidateInvalid(b *testing.B) {
	s := compileFile(b, "order")
	data := []byte(withOrder(b, map[string]string{"total": "-1", "email": `"x"`, "discount": "3"}))
	b.ReportAllocs()
	for b.Loop() {
		vs, err := s.Validate(data)
		if err != nil || len(vs) != 3 {
			b.Fatal(err, vs)
		}
	}
}

// BenchmarkValidateLibraryDecoder is the baseline the package's decoder is
// measured against: the library's own UnmarshalJSON (encoding/json with
// UseNumber) and Schema.Validate.
func BenchmarkValidateLibraryDecoder(b *testing.B) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var doc any
	s := compileFile(b, "order")
	if err := json.Unmarshal(s.Doc(), &doc); err != nil {
		b.Fatal(err)
	}
	if err := c.AddResource("order.json", doc); err != nil {
		b.Fatal(err)
	}
	sch, err := c.Compile("order.json")
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(validOrder)
	b.ReportAllocs()
	for b.Loop() {
		v, err := jsonschema.UnmarshalJSON(bytesReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	s := compileFile(b, "order")
	doc := s.Doc()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schemaCompile(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

var schemaCompile = schema.Compile
