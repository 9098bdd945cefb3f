package flow

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"order.placed", "order.placed", true},
		{"order.placed", "order.placedx", false},
		{"order.*", "order.placed", true},
		{"order.*", "order.", true},
		{"order.*", "order", false},
		{"order.*", "order.eu.placed", true},
		{"*", "", true},
		{"*", "anything/at.all", true},
		{"/shop/*", "/shop/eu/1", true},
		{"/shop/*", "/shops", false},
		{"*.placed", "order.placed", true},
		{"*.placed", "order.placed.late", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"a**c", "ac", true},
		{"a?c", "abc", false},
		{"a[bc]", "ab", false},
		{"a[bc]", "a[bc]", true},
		{"é*ü", "éaü", true},
		{"", "", true},
		{"", "x", false},
	} {
		require.Equal(t, tc.want, Glob(tc.pattern, tc.s), "Glob(%q, %q)", tc.pattern, tc.s)
	}
}

func compiled(t testing.TB, name, typ, source, when string) *Compiled {
	t.Helper()
	c, err := Compile(&Flow{Name: name, On: Trigger{Type: typ, Source: source, When: when}, Steps: []Step{{ID: "s", Emit: &EmitStep{Type: "out.x"}}}})
	require.NoError(t, err)
	return c
}

func names(cs []*Compiled) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Flow.Name
	}
	return out
}

func TestMatcher(t *testing.T) {
	t.Parallel()
	m := NewMatcher()
	m.Put("default", compiled(t, "exact", "order.placed", "", ""))
	m.Put("default", compiled(t, "glob", "order.*", "", ""))
	m.Put("default", compiled(t, "any", "*", "/shop/*", ""))
	m.Put("default", compiled(t, "big", "order.placed", "", "event.data.total > 1000"))
	m.Put("default", compiled(t, "broken", "order.placed", "", "event.data.missing > 1"))
	m.Put("other", compiled(t, "exact", "order.placed", "", ""))
	require.Equal(t, 6, m.Len())

	in := mustInput(t, `{"type":"order.placed","source":"/shop/eu","data":{"total":1200}}`)
	require.Equal(t, []string{"any", "big", "exact", "glob"}, names(m.Match("default", in)))
	require.Equal(t, []string{"exact"}, names(m.Match("other", in)))
	require.Empty(t, m.Match("nobody", in))

	small := mustInput(t, `{"type":"order.placed","source":"/crm","data":{"total":5}}`)
	require.Equal(t, []string{"exact", "glob"}, names(m.Match("default", small)))

	// Put replaces by name, also when the type changes.
	m.Put("default", compiled(t, "exact", "user.created", "", ""))
	require.Equal(t, 6, m.Len())
	require.Equal(t, []string{"any", "big", "glob"}, names(m.Match("default", in)))
	m.Put("default", compiled(t, "glob", "user.*", "", ""))
	require.Equal(t, []string{"any", "big"}, names(m.Match("default", in)))

	m.Remove("default", "big")
	m.Remove("default", "nothing")
	m.Remove("nowhere", "big")
	require.Equal(t, 5, m.Len())
	require.Equal(t, []string{"any"}, names(m.Match("default", in)))
	m.Remove("other", "exact")
	require.Equal(t, 4, m.Len())
	require.Empty(t, m.Match("other", in))
}

// fillMatcher puts n flows into one namespace: half with exact types, half
// with globs under 100 different prefixes, a tenth with a condition; every
// event type matches a handful of them.
func fillMatcher(t testing.TB, n int) *Matcher {
	m := NewMatcher()
	for i := range n {
		name := fmt.Sprintf("flow-%05d", i)
		var c *Compiled
		switch i % 4 {
		case 0:
			c = compiled(t, name, fmt.Sprintf("svc%d.thing%d.created", i%100, i), "", "")
		case 1:
			c = compiled(t, name, fmt.Sprintf("svc%d.thing%d.*", i%100, i), "/src/*", "")
		case 2:
			c = compiled(t, name, fmt.Sprintf("svc%d.thing%d.updated", i%100, i), "", "event.data.total > 1000")
		default:
			c = compiled(t, name, fmt.Sprintf("svc%d.*.deleted", i%100), "", "")
		}
		m.Put("default", c)
	}
	return m
}

