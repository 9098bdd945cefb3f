package compat

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// checker proves one direction: every instance valid under the narrower
// schema is valid under the wider one.
type checker struct {
	pair
	dir        string // "backward" or "forward"
	newIsWider bool   // backward: the new version is the wider one
	wVer, nVer int
	seen       map[string]bool
	changes    []Change
}

// compare runs covers(wider, narrower) on two documents.
func compare(wider, narrower any, newIsWider bool, wVer, nVer int) []Change {
	c := &checker{
		pair:       newPair(wider, narrower),
		newIsWider: newIsWider,
		wVer:       wVer,
		nVer:       nVer,
		seen:       map[string]bool{},
		dir:        string(Forward),
	}
	if newIsWider {
		c.dir = string(Backward)
	}
	c.covers(loc{v: wider}, loc{v: narrower}, "", "")
	return c.changes
}

// pick chooses the wording of a change by which version is the wider one:
// ifNew when the new version rejects what the old accepted, ifOld when the
// new version accepts what the old rejected.
func (c *checker) pick(ifNew, ifOld string) string {
	if c.newIsWider {
		return ifNew
	}
	return ifOld
}

// oldNew orders a wider and a narrower text as old, new.
func (c *checker) oldNew(w, n string) (string, string) {
	if c.newIsWider {
		return n, w
	}
	return w, n
}

// breaks records a change that rejects events valid under the narrower
// version. hidden, when set, names a constraint of the narrower version the
// checker cannot see through, which might already exclude those events: the
// break is then only unprovable.
func (c *checker) breaks(path, hidden, what string) {
	if hidden != "" {
		c.changes = append(c.changes, Change{
			Path:       path,
			Message:    fmt.Sprintf("%s: events valid under version %d may be rejected by version %d (cannot prove it either way: version %d also constrains this value with %s, which the checker does not compare; register with ?force=true if you are sure)", what, c.nVer, c.wVer, c.nVer, hidden),
			Direction:  c.dir,
			Unprovable: true,
		})
		return
	}
	c.changes = append(c.changes, Change{
		Path:      path,
		Message:   fmt.Sprintf("%s: events valid under version %d would be rejected by version %d", what, c.nVer, c.wVer),
		Direction: c.dir,
	})
}

// unprovable records a difference the checker does not reason about.
func (c *checker) unprovable(path, what, why string) {
	at := path
	if at == "" {
		at = "the root"
	}
	c.changes = append(c.changes, Change{
		Path:       path,
		Message:    fmt.Sprintf("cannot prove %s at %s compatible: %s, so events valid under version %d may be rejected by version %d; register with ?force=true if you are sure", what, at, why, c.nVer, c.wVer),
		Direction:  c.dir,
		Unprovable: true,
	})
}

// trivial reports a schema that accepts everything: true, {} or only
// annotations.
func (c *checker) trivial(d document, l loc) bool {
	l = d.deref(l)
	m, ok := schemaObject(l.v)
	if !ok {
		return false
	}
	for k := range m {
		if !annotation(k) {
			return false
		}
	}
	return true
}

func isFalse(d document, l loc) bool {
	return d.deref(l).v == false
}

