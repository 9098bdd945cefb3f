package projection

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/ensue-dev/ensue/internal/flow"
)

// DefaultInitial is the initial state of a projection that does not write
// one: an empty object.
const DefaultInitial = "{}"

// MaxIndexes bounds the indexed fields of one projection: each costs an
// index entry per document update.
const MaxIndexes = 16

var indexRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// fields are the fields of a projection document, in the order they are
// listed in messages.
var fields = []string{"kind", "name", "description", "key", "initial", "on", "indexes"}

// Definition is a projection as written. Definitions from ParseDefinition
// remember where each field was written, so that Compile can place its
// errors in the file; File and Line (the document's first line) are kept
// for every definition that came from a file.
type Definition struct {
	Name        string
	Description string
	// Key is CEL over `event` giving the id of the document an event
	// updates; "" or null means the event updates none.
	Key string
	// Initial is CEL (without variables) producing the state a document
	// starts from, a map; DefaultInitial when not written.
	Initial string
	// On maps an event type, exact or a glob with * as in flows, to CEL
	// over `event` and `state` producing the document's next state.
	On map[string]string
	// Indexes are top-level state fields to index (their values must be
	// strings, numbers or booleans).
	Indexes []string

	File string
	Line int

	pos map[string]where // by path; nil unless from ParseDefinition
}

// where is where a field is written: its value, and its key for problems
// about the key itself (unknown fields).
type where struct {
	line, col       int
	keyLine, keyCol int
	block           bool // a block scalar (| or >): CEL lines follow the header
}

// onPath is the path of an `on` entry in problems and errors:
// on["order.placed"], since event types hold dots.
func onPath(typ string) string { return "on[" + strconv.Quote(typ) + "]" }

// ParseDefinition reads a YAML or JSON file holding one projection. It
// checks everything but CEL, which Compile checks. Errors are *flow.Error
// listing every problem with its line, column and path.
func ParseDefinition(file string, data []byte) (*Definition, error) {
	docs, err := flow.ParseFile(file, data)
	if err != nil {
		return nil, err
	}
	d := docs[0]
	switch {
	case len(docs) != 1:
		return nil, problemErr(flow.Problem{File: file, Line: docs[1].Line, Column: 1, Message: fmt.Sprintf("expected exactly one projection, found %d documents; send one per request", len(docs))})
	case d.Kind != flow.KindProjection:
		return nil, problemErr(flow.Problem{File: file, Line: d.Line, Column: 1, Path: "kind", Message: fmt.Sprintf("expected a projection (kind: projection, key, on), found a %s", d.Kind)})
	}
	return decode(file, d.Line, d.Raw, locate(data))
}

// FromDocument reads a projection document of a file parsed with
// flow.ParseFile. Its problems are placed at the document's first line:
// the document keeps no finer positions (ParseDefinition does).
func FromDocument(d flow.Document) (*Definition, error) {
	if d.Kind != flow.KindProjection {
		return nil, problemErr(flow.Problem{File: d.File, Line: d.Line, Column: col(d.Line), Path: "kind", Message: fmt.Sprintf("expected a projection, found a %s", d.Kind)})
	}
	return decode(d.File, d.Line, d.Raw, nil)
}

func problemErr(p flow.Problem) error { return &flow.Error{Problems: []flow.Problem{p}} }

// col is the column given with a line known only as a document's start.
func col(line int) int {
	if line > 0 {
		return 1
	}
	return 0
}

// problems collects Problems, placed by path.
type problems struct {
	d    *Definition
	list []flow.Problem
}

func (ps *problems) add(path, format string, args ...any) {
	w := ps.d.at(path)
	ps.list = append(ps.list, flow.Problem{File: ps.d.File, Line: w.line, Column: w.col, Path: path, Message: fmt.Sprintf(format, args...)})
}

// addKey places a problem at the key of path rather than its value.
func (ps *problems) addKey(path, format string, args ...any) {
	w, ok := ps.d.pos[path]
	if !ok {
		ps.add(path, format, args...)
		return
	}
	ps.list = append(ps.list, flow.Problem{File: ps.d.File, Line: w.keyLine, Column: w.keyCol, Path: path, Message: fmt.Sprintf(format, args...)})
}

// has reports whether a problem was found at path already, so that a
// field of the wrong type is not also reported as missing.
func (ps *problems) has(path string) bool {
	for _, p := range ps.list {
		if p.Path == path {
			return true
		}
	}
	return false
}

func (ps *problems) hasPrefix(prefix string) bool {
	for _, p := range ps.list {
		if strings.HasPrefix(p.Path, prefix) {
			return true
		}
	}
	return false
}

// err returns nil or a *flow.Error with the problems in file order.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &flow.Error{Problems: ps.list}
}

// at returns where path, or its nearest written ancestor, is written; the
// document's start when nothing closer is known.
func (d *Definition) at(path string) where {
	for p := path; ; {
		if w, ok := d.pos[p]; ok {
			return w
		}
		if p == "" {
			break
		}
		if i := strings.IndexByte(p, '['); i > 0 {
			p = p[:i]
		} else {
			p = ""
		}
	}
	return where{line: d.Line, col: col(d.Line)}
}

