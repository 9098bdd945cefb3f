package flow

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Document is one YAML document of a file: a flow, or another kind Ensue
// knows (a projection) that this package identifies but does not interpret.
type Document struct {
	Kind string // "flow" or "projection"
	Name string
	Flow *Flow  // set when Kind is "flow"
	Raw  []byte // the document as JSON, for whichever package owns its kind
	File string
	Line int // where the document starts
}

// ParseFile reads every document of a YAML (or JSON) file. Flows are decoded
// and validated (everything but CEL, which Compile checks); other kinds are
// kept raw. Errors are *Error listing every problem found.
func ParseFile(filename string, data []byte) ([]Document, error) {
	var ps problems
	trees := parseYAML(filename, data, &ps)
	if len(ps.list) > 0 && len(trees) == 0 {
		return nil, ps.err()
	}
	docs := make([]Document, 0, len(trees))
	for _, t := range trees {
		d, ok := parseDocument(filename, t, &ps)
		if ok {
			docs = append(docs, d)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &Error{Problems: []Problem{{File: filename, Line: 1, Column: 1, Message: "the file holds no document; write a flow (kind: flow, name, on, steps)"}}}
	}
	return docs, nil
}

// ParseFlow reads a file that must hold exactly one flow.
func ParseFlow(filename string, data []byte) (*Flow, error) {
	docs, err := ParseFile(filename, data)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 || docs[0].Kind != KindFlow {
		d := docs[0]
		if len(docs) == 1 {
			return nil, &Error{Problems: []Problem{{File: filename, Line: d.Line, Column: 1, Path: "kind", Message: fmt.Sprintf("expected a flow, found a %s", d.Kind)}}}
		}
		return nil, &Error{Problems: []Problem{{File: filename, Line: docs[1].Line, Column: 1, Message: fmt.Sprintf("expected exactly one flow, found %d documents; send one per request", len(docs))}}}
	}
	return docs[0].Flow, nil
}

func parseDocument(file string, t *node, ps *problems) (Document, bool) {
	before := len(ps.list)
	d := Document{File: file, Line: t.at.line}
	if t.kind != kindMap {
		ps.add(file, t.at, "", "a document must be a mapping (kind, name, ...), not a %s", kindName(t.kind))
		return d, false
	}
	raw, err := json.Marshal(toAny(t))
	if err != nil {
		ps.add(file, t.at, "", "cannot be represented as JSON: %v", err)
		return d, false
	}
	d.Raw = raw
	if k := t.get("kind"); k != nil && k.kind != kindNull {
		s, ok := k.str()
		switch {
		case !ok:
			ps.add(file, k.at, "kind", "kind must be a string: flow or projection")
		case s == KindFlow || s == KindProjection:
			d.Kind = s
		default:
			msg := fmt.Sprintf("unknown kind %q; Ensue knows flow and projection", s)
			if sug := suggest(s, []string{KindFlow, KindProjection}); sug != "" {
				msg = fmt.Sprintf("unknown kind %q; did you mean %q?", s, sug)
			}
			ps.add(file, k.at, "kind", "%s", msg)
		}
	} else {
		// Without kind, the shape tells: steps make a flow, a key a projection.
		switch {
		case t.get("steps") != nil:
			d.Kind = KindFlow
		case t.get("key") != nil:
			d.Kind = KindProjection
		case hasTypoOf(t, "steps"):
			// Read it as the flow it was meant to be, so the author learns
			// about the typo rather than about a missing kind.
			d.Kind = KindFlow
		default:
			ps.add(file, t.at, "", "cannot tell what this document is; add `kind: flow` (with on and steps) or `kind: projection` (with key)")
		}
	}
	switch d.Kind {
	case KindFlow:
		f := decodeFlow(file, t, ps)
		validate(f, ps)
		d.Flow, d.Name = f, f.Name
	case KindProjection:
		if n := t.get("name"); n != nil {
			if s, ok := n.str(); ok {
				d.Name = s
			} else {
				ps.add(file, n.at, "name", "name must be a string")
			}
		}
	}
	return d, len(ps.list) == before
}

// decoder turns a tree into a Flow, recording where each field was written.
type decoder struct {
	file string
	ps   *problems
	f    *Flow
}

func (d *decoder) add(n *node, path, format string, args ...any) {
	d.ps.add(d.file, n.at, path, format, args...)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields checks that n is a mapping with only the given keys and returns
// its present, non-null values by key.
func (d *decoder) fields(n *node, path string, allowed ...string) map[string]*node {
	if n.kind != kindMap {
		d.add(n, path, "must be a mapping with %s, not a %s", strings.Join(allowed, ", "), kindName(n.kind))
		return nil
	}
	d.f.pos[path] = n
	out := make(map[string]*node, len(n.keys))
	for i, k := range n.keys {
		if !contains(allowed, k.text) {
			msg := fmt.Sprintf("unknown field `%s`", k.text)
			if s := suggest(k.text, allowed); s != "" {
				msg += fmt.Sprintf("; did you mean `%s`?", s)
			} else {
				msg += fmt.Sprintf("; expected one of %s", strings.Join(allowed, ", "))
			}
			d.add(k, join(path, k.text), "%s", msg)
			continue
		}
		v := n.vals[i]
		if v.kind == kindNull {
			continue
		}
		d.f.pos[join(path, k.text)] = v
		out[k.text] = v
	}
	return out
}

// str reads a string field; identifiers, types and URLs must be strings.
func (d *decoder) str(n *node, path string) string {
	if n == nil {
		return ""
	}
	s, ok := n.str()
	if !ok {
		d.add(n, path, "must be a string, not %s; quote it", describe(n))
	}
	return s
}

// text reads a field whose value is text of any scalar (CEL expressions and
// header values), so that `when: true` or `X-Retries: 3` read as written.
func (d *decoder) text(n *node, path string) string {
	if n == nil {
		return ""
	}
	if n.kind != kindScalar {
		d.add(n, path, "must be a string, not a %s; quote it", kindName(n.kind))
		return ""
	}
	return n.text
}

func (d *decoder) integer(n *node, path string) (int, bool) {
	if n == nil {
		return 0, false
	}
	switch v := n.value.(type) {
	case int64:
		if v >= -1<<31 && v < 1<<31 {
			return int(v), true
		}
	case uint64:
		if v < 1<<31 {
			return int(v), true
		}
	}
	// The default is kept so that validation does not report it twice.
	d.add(n, path, "must be an integer, not %s", describe(n))
	return 0, false
}

func (d *decoder) duration(n *node, path string) (time.Duration, bool) {
	if n == nil {
		return 0, false
	}
	s, ok := n.str()
	if !ok {
		d.add(n, path, "must be a duration with a unit such as 500ms, 10s or 5m, not %s", describe(n))
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.add(n, path, "%q is not a duration; write one with a unit such as 500ms, 10s or 5m", s)
		return 0, false
	}
	return v, true
}

func describe(n *node) string {
	if n.kind == kindScalar {
		switch n.value.(type) {
		case string:
			return fmt.Sprintf("the string %q", n.text)
		case bool:
			return "a boolean " + n.text
		default:
			return "the number " + n.text
		}
	}
	return "a " + kindName(n.kind)
}

func decodeFlow(file string, t *node, ps *problems) *Flow {
	f := &Flow{Kind: KindFlow, file: file, pos: map[string]*node{}}
	d := &decoder{file: file, ps: ps, f: f}
	top := d.fields(t, "", "kind", "name", "description", "on", "concurrency", "steps")
	f.Name = d.str(top["name"], "name")
	f.Description = d.str(top["description"], "description")
	if on := top["on"]; on != nil {
		o := d.fields(on, "on", "type", "source", "when")
		f.On.Type = d.str(o["type"], "on.type")
		f.On.Source = d.str(o["source"], "on.source")
		f.On.When = d.text(o["when"], "on.when")
	}
	f.Concurrency = DefaultConcurrency
	if c, ok := d.integer(top["concurrency"], "concurrency"); ok {
		f.Concurrency = c
	}
	if steps := top["steps"]; steps != nil {
		if steps.kind != kindSeq {
			d.add(steps, "steps", "must be a list of steps (- id: ...), not %s", describe(steps))
		} else {
			f.pos["steps"] = steps
			for i, sn := range steps.items {
				f.Steps = append(f.Steps, d.step(sn, fmt.Sprintf("steps[%d]", i)))
			}
		}
	}
	return f
}

func (d *decoder) step(n *node, path string) Step {
	var s Step
	m := d.fields(n, path, "id", "http", "emit", "retry")
	if m == nil {
		return s
	}
	s.ID = d.str(m["id"], path+".id")
	if hn := m["http"]; hn != nil {
		p := path + ".http"
		h := &HTTPStep{Method: DefaultMethod, Timeout: DefaultTimeout}
		hm := d.fields(hn, p, "method", "url", "headers", "body", "secret", "timeout")
		if v := hm["method"]; v != nil {
			h.Method = strings.ToUpper(d.str(v, p+".method"))
		}
		h.URL = d.str(hm["url"], p+".url")
		h.Body = d.text(hm["body"], p+".body")
		h.Secret = d.str(hm["secret"], p+".secret")
		if v, ok := d.duration(hm["timeout"], p+".timeout"); ok {
			h.Timeout = v
		}
		if hd := hm["headers"]; hd != nil {
			hp := p + ".headers"
			if hd.kind != kindMap {
				d.add(hd, hp, "must be a mapping of header names to values, not %s", describe(hd))
			} else {
				h.Headers = make(map[string]string, len(hd.keys))
				for i, k := range hd.keys {
					kp := hp + "." + k.text
					d.f.pos[kp] = hd.vals[i]
					if hd.vals[i].kind == kindNull {
						d.add(k, kp, "header %s has no value; give it one or remove it", k.text)
						continue
					}
					h.Headers[k.text] = d.text(hd.vals[i], kp)
				}
			}
		}
		s.HTTP = h
	}
	if en := m["emit"]; en != nil {
		p := path + ".emit"
		e := &EmitStep{}
		em := d.fields(en, p, "type", "data", "subject")
		e.Type = d.str(em["type"], p+".type")
		e.Data = d.text(em["data"], p+".data")
		e.Subject = d.text(em["subject"], p+".subject")
		s.Emit = e
	}
	s.Retry = Retry{Attempts: DefaultAttempts, Backoff: DefaultBackoff, Initial: DefaultInitial, Max: DefaultMax}
	if rn := m["retry"]; rn != nil {
		p := path + ".retry"
		rm := d.fields(rn, p, "attempts", "backoff", "initial", "max")
		if v, ok := d.integer(rm["attempts"], p+".attempts"); ok {
			s.Retry.Attempts = v
		}
		if v := rm["backoff"]; v != nil {
			s.Retry.Backoff = d.str(v, p+".backoff")
		}
		if v, ok := d.duration(rm["initial"], p+".initial"); ok {
			s.Retry.Initial = v
		}
		if v, ok := d.duration(rm["max"], p+".max"); ok {
			s.Retry.Max = v
		}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// suggest returns the candidate closest to s when it is close enough to be
// a typo (edit distance at most 2, and less than half of s).
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if d < bestD && d*2 <= len(s) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein (optimal string alignment)
// distance, so that a swap such as stpes/steps counts as one edit.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// at returns where path (or its nearest written ancestor) is in the file.
func (f *Flow) at(path string) pos {
	for f.pos != nil {
		if n, ok := f.pos[path]; ok {
			return n.at
		}
		if path == "" {
			break
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
	return pos{}
}

// sortedKeys returns the keys of m in order, for deterministic problems.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func hasTypoOf(m *node, key string) bool {
	for _, k := range m.keys {
		if suggest(k.text, []string{key}) == key {
			return true
		}
	}
	return false
}
