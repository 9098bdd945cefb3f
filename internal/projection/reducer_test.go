package projection

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/flow"
)

// ev is a CloudEvent as Ensue stores it.
func ev(typ, subject, data string) []byte {
	s := `{"specversion":"1.0","id":"` + typ + `-` + subject + `","source":"/test","type":"` + typ + `"`
	if subject != "" {
		s += `,"subject":"` + subject + `"`
	}
	if data != "" {
		s += `,"data":` + data
	}
	return []byte(s + "}")
}

func compileYAML(t testing.TB, src string) *Reducer {
	t.Helper()
	d, err := ParseDefinition("p.yaml", []byte(src))
	require.NoError(t, err)
	r, err := Compile(d)
	require.NoError(t, err)
	return r
}

func TestReducerExample(t *testing.T) {
	t.Parallel()
	r := compileYAML(t, ordersYAML)
	require.Equal(t, `{"items":0,"status":"new","total":0}`, string(r.Initial()))
	docs, err := Fold(r, [][]byte{
		ev("order.placed", "o-1", `{"total": 1250}`),
		ev("order.item_added", "o-1", `{}`),
		ev("order.item_added", "o-1", `{}`),
		ev("order.shipped", "o-1", ``),
		ev("customer.created", "c-1", `{}`), // not handled
	})
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"o-1": []byte(`{"items":2,"status":"shipped","total":1250}`)}, docs)
}

func TestReducerApply(t *testing.T) {
	t.Parallel()
	r := compileYAML(t, `name: p
key: 'has(event.data.id) ? event.data.id : null'
initial: '{"n": 0, "sum": 0.0, "tags": [], "seen": {}}'
on:
  a: 'state.with({"n": state.n + 1, "sum": state.sum + event.data.x})'
  b: 'state.with({"last": state.get("last", "none") + "," + event.data.id, "seen": state.seen.with({event.data.id: true})})'
  "c.*": 'state.with({"glob": "c.*"})'
  "c.long*": 'state.with({"glob": "c.long*"})'
  "*": 'state.with({"glob": "*"})'
  html: 'state.with({"s": "<a&b>", "big": 9007199254740993, "exp": 1e300, "t": timestamp("2024-01-02T03:04:05Z"), "b": b"hi"})'
`)
	apply := func(state []byte, typ, data string) string {
		t.Helper()
		out, err := r.Apply(state, ev(typ, "", data))
		require.NoError(t, err)
		return string(out)
	}
	// Integral numbers stay int, doubles stay doubles, even when integral.
	s := apply(nil, "a", `{"id": "x", "x": 1.5}`)
	require.Equal(t, `{"n":1,"seen":{},"sum":1.5,"tags":[]}`, s)
	s = apply([]byte(s), "a", `{"id": "x", "x": 0.5}`)
	require.Equal(t, `{"n":2,"seen":{},"sum":2.0,"tags":[]}`, s)
	s = apply([]byte(s), "a", `{"id": "x", "x": 1.0}`)
	require.Equal(t, `{"n":3,"seen":{},"sum":3.0,"tags":[]}`, s)
	_, err := r.Apply([]byte(s), ev("a", "", `{"x": 1}`))
	require.ErrorContains(t, err, "no such overload", "CEL does not add a double and an int: integral JSON numbers are ints")

	s = apply(nil, "b", `{"id": "y"}`)
	require.Equal(t, `{"last":"none,y","n":0,"seen":{"y":true},"sum":0.0,"tags":[]}`, s)

	// Exact, then the most specific glob.
	require.Contains(t, apply(nil, "c.x", `{}`), `"glob":"c.*"`)
	require.Contains(t, apply(nil, "c.longer", `{}`), `"glob":"c.long*"`)
	require.Contains(t, apply(nil, "zzz", `{}`), `"glob":"*"`)
	require.True(t, r.Handles("anything"))

	require.Equal(t, `{"b":"aGk=","big":9007199254740993,"exp":1e+300,"n":0,"s":"<a&b>","seen":{},"sum":0.0,"t":"2024-01-02T03:04:05Z","tags":[]}`,
		apply(nil, "html", `{}`))

	key, err := r.Key(ev("a", "", `{"id": "k-1"}`))
	require.NoError(t, err)
	require.Equal(t, "k-1", key)
	key, err = r.Key(ev("a", "", `{}`))
	require.NoError(t, err)
	require.Equal(t, "", key, "null key: the event updates no document")
}

