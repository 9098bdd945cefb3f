package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	celast "cel.dev/cel-go/common/ast"
)

// Limits on expressions: a definition is user input, and an expression that
// is huge or loops over a large list must not stall the engine.
const (
	maxExprSize = 16 << 10 // code points
	// costLimit bounds the work of one evaluation (CEL's cost units, about
	// one per operation); a thousand-element map over event data fits.
	costLimit = 10_000_000
)

// env is shared by every flow: cel.Env is immutable once built and safe for
// concurrent use, and building one costs more than compiling an expression.
var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("steps", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
		ext.Encoders(),
		cel.OptionalTypes(),
		// Lets the checker accept `event.data.total > 1000.5` style
		// literals of mixed kinds; at run time CEL compares int, uint and
		// double by value whatever their kinds.
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprSize),
	)
})

// Compiled is a validated flow with its expressions type-checked and
// planned. It is immutable and safe for concurrent use.
type Compiled struct {
	Flow *Flow // the definition with defaults filled in; do not modify

	hash      string
	when      cel.Program // nil without on.when
	selectors []eventPath // event.* selections in on.when, for Explain
	steps     []compiledStep
}

type compiledStep struct {
	body, data, subject cel.Program // nil when not written
}

// Compile validates f and type-checks its expressions. Errors are *Error
// with every problem; a problem in a CEL expression is placed at the
// expression's position in the file, plus CEL's own column when the
// expression is written on one line.
func Compile(f *Flow) (*Compiled, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("flow: CEL environment: %w", err)
	}
	g := f.withDefaults()
	var ps problems
	validate(g, &ps)
	c := &Compiled{Flow: g, steps: make([]compiledStep, len(g.Steps))}
	cc := exprCompiler{env: e, f: g, ps: &ps}
	if g.On.When != "" {
		if a := cc.compile("on.when", g.On.When, cel.BoolType, nil); a != nil {
			c.when = cc.program("on.when", a)
			c.selectors = eventSelectors(a)
		}
	}
	earlier := map[string]bool{}
	for i, s := range g.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		if s.HTTP != nil && s.HTTP.Body != "" {
			c.steps[i].body = cc.programOf(p+".http.body", s.HTTP.Body, nil, earlier)
		}
		if s.Emit != nil {
			if s.Emit.Data != "" {
				c.steps[i].data = cc.programOf(p+".emit.data", s.Emit.Data, nil, earlier)
			}
			if s.Emit.Subject != "" {
				c.steps[i].subject = cc.programOf(p+".emit.subject", s.Emit.Subject, cel.StringType, earlier)
			}
		}
		earlier[s.ID] = true
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(g.Canonical())
	c.hash = hex.EncodeToString(sum[:])
	return c, nil
}

// Hash is a stable hash (hex SHA-256) of the canonical definition: the same
// flow written in YAML or JSON, with or without its defaults, has one hash.
func (c *Compiled) Hash() string { return c.hash }

// Name is the flow's name.
func (c *Compiled) Name() string { return c.Flow.Name }

type exprCompiler struct {
	env *cel.Env
	f   *Flow
	ps  *problems
}

func (cc *exprCompiler) programOf(path, src string, want *cel.Type, earlier map[string]bool) cel.Program {
	a := cc.compile(path, src, want, earlier)
	if a == nil {
		return nil
	}
	return cc.program(path, a)
}

func (cc *exprCompiler) program(path string, a *cel.Ast) (prog cel.Program) {
	// Planning can panic on what the checker accepts (cel-go v0.33.2 hashes
	// the keys of a constant map literal, and b"x" keys are not hashable).
	defer func() {
		if r := recover(); r != nil {
			cc.add(path, 0, 0, "CEL cannot plan this expression (%v); map keys must be strings, ints, uints or bools", r)
			prog = nil
		}
	}()
	p, err := cc.env.Program(a, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		cc.add(path, 0, 0, "%v", err)
		return nil
	}
	return p
}

