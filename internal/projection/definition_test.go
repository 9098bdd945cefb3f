package projection

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/flow"
)

// ordersYAML is the example.
const ordersYAML = `kind: projection                           # optional: key without steps means a projection
name: orders
description: optional
key: event.subject
initial: '{"status": "new", "total": 0, "items": 0}'
on:
  order.placed:  'state.with({"status": "placed", "total": event.data.total})'
  order.item_added: 'state.with({"items": state.items + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`

const ordersJSON = `{"indexes":["status"],"name":"orders","description":"optional","key":"event.subject",
 "initial":"{\"status\": \"new\", \"total\": 0, \"items\": 0}",
 "on":{"order.shipped":"state.with({\"status\": \"shipped\"})",
       "order.item_added":"state.with({\"items\": state.items + 1})",
       "order.placed":"state.with({\"status\": \"placed\", \"total\": event.data.total})"}}`

func TestDefinitionParse(t *testing.T) {
	t.Parallel()
	d, err := ParseDefinition("orders.yaml", []byte(ordersYAML))
	require.NoError(t, err)
	require.Equal(t, "orders", d.Name)
	require.Equal(t, "optional", d.Description)
	require.Equal(t, "event.subject", d.Key)
	require.Equal(t, `{"status": "new", "total": 0, "items": 0}`, d.Initial)
	require.Equal(t, []string{"status"}, d.Indexes)
	require.Len(t, d.On, 3)
	require.Equal(t, `state.with({"status": "shipped"})`, d.On["order.shipped"])
	require.Equal(t, "orders.yaml", d.File)
	require.Equal(t, 1, d.Line)

	j, err := ParseDefinition("orders.json", []byte(ordersJSON))
	require.NoError(t, err)
	require.Equal(t, string(d.Canonical()), string(j.Canonical()), "YAML and JSON of one projection have one canonical form")
	require.Equal(t, d.Hash(), j.Hash())

	back, err := ParseCanonical(d.Canonical())
	require.NoError(t, err)
	require.Equal(t, string(d.Canonical()), string(back.Canonical()))
	require.Equal(t, d.Hash(), back.Hash())
}

func TestDefinitionCanonical(t *testing.T) {
	t.Parallel()
	a := &Definition{Name: "p", Key: "event.subject", On: map[string]string{"a": "state"}, Indexes: []string{"b", "a"}}
	b := &Definition{Name: "p", Key: "event.subject", Initial: "{}", On: map[string]string{"a": "state"}, Indexes: []string{"a", "b"}}
	require.Equal(t, string(a.Canonical()), string(b.Canonical()), "defaults filled in and indexes sorted")
	require.Equal(t, `{"kind":"projection","name":"p","key":"event.subject","initial":"{}","on":{"a":"state"},"indexes":["a","b"]}`, string(a.Canonical()))
	c := &Definition{Name: "p", Key: "event.subject", On: map[string]string{"a": "state.with({})"}}
	require.NotEqual(t, a.Hash(), c.Hash())
	require.Equal(t, []string{"b", "a"}, a.Indexes, "Canonical does not reorder the definition")

	_, err := ParseCanonical([]byte(`{"kind":"projection","name":"p","key":"k","initial":"{}","on":{"a":"s"},"extra":1}`))
	require.Error(t, err)
	_, err = ParseCanonical([]byte(`{"kind":"flow","name":"p","key":"k","on":{"a":"s"}}`))
	require.Error(t, err)
	_, err = ParseCanonical([]byte(`{"kind":"projection","name":"P","key":"k","on":{"a":"s"}}`))
	var fe *flow.Error
	require.ErrorAs(t, err, &fe)
}