// covers records every way in which an instance valid under n may be
// rejected by w. path is where both sit; hidden is inherited from an
// enclosing narrower schema (see breaks).
func (c *checker) covers(w, n loc, path, hidden string) {
	w, n = c.w.deref(w), c.n.deref(n)
	key := w.ptr + "\x00" + n.ptr + "\x00" + hidden
	if c.seen[key] {
		return // reported already, or being compared further up a recursive schema
	}
	c.seen[key] = true
	if !c.noShortcut && c.sameSchema(w, n) {
		return
	}
	wm, wok := schemaObject(w.v)
	nm, nok := schemaObject(n.v)
	switch {
	case c.trivial(c.w, w), n.v == false:
		return
	case !nok:
		c.unprovable(path, "the schema of version "+strconv.Itoa(c.nVer), "it is neither an object nor a boolean")
		return
	case !wok:
		c.unprovable(path, "the schema of version "+strconv.Itoa(c.wVer), "it is neither an object nor a boolean")
		return
	case w.v == false:
		c.breaks(path, hidden, c.pick("the schema became `false`, which rejects every value", "the schema was `false` and now accepts values"))
		return
	}

	// Constraints of n the checker does not see through: a break found
	// below is then only unprovable.
	for _, k := range sortedKeys(nm) {
		if hidden != "" {
			break
		}
		if !annotation(k) && (!handled[k] || !wellFormed(k, nm[k])) {
			hidden = fmt.Sprintf("`%s` at %s", k, pathText(path))
		}
	}

	if vals, ok := finite(nm); ok {
		c.values(w, n, vals, path, hidden)
		return
	}

	// Keywords the checker does not compare must be equal.
	for _, k := range sortedKeys(wm) {
		if annotation(k) || (handled[k] && wellFormed(k, wm[k])) {
			continue
		}
		if k == "then" || k == "else" {
			if _, ok := wm["if"]; !ok {
				continue // ignored without "if"
			}
		}
		if _, ok := nm[k]; ok && k != "unevaluatedProperties" && k != "unevaluatedItems" && c.sameKeyword(k, w.child(k), n.child(k)) {
			continue
		}
		why := fmt.Sprintf("the versions differ and the checker does not compare `%s`", k)
		if handled[k] {
			why = fmt.Sprintf("`%s` is malformed in version %d", k, c.wVer)
		}
		c.unprovable(path, "`"+k+"`", why)
	}

	if ev, ok := wm["enum"]; ok && wellFormed("enum", ev) {
		c.breaks(path, hidden, c.pick("`enum` "+render(ev)+" was added", "`enum` "+render(ev)+" was removed"))
	}
	if cv, ok := wm["const"]; ok {
		c.breaks(path, hidden, c.pick("`const: "+render(cv)+"` was added", "`const: "+render(cv)+"` was removed"))
	}

	nt, wt := typesOf(nm), typesOf(wm)
	if lost := nt &^ wt; lost != 0 {
		what := "type " + lost.String() + " is" + c.pick(" no longer allowed", " now allowed")
		switch {
		case lost.plural():
			what = "types " + lost.String() + " are" + c.pick(" no longer allowed", " now allowed")
		case lost == kFraction:
			what = c.pick("non-integer numbers are no longer allowed (`number` became `integer`)", "non-integer numbers are now allowed (`integer` became `number`)")
		}
		c.breaks(path, hidden, what)
	}
	t := nt & wt
	if t&kNumber != 0 {
		c.numbers(wm, nm, t, path, hidden)
	}
	if t&kString != 0 {
		c.strings(wm, nm, path, hidden)
	}
	if t&kObject != 0 {
		c.objects(w, n, path, hidden)
	}
	if t&kArray != 0 {
		c.arrays(w, n, path, hidden)
	}
}

func pathText(path string) string {
	if path == "" {
		return "the root"
	}
	return path
}

// finite returns the values a schema allows when it lists them (`enum`,
// `const`) or its types have only finitely many (null, boolean).
func finite(m map[string]any) ([]any, bool) {
	if cv, ok := m["const"]; ok {
		return []any{cv}, true
	}
	if ev, ok := m["enum"].([]any); ok {
		return ev, true
	}
	t := typesOf(m)
	if t == 0 || t&^(kNull|kBoolean) != 0 {
		return nil, false
	}
	var vals []any
	if t&kNull != 0 {
		vals = append(vals, nil)
	}
	if t&kBoolean != 0 {
		vals = append(vals, false, true)
	}
	return vals, true
}