// compile parses and checks src. earlier holds the ids of the steps before
// this one; nil means no step has run (on.when), where steps is not allowed.
func (cc *exprCompiler) compile(path, src string, want *cel.Type, earlier map[string]bool) *cel.Ast {
	a, iss := cc.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			cc.add(path, e.Location.Line(), e.Location.Column(), "%s", e.Message)
		}
		return nil
	}
	ok := true
	if want != nil {
		if out := a.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
			what := "a condition (bool)"
			if want == cel.StringType {
				what = "a string"
			}
			cc.add(path, 0, 0, "must produce %s, but produces %s", what, out)
			ok = false
		}
	}
	if !cc.checkSteps(path, a, earlier) {
		ok = false
	}
	if !ok {
		return nil
	}
	return a
}

// checkSteps reports references to steps that have not run before this
// expression: later or unknown steps, or any step from on.when.
func (cc *exprCompiler) checkSteps(path string, a *cel.Ast, earlier map[string]bool) bool {
	native := a.NativeRep()
	info := native.SourceInfo()
	ok := true
	report := func(id int64, format string, args ...any) {
		loc := info.GetStartLocation(id)
		cc.add(path, loc.Line(), loc.Column(), format, args...)
		ok = false
	}
	known := make([]string, 0, len(earlier))
	for _, s := range cc.f.Steps {
		if earlier[s.ID] {
			known = append(known, s.ID)
		}
	}
	stepRef := func(e celast.Expr) (string, int64, bool) {
		switch e.Kind() {
		case celast.SelectKind:
			s := e.AsSelect()
			if op := s.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "steps" {
				return s.FieldName(), op.ID(), true
			}
		case celast.CallKind:
			call := e.AsCall()
			if call.FunctionName() == operators.Index && len(call.Args()) == 2 {
				op, key := call.Args()[0], call.Args()[1]
				if op.Kind() == celast.IdentKind && op.AsIdent() == "steps" && key.Kind() == celast.LiteralKind {
					if k, isStr := key.AsLiteral().(types.String); isStr {
						return string(k), op.ID(), true
					}
				}
			}
		}
		return "", 0, false
	}
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if earlier == nil {
			if e.Kind() == celast.IdentKind && e.AsIdent() == "steps" {
				report(e.ID(), "on.when is evaluated before any step runs: it can use event, not steps")
			}
			return
		}
		if e.Kind() == celast.SelectKind {
			// steps.<id>.<field>: a step's result is only its output.
			s := e.AsSelect()
			if _, id, isRef := stepRef(s.Operand()); isRef && s.FieldName() != "output" {
				report(id, "a step's result is steps.<id>.output; %q is not a field of it", s.FieldName())
			}
		}
		name, id, isRef := stepRef(e)
		if !isRef || earlier[name] {
			return
		}
		later := false
		for _, s := range cc.f.Steps {
			if s.ID == name {
				later = true
			}
		}
		switch {
		case later:
			report(id, "steps.%s has not run yet at this step: a step can use the output of earlier steps only (%s)", name, listOrNone(known))
		default:
			msg := fmt.Sprintf("no step %q before this one; earlier steps: %s", name, listOrNone(known))
			if sug := suggest(name, known); sug != "" {
				msg = fmt.Sprintf("no step %q before this one; did you mean %q?", name, sug)
			}
			report(id, "%s", msg)
		}
	}))
	return ok
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// add records a problem in the expression at path; line and col are CEL's
// (1-based line, 0-based column), or 0 when the problem concerns the whole
// expression.
func (cc *exprCompiler) add(path string, line, col int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n := cc.f.pos[path]
	if n == nil {
		if line > 0 {
			msg = fmt.Sprintf("%s (expression line %d, column %d)", msg, line, col+1)
		}
		cc.ps.add(cc.f.file, cc.f.at(path), path, "%s", msg)
		return
	}
	at := n.at
	switch {
	case line == 1 && n.exprCol > 0:
		at.col = n.exprCol + col
	case line > 0 && n.block:
		// A block scalar: its lines start at the node's column.
		at.line += line - 1
		at.col += col
	case line > 0:
		msg = fmt.Sprintf("%s (expression line %d, column %d)", msg, line, col+1)
	}
	cc.ps.add(cc.f.file, at, path, "%s", msg)
}