func TestDefinitionFromDocument(t *testing.T) {
	t.Parallel()
	src := "kind: flow\nname: f\non: {type: a}\nsteps: [{id: s, emit: {type: b}}]\n---\n" + ordersYAML
	docs, err := flow.ParseFile("all.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, docs, 2)
	d, err := FromDocument(docs[1])
	require.NoError(t, err)
	require.Equal(t, "orders", d.Name)
	require.Equal(t, "all.yaml", d.File)
	require.Equal(t, 6, d.Line)
	want, err := ParseDefinition("orders.yaml", []byte(ordersYAML))
	require.NoError(t, err)
	require.Equal(t, want.Hash(), d.Hash())

	_, err = FromDocument(docs[0])
	requireProblem(t, err, problem{line: 1, path: "kind", msg: "expected a projection"})

	// A document keeps no positions: problems go to its first line.
	docs, err = flow.ParseFile("bad.yaml", []byte("kind: flow\nname: f\non: {type: a}\nsteps: [{id: s, emit: {type: b}}]\n---\nkind: projection\nname: p\nkey: event.subject\n"))
	require.NoError(t, err)
	_, err = FromDocument(docs[1])
	requireProblem(t, err, problem{file: "bad.yaml", line: 6, col: 1, path: "on", msg: "at least one entry"})
}

type problem struct {
	file      string
	line, col int // 0: not checked
	path      string
	msg       string // a part of the message
}

// requireProblem checks that err is a *flow.Error holding a problem like p.
func requireProblem(t *testing.T, err error, p problem) {
	t.Helper()
	var fe *flow.Error
	require.True(t, errors.As(err, &fe), "want a *flow.Error, got %v", err)
	for _, got := range fe.Problems {
		if got.Path == p.path && strings.Contains(got.Message, p.msg) &&
			(p.line == 0 || got.Line == p.line) && (p.col == 0 || got.Column == p.col) &&
			(p.file == "" || got.File == p.file) {
			return
		}
	}
	t.Fatalf("no problem like %+v in:\n%v", p, err)
}

func TestDefinitionProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []problem
	}{
		{"missing key", "kind: projection\nname: p\non:\n  a: state\n",
			[]problem{{file: "p.yaml", line: 1, col: 1, path: "key", msg: "key is required"}}},
		{"missing name", "key: event.subject\non: {a: state}\n",
			[]problem{{line: 1, col: 1, path: "name", msg: "name is required"}}},
		{"bad name", "name: Orders_1\nkey: event.subject\non: {a: state}\n",
			[]problem{{line: 1, col: 7, path: "name", msg: `name "Orders_1" is not valid`}}},
		{"unknown field", "name: p\nkey: event.subject\non: {a: state}\nindex: [status]\n",
			[]problem{{line: 4, col: 1, path: "index", msg: "unknown field `index`"}}},
		{"on empty", "name: p\nkey: event.subject\non: {}\n",
			[]problem{{line: 3, col: 5, path: "on", msg: "at least one entry"}}},
		{"on missing", "name: p\nkey: event.subject\n",
			[]problem{{line: 1, col: 1, path: "on", msg: "at least one entry"}}},
		{"on not a map", "name: p\nkey: event.subject\non: [a]\n",
			[]problem{{line: 3, col: 5, path: "on", msg: "must be a mapping"}}},
		{"on entry without expression", "name: p\nkey: event.subject\non:\n  order.placed:\n",
			[]problem{{line: 4, col: 3, path: `on["order.placed"]`, msg: "no expression"}}},
		{"on entry not a string", "name: p\nkey: event.subject\non:\n  order.placed: {status: x}\n",
			[]problem{{line: 4, col: 17, path: `on["order.placed"]`, msg: "not a mapping"}}},
		{"key not a string", "name: p\nkey: [event.subject]\non: {a: state}\n",
			[]problem{{line: 2, col: 6, path: "key", msg: "must be a string"}}},
		{"initial as a mapping", "name: p\nkey: event.subject\ninitial: {status: new}\non: {a: state}\n",
			[]problem{{line: 3, col: 10, path: "initial", msg: "must be a string"}}},
		{"bad index name", "name: p\nkey: event.subject\non: {a: state}\nindexes:\n  - status\n  - customer.id\n",
			[]problem{{line: 6, col: 5, path: "indexes[1]", msg: "not a top-level state field"}}},
		{"duplicate index", "name: p\nkey: event.subject\non: {a: state}\nindexes: [status, status]\n",
			[]problem{{line: 4, col: 19, path: "indexes[1]", msg: "already listed"}}},
		{"index not a string", "name: p\nkey: event.subject\non: {a: state}\nindexes: [1]\n",
			[]problem{{line: 4, col: 11, path: "indexes[0]", msg: "not the number 1"}}},
		{"indexes not a list", "name: p\nkey: event.subject\non: {a: state}\nindexes: status\n",
			[]problem{{line: 4, col: 10, path: "indexes", msg: "must be a list"}}},
		{"wrong kind", "kind: projection\nname: p\nkey: event.subject\non: {a: state}\n---\nkind: projection\nname: q\nkey: event.subject\non: {a: state}\n",
			[]problem{{line: 6, path: "", msg: "exactly one projection"}}},
		{"a flow", "name: f\non: {type: a}\nsteps: [{id: s, emit: {type: b}}]\n",
			[]problem{{line: 1, path: "kind", msg: "expected a projection"}}},
		{"syntax", "name: p\nkey: [\n",
			[]problem{{path: "", msg: "syntax"}}},
		{"json positions", `{"name": "p", "key": "event.subject", "on": {"a": 1}}`,
			[]problem{{line: 1, col: 51, path: `on["a"]`, msg: "not the number 1"}}},
		{"every problem at once", "kind: projection\nname: P\non: {}\nindexes: [a.b]\nextra: 1\n",
			[]problem{
				{line: 2, path: "name", msg: "not valid"},
				{line: 1, path: "key", msg: "required"},
				{line: 3, path: "on", msg: "at least one"},
				{line: 4, path: "indexes[0]", msg: "top-level"},
				{line: 5, path: "extra", msg: "unknown field"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDefinition("p.yaml", []byte(tt.src))
			require.Error(t, err)
			for _, p := range tt.want {
				requireProblem(t, err, p)
			}
		})
	}
}

func FuzzParseDefinition(f *testing.F) {
	f.Add([]byte(ordersYAML))
	f.Add([]byte(ordersJSON))
	f.Add([]byte("name: p\nkey: event.subject\non:\n  'order.*': |\n    state.with({\n      \"n\": state.get(\"n\", 0) + 1})\n"))
	f.Add([]byte("name: p\nkey: event.subject\non: {a: state}\nindexes: [a, a, 'b.c', 1]\nx: &a 1\ny: *a\n"))
	f.Add([]byte("key: 1\non: [1]\n---\nname: q\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDefinition("fuzz.yaml", data)
		if err != nil {
			var fe *flow.Error
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("error is not a *flow.Error with problems: %v", err)
			}
			return
		}
		back, err := ParseCanonical(d.Canonical())
		if err != nil {
			t.Fatalf("ParseCanonical(Canonical()): %v\n%s", err, d.Canonical())
		}
		if back.Hash() != d.Hash() {
			t.Fatalf("hash changed through the canonical form:\n%s\n%s", d.Canonical(), back.Canonical())
		}
		r, err := Compile(d)
		if err != nil {
			var fe *flow.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile error is not a *flow.Error: %v", err)
			}
			return
		}
		for typ := range d.On {
			if !strings.Contains(typ, "*") && !r.Handles(typ) {
				t.Fatalf("does not handle its own type %q", typ)
			}
		}
	})
}
