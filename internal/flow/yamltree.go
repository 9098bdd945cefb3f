package flow

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The parser works on its own small tree rather than decoding into structs,
// because every value must keep its position for errors (including columns
// inside CEL expressions) and unknown or mistyped fields must be reported
// all at once, not at the first one.

type nodeKind int

const (
	kindNull nodeKind = iota
	kindScalar
	kindMap
	kindSeq
)

type node struct {
	kind nodeKind
	at   pos
	// exprCol is the column of a string's first character in the source when
	// the string is written on one line with no escapes, so that a column
	// reported by CEL maps onto the file; 0 when it does not map.
	exprCol int
	block   bool   // a block scalar (| or >): at is where its text starts
	value   any    // scalars: string, int64, uint64, float64 or bool
	text    string // scalars: the text as written (for strings, the value)
	keys    []*node
	vals    []*node
	items   []*node
}

func (n *node) str() (string, bool) {
	s, ok := n.value.(string)
	return s, ok && n.kind == kindScalar
}

// get returns the value of key in a map node, or nil.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k.text == key {
			return n.vals[i]
		}
	}
	return nil
}

// maxDepth bounds nesting: no definition needs more, and deep documents are
// how a parser is made to exhaust its stack.
const maxDepth = 200

// parseYAML splits data into documents and converts each into a tree. A
// syntax error stops everything (positions after it mean nothing); other
// problems are collected.
func parseYAML(file string, data []byte, ps *problems) []*node {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		ps.add(file, syntaxPos(err), "", "%s", syntaxMessage(err))
		return nil
	}
	var docs []*node
	lines := strings.Split(string(data), "\n")
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if _, ok := d.Body.(*ast.CommentGroupNode); ok {
			continue
		}
		c := converter{file: file, ps: ps, lines: lines}
		n := c.convert(d.Body, 0)
		docs = append(docs, n)
	}
	return docs
}

func syntaxPos(err error) pos {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return pos{tk.Position.Line, tk.Position.Column}
		}
	}
	return pos{1, 1}
}

func syntaxMessage(err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) {
		return "syntax: " + ye.GetMessage()
	}
	return "syntax: " + err.Error()
}

type converter struct {
	file  string
	ps    *problems
	lines []string
}

func tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

func nodePos(n ast.Node) pos {
	if n == nil {
		return pos{}
	}
	return tokenPos(n.GetToken())
}