// values tries each value n allows against w.
func (c *checker) values(w, n loc, vals []any, path, hidden string) {
	var lost, unsure []string
	seen := map[string]bool{}
	for _, v := range vals {
		text := render(v)
		if seen[text] {
			continue
		}
		seen[text] = true
		inN := c.n.validate(n, v, 0)
		if inN == rejected {
			continue
		}
		switch c.w.validate(w, v, 0) {
		case rejected:
			if inN == unknown && hidden == "" {
				unsure = append(unsure, text)
			} else {
				lost = append(lost, text)
			}
		case unknown:
			unsure = append(unsure, text)
		}
	}
	if len(lost) > 0 {
		noun := "value " + lost[0] + " is"
		if len(lost) > 1 {
			noun = "values " + strings.Join(lost, ", ") + " are"
		}
		c.breaks(path, hidden, noun+c.pick(" no longer allowed", " now allowed"))
	}
	if len(unsure) > 0 {
		c.unprovable(path, "value(s) "+strings.Join(unsure, ", "), fmt.Sprintf("version %d allows them and the checker cannot evaluate every keyword of version %d on them", c.nVer, c.wVer))
	}
}

func (c *checker) numbers(wm, nm map[string]any, t kinds, path, hidden string) {
	intOnly := t&kFraction == 0
	for _, lower := range []bool{true, false} {
		wb, nb := numberBound(wm, lower), numberBound(nm, lower)
		cw, cn := wb, nb
		if intOnly {
			cw, cn = wb.asIntegers(lower), nb.asIntegers(lower)
		}
		if !within(cw, cn, lower) {
			c.breaks(path, hidden, changed(c.oldNew(wb.text, nb.text)))
		}
	}
	wmul, ok := rat(wm["multipleOf"])
	if !ok || wmul.Sign() <= 0 {
		return
	}
	nmul, ok := rat(nm["multipleOf"])
	if !ok || nmul.Sign() <= 0 {
		nmul = nil
		if intOnly {
			nmul = big.NewRat(1, 1)
		}
	}
	if nmul != nil && new(big.Rat).Quo(nmul, wmul).IsInt() {
		return
	}
	text := func(m map[string]any) string {
		if _, ok := m["multipleOf"]; !ok {
			return ""
		}
		return "`multipleOf: " + render(m["multipleOf"]) + "`"
	}
	c.breaks(path, hidden, changed(c.oldNew(text(wm), text(nm))))
}

func (c *checker) strings(wm, nm map[string]any, path, hidden string) {
	// A pattern or format of n may already bound lengths.
	local := hidden
	for _, k := range []string{"pattern", "format"} {
		if _, ok := nm[k]; ok && local == "" && !jsonEqual(nm[k], wm[k]) {
			local = fmt.Sprintf("`%s` at %s", k, pathText(path))
		}
	}
	c.counts(wm, nm, "minLength", "maxLength", path, local)
	for _, k := range []string{"pattern", "format"} {
		wv, ok := wm[k].(string)
		if !ok {
			continue
		}
		nv, ok := nm[k].(string)
		switch {
		case !ok:
			c.breaks(path, local, fmt.Sprintf("`%s: %s` was %s", k, render(wv), c.pick("added", "removed")))
		case nv != wv:
			old, new := c.oldNew(render(wv), render(nv))
			c.unprovable(path, "`"+k+"`", fmt.Sprintf("it changed from %s to %s and the checker compares %ss only for equality", old, new, k))
		}
	}
}

// counts compares a pair of minimum and maximum count keywords.
func (c *checker) counts(wm, nm map[string]any, minK, maxK, path, hidden string) {
	text := func(m map[string]any, k string) string {
		if _, ok := m[k]; !ok {
			return ""
		}
		return "`" + k + ": " + render(m[k]) + "`"
	}
	wmin, _ := count(wm[minK])
	nmin, _ := count(nm[minK])
	if wmin > nmin {
		c.breaks(path, hidden, changed(c.oldNew(text(wm, minK), text(nm, minK))))
	}
	wmax, wok := count(wm[maxK])
	nmax, nok := count(nm[maxK])
	if wok && (!nok || nmax > wmax) {
		c.breaks(path, hidden, changed(c.oldNew(text(wm, maxK), text(nm, maxK))))
	}
}