func TestReducerApplyErrors(t *testing.T) {
	t.Parallel()
	r := compileYAML(t, `name: p
key: event.subject
on:
  list: 'dyn([1, 2])'
  fail: 'state.with({"x": event.data.missing})'
  div: 'state.with({"x": 1 / event.data.zero})'
  nan: 'state.with({"x": 0.0 / 0.0})'
  grow: 'state.with({"l": state.get("l", "") + event.data.s})'
  loop: 'state.with({"x": event.data.l.map(a, event.data.l.map(b, event.data.l.map(c, a + b + c)))})'
  int_key: 'dyn({1: 2})'
`)
	tests := []struct {
		typ, data string
		msg       string
	}{
		{"list", `{}`, "produced list, not a map"},
		{"fail", `{}`, "no such key"},
		{"div", `{"zero": 0}`, "division by zero"},
		{"nan", `{}`, "cannot be represented in JSON"},
		{"int_key", `{}`, "string keys"},
	}
	for _, tt := range tests {
		_, err := r.Apply(nil, ev(tt.typ, "s", tt.data))
		var ee *EvalError
		require.ErrorAs(t, err, &ee, tt.typ)
		require.Equal(t, `on["`+tt.typ+`"]`, ee.Path)
		require.Equal(t, "p", ee.Projection)
		require.ErrorContains(t, err, tt.msg)
		require.ErrorContains(t, err, `projection p: on["`+tt.typ+`"] failed on event "`+tt.typ+`-s"`)
	}

	_, err := r.Apply(nil, ev("other", "s", `{}`))
	require.ErrorIs(t, err, ErrNotHandled)
	key, err := r.Key(ev("other", "s", `{}`))
	require.NoError(t, err)
	require.Equal(t, "", key)

	_, err = r.Apply([]byte(`[1]`), ev("fail", "s", `{}`))
	require.ErrorContains(t, err, "must be a JSON object")
	_, err = r.Apply([]byte(`{"a":1},"type":"x"`), ev("fail", "s", `{}`))
	require.ErrorContains(t, err, "not valid JSON")
	_, err = r.Apply(nil, []byte(`{"id":"1"}`))
	require.ErrorContains(t, err, "no type")

	// A state grows until the limit, then the update fails.
	big := `"` + strings.Repeat("a", MaxStateSize/2) + `"`
	state, err := r.Apply(nil, ev("grow", "s", `{"s": `+big+`}`))
	require.NoError(t, err)
	_, err = r.Apply(state, ev("grow", "s", `{"s": `+big+`}`))
	require.ErrorContains(t, err, "more than the limit")

	// The cost limit stops a runaway expression.
	list := "["
	for i := range 300 {
		if i > 0 {
			list += ","
		}
		list += strconv.Itoa(i)
	}
	_, err = r.Apply(nil, ev("loop", "s", `{"l": `+list+`]}`))
	require.ErrorContains(t, err, "cost limit")

	rk := compileYAML(t, "name: p\nkey: event.data.id\non: {a: state}\n")
	_, err = rk.Key(ev("a", "", `{"id": 7}`))
	var ee *EvalError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "key", ee.Path)
	require.ErrorContains(t, err, "not a string")
}

func TestReducerCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want problem
	}{
		{"bad CEL", "name: p\nkey: event.subject\non:\n  order.placed: 'state.with({\"x\": evnt.data})'\n",
			problem{file: "p.yaml", line: 4, col: 17, path: `on["order.placed"]`, msg: "undeclared reference to 'evnt' (did you mean 'event'?) (expression line 1, column 18)"}},
		{"syntax", "name: p\nkey: event.subject\non:\n  a: 'state.with({'\n",
			problem{line: 4, col: 6, path: `on["a"]`, msg: "Syntax error"}},
		{"block scalar", "name: p\nkey: event.subject\non:\n  a: |\n    state.with({\n      \"x\": nope})\n",
			problem{line: 4, col: 6, path: `on["a"]`, msg: "undeclared reference to 'nope' (expression line 2, column 8; file line 6)"}},
		{"not a map", "name: p\nkey: event.subject\non:\n  a: 'state.n + 1'\n",
			problem{line: 4, path: `on["a"]`, msg: "must produce the state"}},
		{"int keys", "name: p\nkey: event.subject\non:\n  a: '{1: 2}'\n",
			problem{line: 4, path: `on["a"]`, msg: "map(int, int)"}},
		{"key not a string", "name: p\nkey: event.data.id + 1\non: {a: state}\n",
			problem{line: 2, col: 6, path: "key", msg: "key must produce a string"}},
		{"key without state", "name: p\nkey: state.id\non: {a: state}\n",
			problem{line: 2, path: "key", msg: "undeclared reference to 'state'"}},
		{"initial not a map", "name: p\nkey: event.subject\ninitial: '[]'\non: {a: state}\n",
			problem{line: 3, col: 10, path: "initial", msg: "must produce the state"}},
		{"initial without event", "name: p\nkey: event.subject\ninitial: '{\"id\": event.id}'\non: {a: state}\n",
			problem{line: 3, path: "initial", msg: "undeclared reference to 'event'"}},
		{"initial fails", "name: p\nkey: event.subject\ninitial: '{\"x\": 1 / 0}'\non: {a: state}\n",
			problem{line: 3, path: "initial", msg: "division by zero"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseDefinition("p.yaml", []byte(tt.src))
			require.NoError(t, err)
			_, err = Compile(d)
			requireProblem(t, err, tt.want)
		})
	}

	// A definition built in Go is validated too, without positions.
	_, err := Compile(&Definition{Name: "p", On: map[string]string{"a": "state"}})
	requireProblem(t, err, problem{path: "key", msg: "required"})
}

