package projection

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"github.com/cockroachdb/pebble/v2"

	celast "cel.dev/cel-go/common/ast"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// filterCostLimit bounds one evaluation of a filter on one document.
	filterCostLimit = 1_000_000
	maxFilterSize   = 4 << 10
	// maxCachedFilters bounds the compiled-filter cache; it is emptied
	// when full (filters are few in practice: the ones clients code).
	maxCachedFilters = 512
)

// Query selects documents of a projection.
type Query struct {
	// Filter is a CEL expression over `doc` (the document's state) and
	// `key`, true for the documents wanted; "" selects every document.
	Filter string
	// OrderBy is a top-level field of the state, or "key" (the default);
	// a leading "-" orders descending.
	OrderBy string
	// Limit is the page size: default 100, at most 1000.
	Limit int
	// Cursor is Page.Next of the previous page, with the same Filter and
	// OrderBy.
	Cursor string
}

// Page is a page of documents; Next is "" on the last page.
type Page struct {
	Documents []Document `json:"documents"`
	Next      string     `json:"next,omitempty"`
}

// QueryError is a query the manager cannot run: a filter that does not
// compile, a bad order_by or cursor.
type QueryError struct {
	Field string // filter, order_by, cursor or limit
	Err   error
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

var filterEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("doc", cel.DynType),
		cel.Variable("key", cel.StringType),
		ext.Strings(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxFilterSize),
	)
})

// filter is a compiled filter with the equalities an index can answer.
type filter struct {
	prg cel.Program
	// eqs are the `doc.field == literal` terms of its top-level
	// conjunction: each must hold for a document to match.
	eqs []eqTerm
}

type eqTerm struct {
	field string
	value []byte // encodeValue of the literal
}

type filterCache struct {
	mu sync.Mutex
	m  map[string]*filter
}

func (c *filterCache) init() { c.m = map[string]*filter{} }

func (c *filterCache) get(src string) (*filter, error) {
	c.mu.Lock()
	f, ok := c.m[src]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := compileFilter(src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedFilters {
		clear(c.m)
	}
	c.m[src] = f
	c.mu.Unlock()
	return f, nil
}

func compileFilter(src string) (f *filter, err error) {
	// cel-go panics planning some expressions (a map literal with bytes
	// keys): a query is user input and must not take the server down.
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &QueryError{Field: "filter", Err: fmt.Errorf("cannot be planned: %v", r)}
		}
	}()
	env, err := filterEnv()
	if err != nil {
		return nil, err
	}
	a, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, &QueryError{Field: "filter", Err: iss.Err()}
	}
	if t := a.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &QueryError{Field: "filter", Err: fmt.Errorf("must be a boolean expression, not %s", t)}
	}
	prg, err := env.Program(a, cel.CostLimit(filterCostLimit))
	if err != nil {
		return nil, &QueryError{Field: "filter", Err: err}
	}
	return &filter{prg: prg, eqs: equalities(a.NativeRep().Expr(), nil)}, nil
}

// equalities collects the `doc.path == literal` terms of e's top-level
// conjunction.
func equalities(e celast.Expr, out []eqTerm) []eqTerm {
	if e.Kind() != celast.CallKind {
		return out
	}
	c := e.AsCall()
	args := c.Args()
	switch {
	case c.FunctionName() == operators.LogicalAnd:
		for _, a := range args {
			out = equalities(a, out)
		}
	case c.FunctionName() == operators.Equals && len(args) == 2:
		for _, pair := range [2][2]celast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			path, ok := docPath(pair[0])
			if !ok || pair[1].Kind() != celast.LiteralKind {
				continue
			}
			v, ok := encodeValue(nil, literal(pair[1].AsLiteral().Value()))
			if ok {
				out = append(out, eqTerm{field: path, value: v})
			}
			break
		}
	}
	return out
}

// docPath is "a.b" for doc.a.b.
func docPath(e celast.Expr) (string, bool) {
	var parts []string
	for e.Kind() == celast.SelectKind {
		s := e.AsSelect()
		if s.IsTestOnly() {
			return "", false
		}
		parts = append(parts, s.FieldName())
		e = s.Operand()
	}
	if e.Kind() != celast.IdentKind || e.AsIdent() != "doc" || len(parts) == 0 {
		return "", false
	}
	slices.Reverse(parts)
	return strings.Join(parts, "."), true
}

// literal is a CEL literal as encoding/json would decode it.
func literal(v any) any {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	case types.Null:
		return nil
	}
	if v == types.NullValue {
		return nil
	}
	return v
}

// match evaluates the filter on a state read as reducers read it (an
// integral number is an int), so that `doc.n + 1` means what `state.n + 1`
// does.
func (f *filter) match(state []byte, key string) bool {
	if f == nil {
		return true
	}
	doc, err := decodeState(state)
	if err != nil {
		return false
	}
	out, _, err := f.prg.Eval(map[string]any{"doc": doc, "key": key})
	if err != nil {
		return false // a field missing from this document: not a match
	}
	b, ok := out.Value().(bool)
	return ok && b
}

type order struct {
	field string // "" orders by key
	desc  bool
}

