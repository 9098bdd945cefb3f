package compat

import (
	"fmt"
	"testing"
)

// FuzzCheck: any input, JSON or not, never panics; a document compared with
// itself is compatible in every mode, and stays free of proven breaks when
// every rule runs (no equality shortcut); backward from a to b is the same
// comparison as forward from b to a.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`), []byte(`{"type":"object","properties":{"a":{"type":["string","null"]}}}`))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		for _, mode := range []Mode{Backward, Forward, Full, None} {
			_, _ = Check(old, new, mode, 1, 2)
		}
		if doc, err := decode(old, 1); err == nil {
			for _, mode := range []Mode{Backward, Forward, Full, None} {
				changes, err := Check(old, old, mode, 1, 1)
				if err != nil || len(changes) > 0 {
					t.Fatalf("Check(x, x, %s) = %+v, %v; want compatible", mode, changes, err)
				}
			}
			for _, change := range compareNoShortcut(doc, doc) {
				if !change.Unprovable {
					t.Fatalf("a schema breaks itself without the equality shortcut: %+v", change)
				}
			}
		}
		back, err := Check(old, new, Backward, 1, 2)
		if err != nil {
			return
		}
		fwd, _ := Check(new, old, Forward, 2, 1)
		if summary(back) != summary(fwd) {
			t.Fatalf("backward a→b %s differs from forward b→a %s", summary(back), summary(fwd))
		}
	})
}

func compareNoShortcut(w, n any) []Change {
	c := &checker{pair: newPair(w, n), newIsWider: true, wVer: 1, nVer: 1, seen: map[string]bool{}, dir: "backward"}
	c.noShortcut = true
	c.covers(loc{v: w}, loc{v: n}, "", "")
	return c.changes
}

func summary(changes []Change) string {
	s := ""
	for _, c := range changes {
		s += fmt.Sprintf("%q/%v ", c.Path, c.Unprovable)
	}
	return s
}