// TestReducerFoldRandom folds seeded random histories and checks Fold
// against a model written in Go, and against folding each document's own
// events alone: a document depends on its events only, in their order.
func TestReducerFoldRandom(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	r := compileYAML(t, `name: accounts
key: event.subject
initial: '{"balance": 0, "ops": 0, "closed": false, "rate": 0.0}'
on:
  account.deposited: 'state.closed ? state : state.with({"balance": state.balance + event.data.amount, "ops": state.ops + 1})'
  account.withdrawn: 'state.closed || state.balance < event.data.amount ? state : state.with({"balance": state.balance - event.data.amount, "ops": state.ops + 1})'
  account.rated: 'state.with({"rate": event.data.rate})'
  account.closed: 'state.with({"closed": true})'
  audit.*: 'state.with({"audited": state.get("audited", 0) + 1})'
`)
	type account struct {
		balance, ops, audited int64
		closed                bool
		rate                  float64
	}
	for round := range 20 {
		n := rng.IntN(200)
		model := map[string]*account{}
		events := make([][]byte, 0, n)
		perKey := map[string][][]byte{}
		for range n {
			key := fmt.Sprintf("acc-%d", rng.IntN(5))
			a := model[key]
			if a == nil {
				a = &account{}
			}
			var e []byte
			switch rng.IntN(7) {
			case 0, 1:
				amt := rng.Int64N(100)
				e = ev("account.deposited", key, fmt.Sprintf(`{"amount": %d}`, amt))
				if !a.closed {
					a.balance += amt
					a.ops++
				}
			case 2, 3:
				amt := rng.Int64N(100)
				e = ev("account.withdrawn", key, fmt.Sprintf(`{"amount": %d}`, amt))
				if !a.closed && a.balance >= amt {
					a.balance -= amt
					a.ops++
				}
			case 4:
				rate := float64(rng.IntN(8)) / 4 // 0.0, 0.25, ... 1.75: integral ones too
				e = ev("account.rated", key, fmt.Sprintf(`{"rate": %s}`, strconv.FormatFloat(rate, 'f', 2, 64)))
				a.rate = rate
			case 5:
				if rng.IntN(4) == 0 {
					e = ev("account.closed", key, "")
					a.closed = true
				} else {
					e = ev("audit.checked", key, "")
					a.audited++
				}
			default:
				e = ev("account.viewed", key, "") // not handled
				if model[key] == nil {
					key = ""
				}
			}
			if key != "" {
				model[key] = a
				perKey[key] = append(perKey[key], e)
			}
			events = append(events, e)
		}
		docs, err := Fold(r, events)
		require.NoError(t, err, "seed %d round %d", seed, round)
		want := map[string][]byte{}
		for key, a := range model {
			s := fmt.Sprintf(`{"balance":%d,"closed":%t,"ops":%d,"rate":%s}`, a.balance, a.closed, a.ops, strconv.FormatFloat(a.rate, 'f', -1, 64))
			if a.rate == float64(int64(a.rate)) {
				s = fmt.Sprintf(`{"balance":%d,"closed":%t,"ops":%d,"rate":%.1f}`, a.balance, a.closed, a.ops, a.rate)
			}
			if a.audited > 0 {
				s = fmt.Sprintf(`{"audited":%d,`, a.audited) + s[1:]
			}
			want[key] = []byte(s)
		}
		require.Equal(t, stringMap(want), stringMap(docs), "seed %d round %d", seed, round)
		for key, evs := range perKey {
			alone, err := Fold(r, evs)
			require.NoError(t, err)
			require.Equal(t, string(docs[key]), string(alone[key]), "seed %d round %d key %s", seed, round, key)
		}
	}
}

func stringMap(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func TestReducerConcurrent(t *testing.T) {
	t.Parallel()
	r := compileYAML(t, ordersYAML)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			key := fmt.Sprintf("o-%d", i)
			docs, err := Fold(r, [][]byte{
				ev("order.placed", key, `{"total": 10}`),
				ev("order.item_added", key, `{}`),
			})
			if err == nil && string(docs[key]) != `{"items":1,"status":"placed","total":10}` {
				err = fmt.Errorf("%s: %s", key, docs[key])
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestReducerKeyOfInput(t *testing.T) {
	t.Parallel()
	r := compileYAML(t, ordersYAML)
	in, err := flow.NewInput(ev("order.placed", "o-9", `{"total": 5}`))
	require.NoError(t, err)
	key, err := r.KeyOf(in)
	require.NoError(t, err)
	require.Equal(t, "o-9", key)
	out, err := r.ApplyInput(nil, in)
	require.NoError(t, err)
	require.Equal(t, `{"items":0,"status":"placed","total":5}`, string(out))
	require.False(t, errors.Is(err, ErrNotHandled))
}

func TestReducerCompileBytesKeys(t *testing.T) {
	t.Parallel()
	d, err := ParseDefinition("p.yaml", []byte("name: p\nkey: event.subject\ninitial: '{\"a\": 1, b\"x\": 0}'\non:\n  a: 'dyn({b\"k\" + b\"\": 1})'\n  b: 'state.get(dyn(b\"x\"), 0) == 0 ? state : state'\n"))
	require.NoError(t, err)
	_, err = Compile(d)
	requireProblem(t, err, problem{line: 3, path: "initial", msg: "cannot plan"})
	d.Initial = "{}"
	r, err := Compile(d)
	require.NoError(t, err)
	_, err = r.Apply(nil, ev("a", "s", `{}`))
	require.Error(t, err, "a map with bytes keys fails the evaluation, not the process")
	_, err = r.Apply(nil, ev("b", "s", `{}`))
	require.Error(t, err)
}
