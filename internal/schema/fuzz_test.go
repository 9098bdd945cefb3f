package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ensue-dev/ensue/internal/schema"
)

func FuzzCompile(f *testing.F) {
	for _, name := range []string{"order", "payment", "host_draft07"} {
		f.Add([]byte(compileFile(f, name).Doc()))
	}
	for _, doc := range []string{
		``, `{`, `true`, `false`, `[]`, `{"$ref":"#"}`, `{"$ref":"http://x/y"}`,
		`{"$schema":"http://json-schema.org/draft-04/schema#"}`,
		`{"type":"strin"}`, `{"pattern":"("}`, `{"format":"emial"}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"$id":"https://e.com/a","$defs":{"b":{"$id":"b","type":"string"}},"$ref":"b"}`,
		`{"allOf":[{"type":"object"}],"not":{"required":["x"]},"if":{"minProperties":1},"then":{"maxProperties":3}}`,
		`{"$dynamicRef":"#meta","$defs":{"m":{"$dynamicAnchor":"meta"}}}`,
		`{"multipleOf":1e-400,"minimum":1e400}`,
		`{"type":"integer","minimum":-1.5,"exclusiveMaximum":1e3,"multipleOf":0.5}`,
		`{"type":["number","string"],"enum":[0,"x",null,true],"maxLength":0}`,
		`{"const":-1.50}`,
		`{"items":{"type":"object","additionalProperties":{"type":"integer"},"required":["a"]},"minItems":1}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","$ref":"#/definitions/n","definitions":{"n":{"type":"number"}},"type":"string"}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := schema.Compile(doc)
		if err != nil {
			var ce *schema.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, not *CompileError: %v", err, err)
			}
			if s != nil {
				t.Fatal("both a schema and an error")
			}
			return
		}
		if s == nil {
			t.Fatal("neither a schema nor an error")
		}
		canon, err := schema.Canonical(doc)
		if err != nil || !bytes.Equal(canon, s.Doc()) {
			t.Fatalf("Canonical %q (%v) differs from Doc %q", canon, err, s.Doc())
		}
		again, err := schema.Canonical(canon)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("Canonical is not idempotent: %q then %q", canon, again)
		}
		for _, data := range []string{``, `null`, `0`, `-1.5e3`, `"x"`, `[]`, `{}`, `{"a":[1,"b",{"c":null}]}`, `[{"a":1},{"a":1.0}]`, `{"a":"x","b":2}`, `1.0`, `1e2`, `-0`, `0.5`, `1000`, `true`, validOrder} {
			checkValidate(t, s, []byte(data))
			if fast, lib, ok := schema.Verdicts(s, []byte(data)); ok && fast && !lib {
				t.Fatalf("fast path says %q is valid against %q, the library says invalid", data, doc)
			}
		}
	})
}

func FuzzValidate(f *testing.F) {
	order := compileFile(f, "order")
	payment := compileFile(f, "payment")
	host := compileFile(f, "host_draft07")
	for _, s := range []*schema.Schema{order, payment, host} {
		if !schema.HasFastPath(s) && s != payment {
			f.Fatal("expected a fast path for the order and host schemas")
		}
	}
	for _, data := range []string{
		validOrder, ``, `null`, `{}`, `[`, `{"total":-0.0}`, `{"total":1e999}`, `"\ud800"`, "\"\xff\"",
		`{"order_id":"5f0c6b1e-8a4d-4c2e-9b7a-3d2f1e0c9b8a","items":[{"sku":"AB-1","qty":1.0,"price":0.010}]}`,
		`{"payment_id":"0b9c1d6e-2f4a-4b8c-9d0e-1f2a3b4c5d6e","amount":1,"method":{"kind":"card","last4":"4242","expires":"2028-09-30"}}`,
		`{"host":{"name":"a","ipv4":"1.2.3.4"},"checks":[{"at":"08:30:00Z","window":[0,1e2,2.0]}]}`,
	} {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		for _, s := range []*schema.Schema{order, payment, host} {
			checkValidate(t, s, data)
			if fast, lib, ok := schema.Verdicts(s, data); ok && fast && !lib {
				t.Fatalf("fast path says valid, the library says invalid: %q", data)
			}
		}
	})
}

// checkValidate validates data and checks the shape of the answer.
func checkValidate(t *testing.T, s *schema.Schema, data []byte) {
	t.Helper()
	vs, err := s.Validate(data)
	if err != nil {
		if !errors.Is(err, schema.ErrInvalidJSON) {
			t.Fatalf("error does not wrap ErrInvalidJSON: %v", err)
		}
		return
	}
	for i, v := range vs {
		if v.Pointer != "/data" && !strings.HasPrefix(v.Pointer, "/data/") {
			t.Fatalf("pointer %q is not into the data", v.Pointer)
		}
		if v.Keyword == "" || v.Message == "" {
			t.Fatalf("violation without keyword or message: %+v", v)
		}
		if i > 0 && vs[i-1] == v {
			t.Fatalf("duplicate violation %+v", v)
		}
	}
}

// checkDecode holds the data decoder to encoding/json (with UseNumber).
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	got, err := schema.DecodeJSON(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	var werr error
	if !json.Valid(data) {
		werr = errors.New("not valid per json.Valid")
	} else if werr = dec.Decode(&want); werr != nil {
		t.Fatalf("json.Valid accepts %q that the decoder refuses: %v", data, werr)
	}
	switch {
	case err == nil && werr != nil:
		t.Fatalf("decoded %q that encoding/json refuses: %v", data, werr)
	case err != nil && werr == nil:
		if strings.Contains(err.Error(), "nesting deeper") {
			return
		}
		t.Fatalf("refused %q that encoding/json accepts: %v", data, err)
	case err == nil && !reflect.DeepEqual(got, want):
		// Numbers too long for the library become another type holding
		// the same text: compare what they encode to.
		gb, gerr := json.Marshal(got)
		wb, werr := json.Marshal(want)
		if gerr != nil || werr != nil || !bytes.Equal(gb, wb) {
			t.Fatalf("decoded %q as %#v, encoding/json as %#v", data, got, want)
		}
	}
}