func TestMatcher10000(t *testing.T) {
	t.Parallel()
	m := fillMatcher(t, 10000)
	require.Equal(t, 10000, m.Len())
	in := mustInput(t, `{"type":"svc4.thing4.created","source":"/src/a","data":{"total":5}}`)
	require.Equal(t, []string{"flow-00004"}, names(m.Match("default", in)))
	in = mustInput(t, `{"type":"svc1.thing1.anything","source":"/src/a"}`)
	require.Equal(t, []string{"flow-00001"}, names(m.Match("default", in)))
	in = mustInput(t, `{"type":"svc1.thing1.anything","source":"/elsewhere"}`)
	require.Empty(t, m.Match("default", in))
	in = mustInput(t, `{"type":"svc3.whatever.deleted"}`)
	require.Len(t, m.Match("default", in), 100, "svc3.*.deleted: flows 3, 103, ..., 9903")

	// Against brute force over every flow.
	for _, typ := range []string{"svc7.thing7.created", "svc5.thing5.deleted", "svc2.thing2.updated", "svc13.thing1213.x", "nothing"} {
		in := mustInput(t, `{"type":"`+typ+`","source":"/src/a","data":{"total":5000}}`)
		var want []string
		m.mu.RLock()
		for _, idx := range m.ns {
			for name, c := range idx.byName {
				if ok, err := c.Matches(in); ok && err == nil {
					want = append(want, name)
				}
			}
		}
		m.mu.RUnlock()
		got := names(m.Match("default", in))
		require.ElementsMatch(t, want, got, typ)
		require.IsIncreasing(t, got, typ)
	}
}

// Match runs from many goroutines while flows are replaced: the race
// detector checks the locking.
func TestMatcherConcurrent(t *testing.T) {
	t.Parallel()
	m := fillMatcher(t, 200)
	in := mustInput(t, `{"type":"svc1.thing1.created","source":"/src/a","data":{"total":5000}}`)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 {
					m.Put("default", compiled(t, fmt.Sprintf("flow-%05d", i), "svc1.*", "", "event.data.total > 1"))
					continue
				}
				require.NotEmpty(t, m.Match("default", in))
			}
		}()
	}
	wg.Wait()
}

func benchmarkMatch(b *testing.B, n int) {
	m := fillMatcher(b, n)
	// The type matches flows only when n is large enough to hold them, so
	// both sizes do the same lookups and at most a few evaluations.
	in := mustInput(b, `{"type":"svc2.thing2.updated","source":"/src/a","data":{"total":5000}}`)
	b.ReportAllocs()
	for b.Loop() {
		m.Match("default", in)
	}
}

func BenchmarkMatch10(b *testing.B)    { benchmarkMatch(b, 10) }
func BenchmarkMatch10000(b *testing.B) { benchmarkMatch(b, 10000) }

func BenchmarkNewInput(b *testing.B) {
	ev := []byte(`{"specversion":"1.0","id":"e1","source":"/shop/eu","type":"order.placed","subject":"order-1","time":"2024-01-02T03:04:05Z","data":{"total":1200,"items":[{"sku":"a","qty":2},{"sku":"b","qty":1}],"customer":{"id":"c1","tier":"gold"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewInput(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMayMatch(t *testing.T) {
	m := NewMatcher()
	for _, typ := range []string{"order.placed", "invoice.*"} {
		f := &Flow{Name: strings.ReplaceAll(strings.TrimSuffix(typ, ".*"), ".", "-"), On: Trigger{Type: typ}, Steps: []Step{{ID: "a", Emit: &EmitStep{Type: "x", Data: "{}"}}}}
		c, err := Compile(f)
		if err != nil {
			t.Fatal(err)
		}
		m.Put("ns", c)
	}
	for typ, want := range map[string]bool{"order.placed": true, "order.shipped": false, "invoice.sent": true, "invoice": false, "": false} {
		if got := m.MayMatch("ns", typ); got != want {
			t.Errorf("MayMatch(%q) = %v, want %v", typ, got, want)
		}
	}
	if m.MayMatch("other", "order.placed") {
		t.Error("another namespace's flows matched")
	}
}
