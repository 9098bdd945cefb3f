package flow

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	celast "cel.dev/cel-go/common/ast"
)

// Glob reports whether s matches pattern, where `*` matches any run of
// characters (`.` and `/` included) and every other character is literal.
func Glob(pattern, s string) bool {
	// Greedy matching that backtracks only to the last star: linear for
	// the patterns flows use, never exponential.
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			if c := pattern[px]; c == '*' {
				starPx, starSx = px, sx
				px++
				continue
			} else if sx < len(s) && s[sx] == c {
				px++
				sx++
				continue
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// Matches reports whether the flow's trigger matches the event: type glob,
// then source glob, then on.when. An evaluation error of on.when is
// returned with false.
func (c *Compiled) Matches(in *Input) (bool, error) {
	on := &c.Flow.On
	if !Glob(on.Type, in.typ) || (on.Source != "" && !Glob(on.Source, in.source)) {
		return false, nil
	}
	return c.evalWhen(in)
}

func (c *Compiled) evalWhen(in *Input) (bool, error) {
	if c.when == nil {
		return true, nil
	}
	out, _, err := c.when.Eval(in.act)
	if err != nil {
		return false, fmt.Errorf("flow %s: on.when: %w", c.Flow.Name, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("flow %s: on.when produced %s, not a bool", c.Flow.Name, out.Type().TypeName())
	}
	return bool(b), nil
}

// Explanation tells whether a flow would trigger for an event and, if not,
// the first condition that failed and the values it saw.
type Explanation struct {
	Triggered bool    `json:"triggered"`
	Checks    []Check `json:"checks"` // type, source, when, in order; ends at the first that fails
}

// Check is one condition of a trigger. Conditions the flow does not set
// (source, when) are left out.
type Check struct {
	Condition string `json:"condition"` // "type", "source" or "when"
	Expected  string `json:"expected"`  // the glob or the expression
	Actual    any    `json:"actual"`    // the event's type or source, or the value when produced
	Passed    bool   `json:"passed"`
	Error     string `json:"error,omitempty"`
	// Values holds, for when, the value of each event.* selection in the
	// expression (e.g. {"event.data.total": 900}); selections the event
	// does not have are left out.
	Values map[string]any `json:"values,omitempty"`
}

// Explain evaluates the trigger step by step for a person asking why a flow
// did or did not run.
func (c *Compiled) Explain(in *Input) Explanation {
	on := &c.Flow.On
	var x Explanation
	ok := Glob(on.Type, in.typ)
	x.Checks = append(x.Checks, Check{Condition: "type", Expected: on.Type, Actual: in.typ, Passed: ok})
	if !ok {
		return x
	}
	if on.Source != "" {
		ok = Glob(on.Source, in.source)
		x.Checks = append(x.Checks, Check{Condition: "source", Expected: on.Source, Actual: in.source, Passed: ok})
		if !ok {
			return x
		}
	}
	if c.when != nil {
		ch := Check{Condition: "when", Expected: on.When}
		out, _, err := c.when.Eval(in.act)
		switch {
		case err != nil:
			ch.Error = err.Error()
		default:
			if v, err := toJSONValue(out); err == nil {
				ch.Actual = v
			}
			b, isBool := out.(types.Bool)
			if isBool {
				ch.Passed = bool(b)
			} else {
				ch.Error = fmt.Sprintf("on.when produced %s, not a bool", out.Type().TypeName())
			}
		}
		for _, sel := range c.selectors {
			if v, found := sel.lookup(in.event); found {
				if ch.Values == nil {
					ch.Values = map[string]any{}
				}
				ch.Values[sel.text] = v
			}
		}
		x.Checks = append(x.Checks, ch)
		if !ch.Passed {
			return x
		}
	}
	x.Triggered = true
	return x
}

// eventPath is a chain of field selections from `event` written in an
// expression, such as event.data.total or event.data["x-id"].
type eventPath struct {
	text string
	keys []string
}

func (p eventPath) lookup(ev map[string]any) (any, bool) {
	var cur any = ev
	for _, k := range p.keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	if b, ok := cur.([]byte); ok {
		return base64.StdEncoding.EncodeToString(b), true
	}
	return cur, true
}

// eventSelectors lists the longest event.* selections of an expression,
// each once, in the order written.
func eventSelectors(a *cel.Ast) []eventPath {
	var out []eventPath
	seen := map[string]bool{}
	covered := map[int64]bool{}
	var chain func(e celast.Expr) ([]string, []int64, bool)
	chain = func(e celast.Expr) ([]string, []int64, bool) {
		switch e.Kind() {
		case celast.IdentKind:
			return nil, nil, e.AsIdent() == "event"
		case celast.SelectKind:
			s := e.AsSelect()
			keys, ids, ok := chain(s.Operand())
			return append(keys, s.FieldName()), append(ids, e.ID()), ok
		case celast.CallKind:
			call := e.AsCall()
			if call.FunctionName() == "_[_]" && len(call.Args()) == 2 && call.Args()[1].Kind() == celast.LiteralKind {
				if k, ok := call.Args()[1].AsLiteral().(types.String); ok {
					keys, ids, ok := chain(call.Args()[0])
					return append(keys, string(k)), append(ids, e.ID()), ok
				}
			}
		}
		return nil, nil, false
	}
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if covered[e.ID()] {
			return
		}
		keys, ids, ok := chain(e)
		if !ok || len(keys) == 0 {
			return
		}
		for _, id := range ids {
			covered[id] = true
		}
		var b strings.Builder
		b.WriteString("event")
		for _, k := range keys {
			if isIdent(k) {
				b.WriteString("." + k)
			} else {
				b.WriteString("[" + strconv.Quote(k) + "]")
			}
		}
		if t := b.String(); !seen[t] {
			seen[t] = true
			out = append(out, eventPath{text: t, keys: keys})
		}
	}))
	return out
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// ErrNotThisAction is returned when a step evaluation is asked of a step
// whose action does not have that field (HTTPBody of an emit step).
var ErrNotThisAction = errors.New("flow: the step has no such action")

func (c *Compiled) stepProgram(step int, action string) (cel.Program, error) {
	if step < 0 || step >= len(c.steps) {
		return nil, fmt.Errorf("flow %s: no step %d (it has %d)", c.Flow.Name, step, len(c.steps))
	}
	s := c.Flow.Steps[step]
	cs := c.steps[step]
	switch action {
	case "body":
		if s.HTTP == nil {
			return nil, fmt.Errorf("%w: step %s is not an http step", ErrNotThisAction, s.ID)
		}
		return cs.body, nil
	case "data":
		if s.Emit == nil {
			return nil, fmt.Errorf("%w: step %s is not an emit step", ErrNotThisAction, s.ID)
		}
		return cs.data, nil
	default:
		if s.Emit == nil {
			return nil, fmt.Errorf("%w: step %s is not an emit step", ErrNotThisAction, s.ID)
		}
		return cs.subject, nil
	}
}

func (c *Compiled) eval(p cel.Program, step int, what string, in *Input, steps map[string]any) (ref.Val, error) {
	act, err := interpreter.NewActivation(map[string]any{"steps": stepsOrEmpty(steps)})
	if err != nil {
		return nil, err
	}
	out, _, err := p.Eval(interpreter.NewHierarchicalActivation(in.act, act))
	if err != nil {
		return nil, fmt.Errorf("flow %s: steps[%d] (%s) %s: %w", c.Flow.Name, step, c.Flow.Steps[step].ID, what, err)
	}
	return out, nil
}

func stepsOrEmpty(steps map[string]any) map[string]any {
	if steps == nil {
		return map[string]any{}
	}
	return steps
}

// HTTPBody evaluates an http step's body to JSON; nil when it has none.
// steps holds the earlier steps' results: {"<id>": {"output": <any>}}.
func (c *Compiled) HTTPBody(step int, in *Input, steps map[string]any) ([]byte, error) {
	return c.evalJSON(step, "body", "http.body", in, steps)
}

// EmitData evaluates an emit step's data to JSON; nil when it has none.
func (c *Compiled) EmitData(step int, in *Input, steps map[string]any) ([]byte, error) {
	return c.evalJSON(step, "data", "emit.data", in, steps)
}

func (c *Compiled) evalJSON(step int, action, what string, in *Input, steps map[string]any) ([]byte, error) {
	p, err := c.stepProgram(step, action)
	if err != nil || p == nil {
		return nil, err
	}
	out, err := c.eval(p, step, what, in, steps)
	if err != nil {
		return nil, err
	}
	v, err := toJSONValue(out)
	if err != nil {
		return nil, fmt.Errorf("flow %s: steps[%d] (%s) %s: %w", c.Flow.Name, step, c.Flow.Steps[step].ID, what, err)
	}
	return marshal(v)
}

// EmitSubject evaluates an emit step's subject; without one, it is the
// trigger's subject.
func (c *Compiled) EmitSubject(step int, in *Input, steps map[string]any) (string, error) {
	p, err := c.stepProgram(step, "subject")
	if err != nil {
		return "", err
	}
	if p == nil {
		return in.subject, nil
	}
	out, err := c.eval(p, step, "emit.subject", in, steps)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("flow %s: steps[%d] (%s) emit.subject produced %s, not a string", c.Flow.Name, step, c.Flow.Steps[step].ID, out.Type().TypeName())
	}
	return string(s), nil
}

