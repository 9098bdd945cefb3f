package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

func FuzzParseFile(f *testing.F) {
	if b, err := os.ReadFile("testdata/notify-big-orders.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(validBase))
	f.Add([]byte(`{"name":"a","on":{"type":"a.*","when":"event.data.x > 1"},"steps":[{"id":"s","emit":{"type":"b","data":"event.data"}}]}`))
	f.Add([]byte("kind: projection\nname: p\nkey: event.subject\n---\nname: a\non: {type: a}\nsteps: [{id: s, emit: {type: b}}]\n"))
	f.Add([]byte("name: &a x\nsteps: *a\n<<: {a: 1}\n"))
	f.Add([]byte("steps:\n  - id: s\n    emit:\n      type: b\n      data: |\n        {\"a\": 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ParseFile("fuzz.yaml", data)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("error is not an *Error with problems: %v", err)
			}
			return
		}
		if len(docs) == 0 {
			t.Fatal("no error and no document")
		}
		for _, d := range docs {
			if d.Kind == KindFlow && d.Flow == nil {
				t.Fatal("flow document without a Flow")
			}
			if d.Flow == nil {
				continue
			}
			c, err := Compile(d.Flow)
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("Compile error is not an *Error: %v", err)
				}
				continue
			}
			back, err := ParseCanonical(d.Flow.Canonical())
			if err != nil {
				t.Fatalf("ParseCanonical(Canonical()): %v", err)
			}
			c2, err := Compile(back)
			if err != nil {
				t.Fatalf("canonical form does not compile: %v", err)
			}
			if c.Hash() != c2.Hash() {
				t.Fatalf("hash changed through the canonical form:\n%s\n%s", d.Flow.Canonical(), back.Canonical())
			}
		}
	})
}

func FuzzNewInput(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","id":"e1","source":"/shop/eu","type":"order.placed","subject":"o-1","data":{"total":1200}}`))
	f.Add([]byte(`{"type":"t","datacontenttype":"application/cloudevents+json","data_base64":"eyJ0b3RhbCI6IDEwMDAuNX0="}`))
	f.Add([]byte(`{"type":"t","datacontenttype":"text/plain","data_base64":"AAE=","sequence":3,"flag":false}`))
	f.Add([]byte(`{"type":"t","data":[1e400, -0, 18446744073709551616, "x", {"a": null}]}`))
	c, err := Compile(&Flow{Name: "fuzz", On: Trigger{Type: "*", When: "has(event.data.total) && event.data.total > 1000"}, Steps: []Step{
		{ID: "s", Emit: &EmitStep{Type: "x", Data: "event", Subject: "event.subject"}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if fast, ok := decodeTop(data); ok {
			strict, sok := strictTop(data)
			if !sok {
				t.Fatalf("the fast decoder took %q, the strict one refuses it", data)
			}
			if !reflect.DeepEqual(fast, strict) {
				t.Fatalf("%q decoded as %#v, strictly as %#v", data, fast, strict)
			}
		}
		in, err := NewInput(data)
		if err != nil {
			return
		}
		if in.Type() == "" {
			t.Fatal("an input without a type")
		}
		_, _ = c.Matches(in)
		_ = c.Explain(in)
		_, _ = c.EmitData(0, in, nil)
		_, _ = c.EmitSubject(0, in, nil)
	})
}

// strictTop is NewInput's decoding through encoding/json, the reference
// the fast decoder must agree with.
func strictTop(b []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top map[string]any
	if dec.Decode(&top) != nil || top == nil || dec.More() {
		return nil, false
	}
	if d, ok := top["data"]; ok {
		top["data"] = fromJSON(d)
	}
	return top, true
}