func (c *converter) convert(n ast.Node, depth int) *node {
	if depth > maxDepth {
		c.ps.add(c.file, nodePos(n), "", "nested more than %d levels deep; flatten the document", maxDepth)
		return &node{kind: kindNull, at: nodePos(n)}
	}
	switch n := n.(type) {
	case nil:
		return &node{kind: kindNull}
	case *ast.NullNode:
		return &node{kind: kindNull, at: tokenPos(n.Token)}
	case *ast.StringNode:
		out := &node{kind: kindScalar, at: tokenPos(n.Token), value: n.Value, text: n.Value}
		out.exprCol = exprColumn(n.Token, n.Value)
		return out
	case *ast.LiteralNode:
		// Block scalars (| and >) start on the line after their header.
		// go-yaml places the value's token at the end of the block, so the
		// start is found in the source: the first non-blank line after
		// the header, at its indentation.
		at := tokenPos(n.Start)
		v := ""
		if n.Value != nil {
			v = n.Value.Value
		}
		for l := at.line; l > 0 && l < len(c.lines); l++ {
			line := c.lines[l] // the line after line l (1-based)
			if t := strings.TrimLeft(line, " "); t != "" {
				at = pos{l + 1, len(line) - len(t) + 1}
				break
			}
		}
		return &node{kind: kindScalar, at: at, value: v, text: v, block: true}
	case *ast.IntegerNode:
		out := &node{kind: kindScalar, at: tokenPos(n.Token), text: n.Token.Value}
		switch v := n.Value.(type) {
		case int64:
			out.value = v
		case uint64:
			out.value = v
		default:
			f, err := strconv.ParseFloat(n.Token.Value, 64)
			if err != nil {
				c.ps.add(c.file, out.at, "", "number %q is out of range", n.Token.Value)
			}
			out.value = f
		}
		return out
	case *ast.FloatNode:
		if math.IsInf(n.Value, 0) || math.IsNaN(n.Value) {
			c.ps.add(c.file, tokenPos(n.Token), "", "%s cannot be represented in JSON; quote it if it is text", n.Token.Value)
		}
		return &node{kind: kindScalar, at: tokenPos(n.Token), value: n.Value, text: n.Token.Value}
	case *ast.BoolNode:
		return &node{kind: kindScalar, at: tokenPos(n.Token), value: n.Value, text: n.Token.Value}
	case *ast.InfinityNode, *ast.NanNode:
		at := nodePos(n)
		c.ps.add(c.file, at, "", "%s cannot be represented in JSON; quote it if it is text", n.GetToken().Value)
		return &node{kind: kindScalar, at: at, value: n.GetToken().Value, text: n.GetToken().Value}
	case *ast.TagNode:
		v := c.convert(n.Value, depth+1)
		if n.Start != nil && (n.Start.Value == "!!str" || n.Start.Value == "!str") && v.kind == kindScalar {
			v.value = v.text
		}
		return v
	case *ast.AnchorNode:
		return c.convert(n.Value, depth+1)
	case *ast.AliasNode:
		// Aliases are refused: expanding them is how a small file becomes
		// an exponentially large document, and flows are short enough to
		// repeat a value.
		at := tokenPos(n.Start)
		c.ps.add(c.file, at, "", "YAML aliases (*name) are not supported; repeat the value instead")
		return &node{kind: kindNull, at: at}
	case *ast.MappingNode:
		out := &node{kind: kindMap, at: tokenPos(n.Start)}
		for _, mv := range n.Values {
			c.addPair(out, mv, depth)
		}
		if len(out.keys) > 0 && !n.IsFlowStyle {
			out.at = out.keys[0].at
		}
		return out
	case *ast.MappingValueNode:
		out := &node{kind: kindMap}
		c.addPair(out, n, depth)
		if len(out.keys) > 0 {
			out.at = out.keys[0].at
		}
		return out
	case *ast.SequenceNode:
		out := &node{kind: kindSeq, at: tokenPos(n.Start)}
		for _, v := range n.Values {
			out.items = append(out.items, c.convert(v, depth+1))
		}
		return out
	case *ast.MappingKeyNode:
		return c.convert(n.Value, depth+1)
	case *ast.CommentGroupNode, *ast.CommentNode, *ast.DirectiveNode:
		return &node{kind: kindNull, at: nodePos(n)}
	default:
		at := nodePos(n)
		c.ps.add(c.file, at, "", "unsupported YAML construct %s", n.Type())
		return &node{kind: kindNull, at: at}
	}
}

func (c *converter) addPair(m *node, mv *ast.MappingValueNode, depth int) {
	if mv == nil {
		return
	}
	if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
		c.ps.add(c.file, nodePos(mv.Key), "", "YAML merge keys (<<) are not supported; repeat the fields instead")
		return
	}
	k := c.convert(mv.Key, depth+1)
	if k.kind != kindScalar {
		if k.kind == kindNull && k.text == "" && mv.Key != nil {
			k.text = "null"
		} else {
			c.ps.add(c.file, k.at, "", "a key must be a plain value, not a %s", kindName(k.kind))
			return
		}
	}
	for _, prev := range m.keys {
		if prev.text == k.text {
			c.ps.add(c.file, k.at, "", "duplicate key %q (first at line %d); keep one", k.text, prev.at.line)
			return
		}
	}
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, c.convert(mv.Value, depth+1))
}

// exprColumn is the column where a one-line string's value begins, when each
// character of the value is one character of the source (no escapes, no
// folding), so that CEL columns can be added to it.
func exprColumn(tk *token.Token, value string) int {
	if tk == nil || tk.Position == nil || strings.ContainsAny(value, "\n\r") {
		return 0
	}
	col := tk.Position.Column
	switch tk.Type {
	case token.SingleQuoteType, token.DoubleQuoteType:
		// The token's value is the unquoted text; when it differs from the
		// source between the quotes (escapes, '' doubling), columns shift.
		if len(tk.Origin) > 0 && !strings.Contains(strings.TrimSpace(tk.Origin), value) {
			return 0
		}
		return col + 1
	}
	return col
}

func kindName(k nodeKind) string {
	switch k {
	case kindNull:
		return "null"
	case kindScalar:
		return "value"
	case kindMap:
		return "mapping"
	default:
		return "list"
	}
}

// toAny turns a tree into the values encoding/json marshals, for the raw form
// of documents this package does not interpret.
func toAny(n *node) any {
	switch n.kind {
	case kindScalar:
		if f, ok := n.value.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return n.text
		}
		return n.value
	case kindMap:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k.text] = toAny(n.vals[i])
		}
		return m
	case kindSeq:
		s := make([]any, len(n.items))
		for i, it := range n.items {
			s[i] = toAny(it)
		}
		return s
	default:
		return nil
	}
}