func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// maxJSONDepth bounds conversion of a CEL result, whose nesting comes from
// event data and step outputs.
const maxJSONDepth = 1000

// toJSONValue converts a CEL value into the Go values encoding/json writes
// exactly: int64 and uint64 stay integers (a float64 would round beyond
// 2^53), maps need string keys, and bytes, timestamps and durations become
// strings (base64, RFC 3339, Go duration) as in CEL's JSON mapping.
func toJSONValue(v ref.Val) (any, error) { return toJSONDepth(v, 0) }

func toJSONDepth(v ref.Val, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("value nested more than %d levels deep", maxJSONDepth)
	}
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%v cannot be represented in JSON", f)
		}
		return f, nil
	case types.String:
		return string(v), nil
	case types.Bytes:
		return base64.StdEncoding.EncodeToString(v), nil
	case types.Timestamp:
		return v.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return v.Duration.String(), nil
	case *types.Optional:
		if !v.HasValue() {
			return nil, nil
		}
		return toJSONDepth(v.GetValue(), depth+1)
	case *types.Err:
		return nil, v
	case traits.Mapper:
		m := make(map[string]any)
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key is %s; JSON objects need string keys", k.Type().TypeName())
			}
			e, err := toJSONDepth(v.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			m[string(ks)] = e
		}
		return m, nil
	case traits.Lister:
		n, ok := v.Size().(types.Int)
		if !ok {
			return nil, errors.New("a list has no size")
		}
		l := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			e, err := toJSONDepth(v.Get(i), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, e)
		}
		return l, nil
	default:
		return nil, fmt.Errorf("a %s cannot be converted to JSON", v.Type().TypeName())
	}
}
