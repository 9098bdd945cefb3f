package projection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"

	"github.com/ensue-dev/ensue/internal/flow"
)

// Limits on reducers: a definition is user input, and one event must not
// stall the engine nor grow a document without bound.
const (
	maxExprSize = 16 << 10 // code points, as for flows
	// costLimit bounds the work of one evaluation (CEL's cost units, about
	// one per operation; `with` costs the size of both maps).
	costLimit = 10_000_000
	// MaxStateSize bounds a document's state as canonical JSON: a reducer
	// that appends every event to a list fails here rather than slowing
	// every later update of that document.
	MaxStateSize = 1 << 20
)

// ErrNotHandled is returned by Apply for an event whose type no `on` entry
// matches; Key returns "" for it.
var ErrNotHandled = errors.New("projection: no `on` entry handles the event's type")

// EvalError is an expression of a projection failing on an event at run
// time (a CEL error, or a result of the wrong kind). The engine records it
// against the projection; the event and the definition are what to look at.
type EvalError struct {
	Projection string
	Path       string // "key" or on["<type>"], as in definition problems
	EventType  string
	EventID    string
	Err        error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("projection %s: %s failed on event %q (type %s): %v", e.Projection, e.Path, e.EventID, e.EventType, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Overload ids of the helpers, for cost tracking.
const (
	overloadWith = "projection_map_with_map"
	overloadGet  = "projection_map_get_string_dyn"
)

var stateType = cel.MapType(cel.StringType, cel.DynType)

// envs holds the CEL environments, built once: `initial` sees no variable
// (it is evaluated once, at Compile), `key` sees event, `on` entries see
// event and state.
type envs struct{ initial, key, on *cel.Env }

var celEnvs = sync.OnceValues(func() (envs, error) {
	base, err := cel.NewEnv(
		ext.Strings(),
		ext.Encoders(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprSize),
		cel.Function("with", cel.MemberOverload(overloadWith,
			[]*cel.Type{stateType, stateType}, stateType, cel.BinaryBinding(with))),
		cel.Function("get", cel.MemberOverload(overloadGet,
			[]*cel.Type{stateType, cel.StringType, cel.DynType}, cel.DynType, cel.FunctionBinding(get))),
	)
	if err != nil {
		return envs{}, err
	}
	event := cel.Variable("event", cel.MapType(cel.StringType, cel.DynType))
	key, err := base.Extend(event)
	if err != nil {
		return envs{}, err
	}
	on, err := key.Extend(cel.Variable("state", stateType))
	if err != nil {
		return envs{}, err
	}
	return envs{initial: base, key: key, on: on}, nil
})

// with is state.with(m): state with the entries of m set, a shallow merge
// (a nested map in m replaces the one in state, it is not merged into it).
func with(lhs, rhs ref.Val) ref.Val {
	a, ok1 := lhs.(traits.Mapper)
	b, ok2 := rhs.(traits.Mapper)
	if !ok1 || !ok2 {
		return types.MaybeNoSuchOverloadErr(rhs)
	}
	out := make(map[ref.Val]ref.Val, mapSize(a)+mapSize(b))
	for _, m := range []traits.Mapper{a, b} {
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if _, ok := k.(types.String); !ok {
				return types.NewErr("with: map keys must be strings, not %s", k.Type().TypeName())
			}
			out[k] = m.Get(k)
		}
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}

// get is state.get(key, default): the value at key, or default when the
// map has no such key.
func get(args ...ref.Val) ref.Val {
	m, ok := args[0].(traits.Mapper)
	if !ok {
		return types.MaybeNoSuchOverloadErr(args[0])
	}
	if _, ok := args[1].(types.String); !ok {
		return types.MaybeNoSuchOverloadErr(args[1])
	}
	if v, found := m.Find(args[1]); found {
		return v
	}
	return args[2]
}

func mapSize(m traits.Mapper) int {
	if n, ok := m.Size().(types.Int); ok {
		return int(n)
	}
	return 0
}

// withCost charges `with` for the entries it copies.
func withCost(args []ref.Val, _ ref.Val) *uint64 {
	var n uint64 = 1
	for _, a := range args {
		if m, ok := a.(traits.Mapper); ok {
			n += uint64(mapSize(m))
		}
	}
	return &n
}

// Reducer is a compiled projection: it tells which document an event
// updates and folds the event into it. It is immutable and safe for
// concurrent use.
type Reducer struct {
	def     *Definition // with defaults; not modified after Compile
	hash    string
	key     cel.Program
	initial []byte  // canonical JSON
	state0  ref.Val // initial, as CEL sees it
	exact   map[string]*entry
	globs   []*entry // most specific first: longest pattern, then by text
}

type entry struct {
	typ  string // as written in on
	path string
	prog cel.Program
}

// Compile validates d and compiles its CEL: key must produce a string (or
// null), initial and each `on` entry a map with string keys; initial is
// evaluated here, so its errors are compile errors too. Errors are
// *flow.Error naming the file, line, column and path of each problem, and
// CEL's message.
func Compile(d *Definition) (*Reducer, error) {
	e, err := celEnvs()
	if err != nil {
		return nil, fmt.Errorf("projection: CEL environment: %w", err)
	}
	g := d.clone()
	if g.Initial == "" {
		g.Initial = DefaultInitial
	}
	ps := &problems{d: g}
	validate(g, ps)
	r := &Reducer{def: g, hash: g.Hash(), exact: map[string]*entry{}}
	c := exprCompiler{d: g, ps: ps}
	if g.Key != "" {
		r.key = c.compile(e.key, "key", g.Key, func(t *cel.Type) string {
			if t.IsExactType(cel.StringType) || t.IsExactType(cel.DynType) || t.IsExactType(cel.NullType) {
				return ""
			}
			return fmt.Sprintf("key must produce a string (the document's id), but produces %s; convert it with string(...)", t)
		})
	}
	if p := c.compile(e.initial, "initial", g.Initial, mapResult); p != nil {
		out, _, err := p.Eval(cel.NoVars())
		if err == nil {
			r.initial, err = encodeState(out)
		}
		if err == nil {
			r.state0, err = decodeState(r.initial)
		}
		if err != nil {
			ps.add("initial", "%v", err)
		}
	}
	for _, typ := range sortedKeys(g.On) {
		path := onPath(typ)
		ent := &entry{typ: typ, path: path}
		if ent.prog = c.compile(e.on, path, g.On[typ], mapResult); ent.prog == nil {
			continue
		}
		if strings.Contains(typ, "*") {
			r.globs = append(r.globs, ent)
		} else {
			r.exact[typ] = ent
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	sort.SliceStable(r.globs, func(i, j int) bool {
		a, b := r.globs[i].typ, r.globs[j].typ
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	return r, nil
}

func mapResult(t *cel.Type) string {
	if t.IsExactType(cel.DynType) {
		return ""
	}
	if t.Kind() == types.MapKind {
		if k := t.Parameters()[0]; k.IsExactType(cel.StringType) || k.IsExactType(cel.DynType) {
			return ""
		}
	}
	return fmt.Sprintf("must produce the state, a map with string keys such as state.with({\"status\": \"placed\"}), but produces %s", t)
}

type exprCompiler struct {
	d  *Definition
	ps *problems
}

// compile parses, checks and plans src; check returns what is wrong with
// the output type, or "". It returns nil after recording problems.
func (c exprCompiler) compile(env *cel.Env, path, src string, check func(*cel.Type) string) (prog cel.Program) {
	a, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			c.add(path, e.Location.Line(), e.Location.Column(), "%s", e.Message)
		}
		return nil
	}
	if msg := check(a.OutputType()); msg != "" {
		c.add(path, 0, 0, "%s", msg)
		return nil
	}
	// Planning can panic on what the checker accepts (cel-go v0.33.2 hashes
	// the keys of a constant map literal, and b"x" keys are not hashable);
	// evaluation recovers on its own, planning does not.
	defer func() {
		if r := recover(); r != nil {
			c.add(path, 0, 0, "CEL cannot plan this expression (%v); map keys must be strings, ints, uints or bools", r)
			prog = nil
		}
	}()
	p, err := env.Program(a,
		cel.CostLimit(costLimit),
		cel.CostTrackerOptions(cost.OverloadTracker(overloadWith, withCost)),
		cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		c.add(path, 0, 0, "%v", err)
		return nil
	}
	return p
}

// add places a problem of the expression at path: at the expression in the
// file, with CEL's own line and column (1-based line, 0-based column) in
// the message, since an expression's columns do not map onto the file when
// it is quoted or escaped.
func (c exprCompiler) add(path string, line, col int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		w := c.d.at(path)
		if w.block && w.line > 0 {
			msg = fmt.Sprintf("%s (expression line %d, column %d; file line %d)", msg, line, col+1, w.line+line)
		} else {
			msg = fmt.Sprintf("%s (expression line %d, column %d)", msg, line, col+1)
		}
	}
	c.ps.add(path, "%s", msg)
}

// Definition returns the compiled definition, with its defaults; do not
// modify it.
func (r *Reducer) Definition() *Definition { return r.def }

// Name is the projection's name.
func (r *Reducer) Name() string { return r.def.Name }

// Hash is the definition's Hash.
func (r *Reducer) Hash() string { return r.hash }

// Initial returns the state a document starts from, as canonical JSON.
func (r *Reducer) Initial() []byte { return bytes.Clone(r.initial) }

// Handles reports whether an `on` entry matches the event type: an exact
// entry first, then globs.
func (r *Reducer) Handles(eventType string) bool { return r.entry(eventType) != nil }

// entry finds the `on` entry for a type: the exact one, else the most
// specific glob (the longest pattern; equal lengths by text), so that
// order.* handles what order.shipp* does not.
func (r *Reducer) entry(typ string) *entry {
	if e, ok := r.exact[typ]; ok {
		return e
	}
	for _, e := range r.globs {
		if flow.Glob(e.typ, typ) {
			return e
		}
	}
	return nil
}

// Key returns the id of the document the event updates, "" when it updates
// none: no `on` entry handles its type, or key gave "" or null. eventJSON
// is a CloudEvent in JSON as flow.NewInput reads it.
func (r *Reducer) Key(eventJSON []byte) (string, error) {
	in, err := flow.NewInput(eventJSON)
	if err != nil {
		return "", fmt.Errorf("projection %s: %w", r.def.Name, err)
	}
	return r.KeyOf(in)
}

// KeyOf is Key for an event already decoded, so that a caller asking for
// the key and then applying decodes the event once.
func (r *Reducer) KeyOf(in *flow.Input) (string, error) {
	if r.entry(in.Type()) == nil {
		return "", nil
	}
	out, _, err := r.key.Eval(map[string]any{"event": types.DefaultTypeAdapter.NativeToValue(in.Event())})
	if err != nil {
		return "", r.evalErr("key", in, err)
	}
	switch v := out.(type) {
	case types.String:
		return string(v), nil
	case types.Null:
		return "", nil
	default:
		return "", r.evalErr("key", in, fmt.Errorf("produced %s, not a string; convert it with string(...)", out.Type().TypeName()))
	}
}

// Apply folds one event into one document's state and returns the new
// state. A nil or empty state means the document does not exist yet: the
// fold starts from Initial. States are JSON objects; the result is
// canonical JSON (sorted keys, compact; integral numbers stay integers and
// doubles stay doubles, written with a fraction), so equal states are equal
// bytes. An event no entry handles gives ErrNotHandled; a failing
// expression an *EvalError naming the entry.
func (r *Reducer) Apply(state, eventJSON []byte) ([]byte, error) {
	in, err := flow.NewInput(eventJSON)
	if err != nil {
		return nil, fmt.Errorf("projection %s: %w", r.def.Name, err)
	}
	return r.ApplyInput(state, in)
}

// ApplyInput is Apply for an event already decoded.
func (r *Reducer) ApplyInput(state []byte, in *flow.Input) ([]byte, error) {
	e := r.entry(in.Type())
	if e == nil {
		return nil, fmt.Errorf("%w: %s (projection %s)", ErrNotHandled, in.Type(), r.def.Name)
	}
	st := r.state0
	if len(bytes.TrimSpace(state)) > 0 {
		var err error
		if st, err = decodeState(state); err != nil {
			return nil, fmt.Errorf("projection %s: stored state: %w", r.def.Name, err)
		}
	}
	out, _, err := e.prog.Eval(map[string]any{
		"event": types.DefaultTypeAdapter.NativeToValue(in.Event()),
		"state": st,
	})
	if err != nil {
		return nil, r.evalErr(e.path, in, err)
	}
	b, err := encodeState(out)
	if err != nil {
		return nil, r.evalErr(e.path, in, err)
	}
	return b, nil
}

func (r *Reducer) evalErr(path string, in *flow.Input, err error) error {
	return &EvalError{Projection: r.def.Name, Path: path, EventType: in.Type(), EventID: in.ID(), Err: err}
}

// encodeState writes a CEL result as a state: a map with string keys, as
// canonical JSON.
func encodeState(v ref.Val) ([]byte, error) {
	if _, ok := v.(traits.Mapper); !ok {
		if e, isErr := v.(*types.Err); isErr {
			return nil, e
		}
		return nil, fmt.Errorf("produced %s, not a map: the result is the document's whole new state (write state.with({...}) to change some fields)", v.Type().TypeName())
	}
	j, err := flow.JSONValue(v)
	if err != nil {
		return nil, fmt.Errorf("the state cannot be written as JSON: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doubles(j)); err != nil {
		return nil, fmt.Errorf("the state cannot be written as JSON: %w", err)
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if len(out) > MaxStateSize {
		return nil, fmt.Errorf("the state is %d bytes of JSON, more than the limit of %d; keep a document's state bounded (counts and latest values rather than every event)", len(out), MaxStateSize)
	}
	return out, nil
}

// double is a float64 written with a fraction or exponent, so that reading
// the state back gives a double again: 13.0 read as 13 would turn into an
// int, and `state.total + 0.5` would then fail.
type double float64

func (f double) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}

// doubles replaces the float64s of a JSON value by doubles, in place.
func doubles(v any) any {
	switch v := v.(type) {
	case float64:
		return double(v)
	case map[string]any:
		for k, e := range v {
			v[k] = doubles(e)
		}
	case []any:
		for i, e := range v {
			v[i] = doubles(e)
		}
	}
	return v
}

// statePrefix wraps a state as the data of an event, so that flow.NewInput
// decodes it: a number reads the same in state as in event.data (integral
// numbers int, others double), by one rule kept in one place.
const statePrefix = `{"type":"state","data":`

// decodeState reads a state (a JSON object) into the value CEL sees.
func decodeState(state []byte) (ref.Val, error) {
	if !json.Valid(state) { // also keeps the wrapping below from being escaped
		return nil, errors.New("not valid JSON")
	}
	buf := make([]byte, 0, len(statePrefix)+len(state)+1)
	buf = append(append(append(buf, statePrefix...), state...), '}')
	in, err := flow.NewInput(buf)
	if err != nil {
		return nil, err
	}
	m, ok := in.Event()["data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a state must be a JSON object, not %s", strconv.Quote(string(bytes.TrimSpace(state[:min(len(state), 40)]))))
	}
	return types.DefaultTypeAdapter.NativeToValue(m), nil
}

// Fold folds events, in order, into documents by key, as the engine does
// one event at a time: the reference its tests compare against. Events no
// entry handles, or whose key is "", are skipped; the first error stops the
// fold.
func Fold(r *Reducer, events [][]byte) (map[string][]byte, error) {
	docs := map[string][]byte{}
	for i, ev := range events {
		in, err := flow.NewInput(ev)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		key, err := r.KeyOf(in)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		if key == "" {
			continue
		}
		if docs[key], err = r.ApplyInput(docs[key], in); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return docs, nil
}