// decode reads the JSON form of a document (as flow.Document.Raw holds it)
// and validates it.
func decode(file string, line int, raw []byte, pos map[string]where) (*Definition, error) {
	d := &Definition{File: file, Line: line, pos: pos}
	ps := &problems{d: d}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || top == nil {
		ps.add("", "a projection must be a mapping (kind, name, key, initial, on, indexes)")
		return nil, ps.err()
	}
	for _, k := range sortedKeys(top) {
		if !contains(fields, k) {
			ps.addKey(k, "unknown field `%s`; a projection has %s", k, strings.Join(fields, ", "))
		}
	}
	str := func(name string) string {
		v, ok := top[name]
		if !ok || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			ps.add(name, "%s must be a string, not %s; quote it", name, describe(v))
		}
		return s
	}
	if k := str("kind"); k != "" && k != flow.KindProjection {
		ps.add("kind", "kind must be %s here, not %q", flow.KindProjection, k)
	}
	d.Name = str("name")
	d.Description = str("description")
	d.Key = str("key")
	d.Initial = str("initial")
	if d.Initial == "" {
		d.Initial = DefaultInitial
	}
	if v := top["on"]; v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			ps.add("on", "on must be a mapping of event types to CEL, e.g. order.placed: 'state.with({\"status\": \"placed\"})', not %s", describe(v))
		}
		d.On = make(map[string]string, len(m))
		for _, typ := range sortedKeys(m) {
			p := onPath(typ)
			switch e := m[typ].(type) {
			case string:
				d.On[typ] = e
			case nil:
				ps.add(p, "no expression for %s; write the CEL giving the next state, e.g. 'state.with({\"seen\": true})'", typ)
			default:
				ps.add(p, "must be a CEL expression (a string), not %s; quote it", describe(e))
			}
		}
	}
	if v := top["indexes"]; v != nil {
		l, ok := v.([]any)
		if !ok {
			ps.add("indexes", "indexes must be a list of state fields, e.g. [status], not %s", describe(v))
		}
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				ps.add(fmt.Sprintf("indexes[%d]", i), "must be the name of a state field (a string), not %s", describe(e))
				continue
			}
			d.Indexes = append(d.Indexes, s)
		}
	}
	validate(d, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return d, nil
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case json.Number:
		return "the number " + v.String()
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return "null"
	}
}

// validate checks everything but CEL.
func validate(d *Definition, ps *problems) {
	switch {
	case ps.has("name"):
	case d.Name == "":
		ps.add("name", "name is required: 1-63 lowercase letters, digits or '-', e.g. orders")
	default:
		if msg := nameProblem(d.Name); msg != "" {
			ps.add("name", "%s", msg)
		}
	}
	if d.Key == "" && !ps.has("key") {
		ps.add("key", "key is required: CEL giving the id of the document an event updates, e.g. event.subject")
	}
	if len(d.On) == 0 && !ps.has("on") && !ps.hasPrefix("on[") {
		ps.add("on", "on needs at least one entry: an event type (or glob such as order.*) and the CEL giving the next state, e.g. order.placed: 'state.with({\"status\": \"placed\"})'")
	}
	for _, typ := range sortedKeys(d.On) {
		switch {
		case typ == "":
			ps.addKey(onPath(typ), "an event type is required before the colon")
		case d.On[typ] == "" && !ps.has(onPath(typ)):
			ps.add(onPath(typ), "no expression for %s; write the CEL giving the next state", typ)
		}
	}
	if len(d.Indexes) > MaxIndexes {
		ps.add("indexes", "at most %d indexes, not %d; index the fields queries filter on", MaxIndexes, len(d.Indexes))
	}
	seen := map[string]int{}
	for i, f := range d.Indexes {
		p := fmt.Sprintf("indexes[%d]", i)
		if !indexRE.MatchString(f) {
			ps.add(p, "index %q is not a top-level state field: use a name of letters, digits and _ starting with a letter or _, up to 63 characters (nested fields cannot be indexed)", f)
			continue
		}
		if j, dup := seen[f]; dup {
			ps.add(p, "index %q is already listed at indexes[%d]; list each field once", f, j)
			continue
		}
		seen[f] = i
	}
}

// nameProblem returns what is wrong with a projection name, or "". The
// rule is the flows' (projections and flows are listed and addressed the
// same way), so flow checks it rather than this package restating it.
func nameProblem(name string) string {
	_, err := flow.Compile(&flow.Flow{Name: name, On: flow.Trigger{Type: "x"}, Steps: []flow.Step{{ID: "s", Emit: &flow.EmitStep{Type: "x"}}}})
	var fe *flow.Error
	if errors.As(err, &fe) {
		for _, p := range fe.Problems {
			if p.Path == "name" {
				return p.Message
			}
		}
	}
	return ""
}