func stringsOf(v any) []string {
	a, _ := v.([]any)
	var out []string
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (c *checker) objects(w, n loc, path, hidden string) {
	wm, _ := schemaObject(w.v)
	nm, _ := schemaObject(n.v)

	nreq := map[string]bool{}
	for _, name := range stringsOf(nm["required"]) {
		nreq[name] = true
	}
	done := map[string]bool{}
	for _, name := range stringsOf(wm["required"]) {
		if nreq[name] || done[name] {
			continue
		}
		done[name] = true
		c.breaks(path+"/properties/"+escape(name), hidden, c.pick("property `"+name+"` became required", "property `"+name+"` is no longer required"))
	}
	c.counts(wm, nm, "minProperties", "maxProperties", path, hidden)

	// patternProperties also exempt the names they match from
	// additionalProperties, so on the narrower side they widen as much as
	// they constrain.
	wpp, npp := w.child("patternProperties"), n.child("patternProperties")
	samePP := (wpp.v == nil) == (npp.v == nil) && (wpp.v == nil || c.sameKeyword("patternProperties", wpp, npp))
	switch wap := w.child("additionalProperties"); {
	case samePP:
	case wpp.v != nil || (wap.v != nil && !c.trivial(c.w, wap)):
		c.unprovable(path+"/patternProperties", "`patternProperties`", "the versions differ and the checker compares `patternProperties` only for equality")
	case hidden == "":
		hidden = "`patternProperties` at " + pathText(path)
	}

	wprops, _ := wm["properties"].(map[string]any)
	nprops, _ := nm["properties"].(map[string]any)
	names := map[string]bool{}
	for k := range wprops {
		names[k] = true
	}
	for k := range nprops {
		names[k] = true
	}
	for _, name := range sortedKeys(names) {
		p := path + "/properties/" + escape(name)
		sw, wFrom := c.property(c.w, w, name)
		sn, nFrom := c.property(c.n, n, name)
		phidden := hidden
		if nFrom == fromPattern && phidden == "" {
			phidden = "`patternProperties` at " + pathText(path)
		}
		switch {
		case isFalse(c.n, sn):
		case isFalse(c.w, sw):
			why := ""
			if wFrom == fromAdditional {
				why = fmt.Sprintf(" (version %d does not declare it and has `additionalProperties: false`)", c.wVer)
			}
			c.breaks(p, hidden, c.pick("property `"+name+"` is no longer allowed", "property `"+name+"` is now allowed")+why)
		case nFrom == fromAdditional && c.trivial(c.n, sn):
			// n accepts any value here; say so once rather than list
			// every keyword of w as a separate break.
			mark := len(c.changes)
			c.covers(sw, sn, p, hidden)
			proven := false
			for _, ch := range c.changes[mark:] {
				proven = proven || !ch.Unprovable
			}
			if proven {
				c.changes = c.changes[:mark]
				c.breaks(p, hidden, c.pick(
					fmt.Sprintf("property `%s` was added with constraints, but version %d accepts any value for it (it is not declared and `additionalProperties` is not false)", name, c.nVer),
					fmt.Sprintf("property `%s` was removed from `properties`, so version %d accepts any value for it (`additionalProperties` is not false), which version %d constrains", name, c.nVer, c.wVer)))
			}
		default:
			c.covers(sw, sn, p, phidden)
		}
	}

	wap, nap := w.child("additionalProperties"), n.child("additionalProperties")
	if wap.v == nil {
		return
	}
	if nap.v == nil {
		nap = trueLoc
	}
	p := path + "/additionalProperties"
	switch {
	case isFalse(c.n, nap):
	case isFalse(c.w, wap):
		c.breaks(p, hidden, c.pick("undeclared properties are no longer allowed (`additionalProperties` became false)", "undeclared properties are now allowed (`additionalProperties` was false)"))
	default:
		c.covers(wap, nap, p, hidden)
	}
}

// Where the schema a side applies to a property comes from.
const (
	fromProperties = iota
	fromPattern
	fromAdditional
)

// property is the schema a side applies to a property name, and where it
// comes from. A name matched by patternProperties is taken as unconstrained:
// on the wider side that is safe because equal patternProperties apply on
// both sides and different ones are reported; on the narrower side it makes
// a break found there unprovable.
func (c *checker) property(d document, obj loc, name string) (loc, int) {
	obj = d.deref(obj)
	if s := obj.child("properties").child(name); s.v != nil {
		return s, fromProperties
	}
	if pp, ok := obj.child("patternProperties").v.(map[string]any); ok {
		for p := range pp {
			if match(p, name) != rejected {
				return trueLoc, fromPattern
			}
		}
	}
	if ap := obj.child("additionalProperties"); ap.v != nil {
		return ap, fromAdditional
	}
	return trueLoc, fromAdditional
}

// tuple is an array schema as positional schemas and the schema for the
// rest, from 2020-12 prefixItems/items or draft-07 items (array) and
// additionalItems.
type tuple struct {
	prefix     []loc
	prefixPath string // "/prefixItems" or "/items"
	rest       loc
	restPath   string
}

func tupleOf(l loc) tuple {
	m, _ := schemaObject(l.v)
	t := tuple{prefixPath: "/prefixItems", rest: trueLoc, restPath: "/items"}
	if items, ok := m["items"].([]any); ok {
		t.prefixPath = "/items"
		for i := range items {
			t.prefix = append(t.prefix, l.child("items").index(i))
		}
		if _, ok := m["additionalItems"]; ok {
			t.rest, t.restPath = l.child("additionalItems"), "/additionalItems"
		}
		return t
	}
	if prefix, ok := m["prefixItems"].([]any); ok {
		for i := range prefix {
			t.prefix = append(t.prefix, l.child("prefixItems").index(i))
		}
	}
	if _, ok := m["items"]; ok {
		t.rest = l.child("items")
	}
	return t
}

func (c *checker) arrays(w, n loc, path, hidden string) {
	wm, _ := schemaObject(w.v)
	nm, _ := schemaObject(n.v)
	wt, nt := tupleOf(w), tupleOf(n)
	for i := range max(len(wt.prefix), len(nt.prefix)) {
		sw, sn := wt.rest, nt.rest
		p := path + wt.restPath
		if i < len(nt.prefix) {
			sn, p = nt.prefix[i], path+nt.prefixPath+"/"+strconv.Itoa(i)
		}
		if i < len(wt.prefix) {
			sw, p = wt.prefix[i], path+wt.prefixPath+"/"+strconv.Itoa(i)
		}
		switch {
		case isFalse(c.n, sn):
		case isFalse(c.w, sw):
			c.breaks(p, hidden, c.pick(fmt.Sprintf("arrays with more than %d items are no longer allowed", i), fmt.Sprintf("arrays with more than %d items are now allowed", i)))
		default:
			c.covers(sw, sn, p, hidden)
		}
	}
	p := path + wt.restPath
	switch {
	case isFalse(c.n, nt.rest):
	case isFalse(c.w, wt.rest):
		c.breaks(p, hidden, c.pick(fmt.Sprintf("arrays with more than %d items are no longer allowed", len(wt.prefix)), fmt.Sprintf("arrays with more than %d items are now allowed", len(wt.prefix))))
	default:
		c.covers(wt.rest, nt.rest, p, hidden)
	}
	c.counts(wm, nm, "minItems", "maxItems", path, hidden)
	if wm["uniqueItems"] == true && nm["uniqueItems"] != true {
		c.breaks(path, hidden, c.pick("`uniqueItems: true` was added", "`uniqueItems: true` was removed"))
	}
}