func parseOrder(s string) (order, error) {
	var o order
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		o.desc, s = true, rest
	}
	switch {
	case s == "" && o.desc:
		return o, &QueryError{Field: "order_by", Err: errors.New(`"-" needs a field: -name`)}
	case s == "" || s == "key":
	case strings.ContainsAny(s, " \t\n") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, ".."):
		return o, &QueryError{Field: "order_by", Err: fmt.Errorf("%q is not a field name", s)}
	default:
		o.field = s
	}
	return o, nil
}

// item is a matching document with its sort key.
type item struct {
	sort []byte
	doc  Document
}

func (o order) less(a, b *item) int {
	c := bytes.Compare(a.sort, b.sort)
	if c == 0 {
		c = strings.Compare(a.doc.Key, b.doc.Key)
	}
	if o.desc {
		return -c
	}
	return c
}

// cursor: version 1, uvarint length of the sort key, sort key, doc key.
func encodeCursor(it *item) string {
	b := []byte{1}
	b = binary.AppendUvarint(b, uint64(len(it.sort)))
	b = append(append(b, it.sort...), it.doc.Key...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*item, error) {
	bad := &QueryError{Field: "cursor", Err: errors.New("not a cursor this server gave; start again without one")}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1 || b[0] != 1 {
		return nil, bad
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || uint64(len(b)-1-w) < n {
		return nil, bad
	}
	rest := b[1+w:]
	return &item{sort: rest[:n], doc: Document{Key: string(rest[n:])}}, nil
}

// Query returns a page of a projection's documents. A filter with a
// `doc.field == literal` term on an indexed field reads that index instead
// of every document.
func (m *Manager) Query(ctx context.Context, ns, name string, q Query) (*Page, error) {
	p := m.proj(ns, name)
	if p == nil {
		return nil, ErrNotFound
	}
	p.mu.Lock()
	gid, indexes := p.active.gen.GID, p.active.indexes
	p.mu.Unlock()
	limit := q.Limit
	switch {
	case limit < 0:
		return nil, &QueryError{Field: "limit", Err: errors.New("must not be negative")}
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	o, err := parseOrder(q.OrderBy)
	if err != nil {
		return nil, err
	}
	var f *filter
	if strings.TrimSpace(q.Filter) != "" {
		if f, err = m.filters.get(q.Filter); err != nil {
			return nil, err
		}
	}
	var after *item
	if q.Cursor != "" {
		if after, err = decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	snap := m.st.db.NewSnapshot()
	defer snap.Close()

	// Ascending by key, documents come in order: stop after limit+1.
	streaming := o.field == "" && !o.desc
	var items []*item
	visit := func(key string, d storedDoc) bool {
		if !f.match(d.State, key) {
			return true
		}
		it := &item{doc: Document{Key: key, State: d.State, Position: d.Position, Updates: int(d.Updates)}}
		if o.field != "" {
			var doc any
			_ = json.Unmarshal(d.State, &doc) // not JSON: sorts first
			if v, ok := field(doc, o.field); ok {
				it.sort, _ = encodeValue(nil, v)
			}
		}
		if after != nil && o.less(it, after) <= 0 {
			return true
		}
		items = append(items, it)
		return !streaming || len(items) <= limit
	}
	if eq, ok := indexed(f, indexes); ok {
		err = m.scanIndex(ctx, snap, gid, eq, streaming, after, visit)
	} else {
		err = m.scanDocs(ctx, snap, gid, streaming, after, visit)
	}
	if err != nil {
		return nil, err
	}
	if !streaming {
		slices.SortFunc(items, o.less)
	}
	page := &Page{Documents: []Document{}}
	for i, it := range items {
		if i == limit {
			page.Next = encodeCursor(items[i-1])
			break
		}
		page.Documents = append(page.Documents, it.doc)
	}
	return page, nil
}

// indexed picks a term of the filter an index answers.
func indexed(f *filter, indexes []string) (eqTerm, bool) {
	if f == nil {
		return eqTerm{}, false
	}
	for _, eq := range f.eqs {
		if slices.Contains(indexes, eq.field) {
			return eq, true
		}
	}
	return eqTerm{}, false
}

func (m *Manager) scanDocs(ctx context.Context, r *pebble.Snapshot, gid uint64, streaming bool, after *item, visit func(string, storedDoc) bool) error {
	prefix := genPrefix(kindDoc, gid)
	lower := prefix
	if streaming && after != nil {
		lower = append(docKey(gid, after.doc.Key), 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		d, err := decodeDoc(it.Value())
		if err != nil {
			return err
		}
		if !visit(string(it.Key()[len(prefix):]), d) {
			break
		}
	}
	return it.Error()
}

func (m *Manager) scanIndex(ctx context.Context, r *pebble.Snapshot, gid uint64, eq eqTerm, streaming bool, after *item, visit func(string, storedDoc) bool) error {
	prefix := append(indexPrefix(gid, eq.field), eq.value...)
	lower := prefix
	if streaming && after != nil {
		lower = append(append(bytes.Clone(prefix), after.doc.Key...), 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		key := string(it.Key()[len(prefix):])
		d, ok, err := m.st.doc(r, gid, key)
		if err != nil {
			return err
		}
		if ok && !visit(key, d) {
			break
		}
	}
	return it.Error()
}