// canonical is the stored form: fields in a fixed order, defaults filled
// in, indexes sorted (their order means nothing), no positions.
type canonical struct {
	Kind        string            `json:"kind"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Key         string            `json:"key"`
	Initial     string            `json:"initial"`
	On          map[string]string `json:"on"`
	Indexes     []string          `json:"indexes,omitempty"`
}

// Canonical is the definition as compact JSON with a fixed field order,
// defaults filled in and indexes sorted: the same projection written in
// YAML or JSON, in any order, with or without `initial: '{}'`, has one
// canonical form (and one Hash). It is what storage keeps.
func (d *Definition) Canonical() []byte {
	c := canonical{Kind: flow.KindProjection, Name: d.Name, Description: d.Description, Key: d.Key, Initial: d.Initial, On: d.On}
	if c.Initial == "" {
		c.Initial = DefaultInitial
	}
	if c.On == nil {
		c.On = map[string]string{}
	}
	if len(d.Indexes) > 0 {
		c.Indexes = append([]string(nil), d.Indexes...)
		sort.Strings(c.Indexes)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		panic(fmt.Sprintf("projection: canonical form: %v", err)) // strings and maps of strings always encode
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Hash is the hex SHA-256 of the canonical form, for change detection: a
// projection whose hash changed must be rebuilt.
func (d *Definition) Hash() string {
	sum := sha256.Sum256(d.Canonical())
	return hex.EncodeToString(sum[:])
}

// ParseCanonical reads a definition stored with Canonical and validates it
// (everything but CEL). It refuses unknown fields: a stored definition is
// never written by hand.
func ParseCanonical(b []byte) (*Definition, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c canonical
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("projection: stored definition: %w", err)
	}
	if c.Kind != flow.KindProjection {
		return nil, fmt.Errorf("projection: stored definition has kind %q, not %s", c.Kind, flow.KindProjection)
	}
	d := &Definition{Name: c.Name, Description: c.Description, Key: c.Key, Initial: c.Initial, On: c.On, Indexes: c.Indexes}
	if d.Initial == "" {
		d.Initial = DefaultInitial
	}
	ps := &problems{d: d}
	validate(d, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return d, nil
}

// clone returns a copy that shares nothing mutable with d.
func (d *Definition) clone() *Definition {
	c := *d
	c.On = make(map[string]string, len(d.On))
	for k, v := range d.On {
		c.On[k] = v
	}
	c.Indexes = append([]string(nil), d.Indexes...)
	return &c
}

// locate finds where the fields of the first document of data are written.
// It reads the YAML again (flow.ParseFile has checked it) because a
// flow.Document keeps the document as JSON, without positions.
func locate(data []byte) map[string]where {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, ok := doc.Body.(*ast.CommentGroupNode); ok {
			continue
		}
		pos := map[string]where{}
		pos[""] = valueAt(doc.Body)
		for _, mv := range pairs(doc.Body) {
			k := keyText(mv.Key)
			w := valueAt(mv.Value)
			kw := valueAt(mv.Key)
			w.keyLine, w.keyCol = kw.line, kw.col
			pos[k] = w
			switch k {
			case "on":
				for _, e := range pairs(mv.Value) {
					ew := valueAt(e.Value)
					kw := valueAt(e.Key)
					ew.keyLine, ew.keyCol = kw.line, kw.col
					if _, null := unwrap(e.Value).(*ast.NullNode); null || ew.line == 0 { // `order.placed:` with nothing after it
						ew.line, ew.col = kw.line, kw.col
					}
					pos[onPath(keyText(e.Key))] = ew
				}
			case "indexes":
				if s, ok := unwrap(mv.Value).(*ast.SequenceNode); ok {
					for i, v := range s.Values {
						pos[fmt.Sprintf("indexes[%d]", i)] = valueAt(v)
					}
				}
			}
		}
		return pos
	}
	return nil
}

func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		case *ast.MappingKeyNode:
			n = v.Value
		default:
			return n
		}
	}
}

func pairs(n ast.Node) []*ast.MappingValueNode {
	switch n := unwrap(n).(type) {
	case *ast.MappingNode:
		return n.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}
	}
	return nil
}

func keyText(n ast.Node) string {
	switch n := unwrap(n).(type) {
	case nil:
		return ""
	case *ast.StringNode:
		return n.Value
	case *ast.NullNode:
		return "null"
	default:
		if tk := n.GetToken(); tk != nil {
			return tk.Value
		}
		return ""
	}
}

func valueAt(n ast.Node) where {
	n = unwrap(n)
	if n == nil {
		return where{}
	}
	tk := n.GetToken()
	block := false
	switch v := n.(type) {
	case *ast.LiteralNode:
		// go-yaml places a block scalar's token at its end; its header
		// (| or >) is where the author looks.
		tk, block = v.Start, true
	case *ast.MappingNode:
		tk = v.Start
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return valueAt(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return valueAt(v.Key)
	case *ast.SequenceNode:
		tk = v.Start
	}
	if tk == nil || tk.Position == nil {
		return where{}
	}
	return where{line: tk.Position.Line, col: tk.Position.Column, block: block}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
