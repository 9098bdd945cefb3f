package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// RunFilter selects runs of a namespace.
type RunFilter struct {
	Flow          string
	Status        string
	CorrelationID string
	// DeadLettered lists only dead letters (faster than Status for them).
	DeadLettered bool
	// Limit bounds the page (default 100, at most 1000).
	Limit int
	// Cursor continues a previous page (the Next it returned).
	Cursor string
}

// RunPage is a page of runs, in trigger order per flow, flows by name.
type RunPage struct {
	Runs []Run `json:"runs"`
	// Next is the cursor of the following page, "" at the end.
	Next string `json:"next,omitempty"`
}

// Runs lists runs.
func (rt *Runtime) Runs(ns string, f RunFilter) (RunPage, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	kind := byte('r')
	if f.DeadLettered {
		kind = 'd'
	}
	prefix := append(key(kind, ns), 0)
	if f.Flow != "" {
		prefix = append(key(kind, ns, f.Flow), 0)
	}
	var after []byte
	if f.Cursor != "" {
		flowName, pos, ok := ParseRunID(f.Cursor)
		if !ok {
			return RunPage{}, fmt.Errorf("%w: cursor %q is not one this API returned", ErrInvalidCursor, f.Cursor)
		}
		after = keyPos(kind, ns, flowName, pos)
	}
	var page RunPage
	var ferr error
	err := rt.st.scan(prefix, after, func(_, v []byte) bool {
		var r Run
		if kind == 'd' {
			flowName, pos, ok := ParseRunID(string(v))
			if !ok {
				return true
			}
			got, err := rt.st.run(ns, flowName, pos)
			if err != nil || got == nil {
				ferr = err
				return err == nil
			}
			r = *got
		} else if ferr = json.Unmarshal(v, &r); ferr != nil {
			return false
		}
		if (f.Status != "" && r.Status != f.Status) || (f.CorrelationID != "" && r.CorrelationID != f.CorrelationID) {
			return true
		}
		if len(page.Runs) == f.Limit {
			page.Next = page.Runs[len(page.Runs)-1].ID
			return false
		}
		page.Runs = append(page.Runs, r)
		return true
	})
	if ferr != nil {
		return RunPage{}, ferr
	}
	if page.Runs == nil {
		page.Runs = []Run{}
	}
	return page, err
}

// ErrInvalidCursor: a cursor this API did not hand out.
var ErrInvalidCursor = fmt.Errorf("invalid cursor")

// Run returns one run.
func (rt *Runtime) Run(ns, id string) (*Run, error) {
	flowName, pos, ok := ParseRunID(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a run id (<flow>-<position>)", ErrNotFound, id)
	}
	r, err := rt.st.run(ns, flowName, pos)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: no run %q in namespace %q", ErrNotFound, id, ns)
	}
	return r, nil
}

// Redrive runs a dead-lettered run again from the step that failed, with
// a fresh budget of attempts and the same idempotency keys.
func (rt *Runtime) Redrive(ctx context.Context, ns, id string) (*Run, error) {
	return rt.resolveDead(ctx, ns, id, TypeRunRedriven)
}

// Discard closes a dead-lettered run for good.
func (rt *Runtime) Discard(ctx context.Context, ns, id string) (*Run, error) {
	return rt.resolveDead(ctx, ns, id, TypeRunDiscarded)
}

func (rt *Runtime) resolveDead(ctx context.Context, ns, id, typ string) (*Run, error) {
	r, err := rt.Run(ns, id)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusDeadLettered {
		return nil, fmt.Errorf("%w: run %s is %s, not dead_lettered", ErrConflict, id, r.Status)
	}
	n := r.Redrives + 1
	suffix := fmt.Sprintf("redriven/%d", n)
	if typ == TypeRunDiscarded {
		suffix = fmt.Sprintf("discarded/%d", n)
	}
	ev, err := runEvent(r, typ, suffix, runRecord{Redrive: n})
	if err != nil {
		return nil, err
	}
	if _, err := rt.change(ctx, ns, ev); err != nil {
		return nil, err
	}
	return rt.Run(ns, id)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
