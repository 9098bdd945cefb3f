package flow

import (
	"slices"
	"strings"
	"sync"
)

// Matcher indexes compiled flows by namespace so that finding the flows an
// event triggers costs about the same for 10 flows as for 10,000: exact
// types are a map lookup; glob types are grouped by their literal prefix
// (the text before the first `*`), and only the groups whose prefix begins
// the event's type are tried; then the source glob; CEL runs last, on the
// few flows left.
//
// Match takes a read lock and may run from many goroutines; Put and Remove,
// which are rare, take the write lock.
type Matcher struct {
	mu  sync.RWMutex
	ns  map[string]*nsIndex
	len int
}

type nsIndex struct {
	byName map[string]*Compiled
	exact  map[string][]*Compiled // by type
	globs  map[string][]*Compiled // by literal prefix of the type glob
	// prefixLens lists the lengths of the prefixes in globs (ascending),
	// so Match probes only lengths some glob has.
	prefixLens []int
	lenCount   map[int]int
}

// NewMatcher returns an empty Matcher.
func NewMatcher() *Matcher {
	return &Matcher{ns: map[string]*nsIndex{}}
}

// Len returns the number of flows held, over all namespaces.
func (m *Matcher) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.len
}

// Put adds c to namespace ns, replacing the flow of the same name.
func (m *Matcher) Put(ns string, c *Compiled) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.ns[ns]
	if idx == nil {
		idx = &nsIndex{byName: map[string]*Compiled{}, exact: map[string][]*Compiled{}, globs: map[string][]*Compiled{}, lenCount: map[int]int{}}
		m.ns[ns] = idx
	}
	if old := idx.byName[c.Flow.Name]; old != nil {
		idx.remove(old)
		m.len--
	}
	idx.byName[c.Flow.Name] = c
	m.len++
	t := c.Flow.On.Type
	star := strings.IndexByte(t, '*')
	if star < 0 {
		idx.exact[t] = append(idx.exact[t], c)
		return
	}
	prefix := t[:star]
	idx.globs[prefix] = append(idx.globs[prefix], c)
	if idx.lenCount[star]++; idx.lenCount[star] == 1 {
		i, _ := slices.BinarySearch(idx.prefixLens, star)
		idx.prefixLens = slices.Insert(idx.prefixLens, i, star)
	}
}

// Remove deletes the flow named name from namespace ns, if there.
func (m *Matcher) Remove(ns, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.ns[ns]
	if idx == nil {
		return
	}
	if old := idx.byName[name]; old != nil {
		idx.remove(old)
		m.len--
		if len(idx.byName) == 0 {
			delete(m.ns, ns)
		}
	}
}

func (idx *nsIndex) remove(c *Compiled) {
	delete(idx.byName, c.Flow.Name)
	t := c.Flow.On.Type
	star := strings.IndexByte(t, '*')
	if star < 0 {
		idx.exact[t] = without(idx.exact[t], c)
		if len(idx.exact[t]) == 0 {
			delete(idx.exact, t)
		}
		return
	}
	prefix := t[:star]
	idx.globs[prefix] = without(idx.globs[prefix], c)
	if len(idx.globs[prefix]) == 0 {
		delete(idx.globs, prefix)
	}
	if idx.lenCount[star]--; idx.lenCount[star] == 0 {
		delete(idx.lenCount, star)
		if i, found := slices.BinarySearch(idx.prefixLens, star); found {
			idx.prefixLens = slices.Delete(idx.prefixLens, i, i+1)
		}
	}
}

// without removes c from list in place: safe, since it runs under the write
// lock and Match holds no reference to the slice beyond its read lock.
func without(list []*Compiled, c *Compiled) []*Compiled {
	return slices.DeleteFunc(list, func(e *Compiled) bool { return e == c })
}

// Match returns the flows of namespace ns whose trigger matches in, sorted
// by name. A flow whose on.when fails to evaluate does not match (Explain
// reports the error).
func (m *Matcher) Match(ns string, in *Input) []*Compiled {
	m.mu.RLock()
	defer m.mu.RUnlock()
	idx := m.ns[ns]
	if idx == nil {
		return nil
	}
	var out []*Compiled
	try := func(c *Compiled, typeChecked bool) {
		on := &c.Flow.On
		if !typeChecked && !Glob(on.Type, in.typ) {
			return
		}
		if on.Source != "" && !Glob(on.Source, in.source) {
			return
		}
		if ok, err := c.evalWhen(in); ok && err == nil {
			out = append(out, c)
		}
	}
	for _, c := range idx.exact[in.typ] {
		try(c, true)
	}
	for _, n := range idx.prefixLens {
		if n > len(in.typ) {
			break
		}
		for _, c := range idx.globs[in.typ[:n]] {
			try(c, false)
		}
	}
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b *Compiled) int { return strings.Compare(a.Flow.Name, b.Flow.Name) })
	}
	return out
}

// MayMatch reports whether some flow of ns has a type pattern that matches
// typ: a cheap test, before decoding an event for Match, that most events
// of a busy log fail.
func (m *Matcher) MayMatch(ns, typ string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	idx := m.ns[ns]
	if idx == nil {
		return false
	}
	if len(idx.exact[typ]) > 0 {
		return true
	}
	for _, n := range idx.prefixLens {
		if n > len(typ) {
			break
		}
		for _, c := range idx.globs[typ[:n]] {
			if Glob(c.Flow.On.Type, typ) {
				return true
			}
		}
	}
	return false
}
