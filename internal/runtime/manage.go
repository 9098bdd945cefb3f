package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/store"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// Errors the API maps to statuses.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change does not apply to the thing's current state
	// (redriving a run that is not dead-lettered, say).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a flow that does not compile, with a *flow.Error inside.
	ErrInvalid = errors.New("invalid flow")
)

// ApplyResult says what applying a flow changed.
type ApplyResult struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	// Outcome is "created", "updated" or "unchanged".
	Outcome  string `json:"outcome"`
	Position uint64 `json:"position,omitempty"`
	// Changes lists the top-level parts of the definition that changed
	// ("on", "steps[1].http.url", ...), for updates.
	Changes []string `json:"changes,omitempty"`
}

// Apply stores a flow's definition as its next version, unless it is the
// same as the current one. The flow is active for every event appended
// after Apply returns.
func (rt *Runtime) Apply(ctx context.Context, ns string, f *flow.Flow) (ApplyResult, error) {
	return rt.applyFlowDef(ctx, ns, f, false)
}

// Plan says what Apply would do, changing nothing.
func (rt *Runtime) Plan(ctx context.Context, ns string, f *flow.Flow) (ApplyResult, error) {
	return rt.applyFlowDef(ctx, ns, f, true)
}

func (rt *Runtime) applyFlowDef(ctx context.Context, ns string, f *flow.Flow, dryRun bool) (ApplyResult, error) {
	if err := checkNoLiteralSecret(f); err != nil {
		return ApplyResult{}, err
	}
	c, err := flow.Compile(f)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	def := f.Canonical()
	hash := c.Hash()
	for attempt := 0; ; attempt++ {
		cur, err := rt.st.flow(ns, f.Name)
		if err != nil {
			return ApplyResult{}, err
		}
		res := ApplyResult{Name: f.Name, Outcome: "created", Version: 1}
		var streamVersion uint64
		if cur != nil {
			streamVersion = cur.StreamVersion
			if !cur.Deleted {
				if cur.Hash == hash {
					return ApplyResult{Name: f.Name, Version: cur.Version, Outcome: "unchanged"}, nil
				}
				res.Outcome = "updated"
				res.Changes = diffDefinitions(cur.Definition, def)
			}
			res.Version = cur.Version + 1
		}
		if dryRun {
			return res, nil
		}
		ev, err := flowEvent(ns, TypeFlowApplied, flowRecord{Name: f.Name, Version: res.Version, Hash: hash, Definition: def}, streamVersion)
		if err != nil {
			return ApplyResult{}, err
		}
		pos, err := rt.change(ctx, ns, ev)
		if errors.Is(err, eventlog.ErrWrongExpectedVersion) && attempt < 3 {
			// Another change of this flow, not applied by the engine yet:
			// wait for it and decide again.
			if err := rt.catchUp(ctx); err != nil {
				return ApplyResult{}, err
			}
			continue
		}
		if err != nil {
			return ApplyResult{}, err
		}
		res.Position = pos
		return res, nil
	}
}

// checkNoLiteralSecret refuses secrets written into a flow: the definition
// is stored in the log, where a secret must never be.
func checkNoLiteralSecret(f *flow.Flow) error {
	var probs []flow.Problem
	for i, s := range f.Steps {
		if s.HTTP != nil && s.HTTP.Secret != "" && !strings.HasPrefix(s.HTTP.Secret, "env:") {
			probs = append(probs, flow.Problem{Path: fmt.Sprintf("steps[%d].http.secret", i),
				Message: "a secret written in the flow would be stored in the log; put it in an environment variable of the server and write `secret: env:NAME`, or leave it out and sign with the flow's generated secret (`ensue flows secret " + f.Name + "`)"})
		}
	}
	if probs == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, &flow.Error{Problems: probs})
}

// change appends a flow change and waits until the engine has applied it.
func (rt *Runtime) change(ctx context.Context, ns string, ev *event.Event) (uint64, error) {
	res, errs := rt.cfg.Store.Append(ctx, ns, []*event.Event{ev})
	if err := errs[0]; err != nil {
		var ve *store.ConflictError
		if errors.As(err, &ve) {
			return 0, eventlog.ErrWrongExpectedVersion
		}
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, rt.cfg.WaitTimeout)
	defer cancel()
	return res[0].Position, rt.WaitApplied(wctx, res[0].Position)
}

// catchUp waits until the engine has applied the whole log as it is now.
func (rt *Runtime) catchUp(ctx context.Context) error {
	last, err := rt.cfg.Log.LastPosition(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, rt.cfg.WaitTimeout)
	defer cancel()
	return rt.WaitApplied(wctx, last)
}

// Delete removes a flow: it triggers no more runs; runs in progress finish.
func (rt *Runtime) Delete(ctx context.Context, ns, name string) error {
	return rt.setState(ctx, ns, name, TypeFlowDeleted)
}

// SetEnabled enables or disables a flow. A disabled flow triggers no runs;
// events appended while it is disabled never trigger it.
func (rt *Runtime) SetEnabled(ctx context.Context, ns, name string, enabled bool) error {
	typ := TypeFlowDisabled
	if enabled {
		typ = TypeFlowEnabled
	}
	return rt.setState(ctx, ns, name, typ)
}

func (rt *Runtime) setState(ctx context.Context, ns, name, typ string) error {
	for attempt := 0; ; attempt++ {
		cur, err := rt.st.flow(ns, name)
		if err != nil {
			return err
		}
		if cur == nil || cur.Deleted {
			return fmt.Errorf("%w: no flow %q in namespace %q", ErrNotFound, name, ns)
		}
		if (typ == TypeFlowEnabled && cur.Enabled) || (typ == TypeFlowDisabled && !cur.Enabled) {
			return nil
		}
		ev, err := flowEvent(ns, typ, flowRecord{Name: name}, cur.StreamVersion)
		if err != nil {
			return err
		}
		_, err = rt.change(ctx, ns, ev)
		if errors.Is(err, eventlog.ErrWrongExpectedVersion) && attempt < 3 {
			if err := rt.catchUp(ctx); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// Flow returns a flow's state.
func (rt *Runtime) Flow(ns, name string) (*FlowState, error) {
	f, err := rt.st.flow(ns, name)
	if err != nil {
		return nil, err
	}
	if f == nil || f.Deleted {
		return nil, fmt.Errorf("%w: no flow %q in namespace %q", ErrNotFound, name, ns)
	}
	return f, nil
}

// Flows lists a namespace's flows by name.
func (rt *Runtime) Flows(ns string) ([]FlowState, error) { return rt.st.flows(ns) }

// Explanation is the answer of Explain.
type Explanation struct {
	Flow    string `json:"flow"`
	Version uint64 `json:"version"`
	Enabled bool   `json:"enabled"`
	flow.Explanation
	// Note says why an event that matches would still not trigger.
	Note string `json:"note,omitempty"`
}

// Explain tells whether a flow's trigger matches an event (its JSON), and
// which condition failed if not.
func (rt *Runtime) Explain(ns, name string, eventJSON []byte) (*Explanation, error) {
	f, err := rt.Flow(ns, name)
	if err != nil {
		return nil, err
	}
	c, err := rt.compile(ns, name, f.Version, f.Definition)
	if err != nil {
		return nil, err
	}
	in, err := flow.NewInput(eventJSON)
	if err != nil {
		return nil, err
	}
	ex := &Explanation{Flow: name, Version: f.Version, Enabled: f.Enabled, Explanation: c.Explain(in)}
	switch {
	case strings.HasPrefix(in.Type(), event.ReservedTypePrefix):
		ex.Triggered = false
		ex.Note = "events of type ensue.* record Ensue's own work and never trigger flows"
	case !f.Enabled && ex.Triggered:
		ex.Triggered = false
		ex.Note = "the trigger matches, but the flow is disabled"
	}
	return ex, nil
}

// Secret generates the flow's signing secret and returns it; it is shown
// this once. With rotate false, a flow that has one already is refused
// (ErrConflict).
func (rt *Runtime) Secret(ctx context.Context, ns, name string, rotate bool) (string, error) {
	if _, err := rt.Flow(ns, name); err != nil {
		return "", err
	}
	if rt.cfg.Secrets == nil {
		return "", errors.New("this server keeps no generated secrets; use `secret: env:NAME` in the flow")
	}
	k := secretKey(ns, name)
	if !rotate {
		_, err := rt.cfg.Secrets.Get(ctx, k)
		if err == nil {
			return "", fmt.Errorf("%w: flow %q has a signing secret already, shown when it was made; rotate it to get a new one (the old one stops working)", ErrConflict, name)
		}
		if !errors.Is(err, ErrNoSecret) {
			return "", err
		}
	}
	s, err := webhook.GenerateSecret()
	if err != nil {
		return "", err
	}
	return s, rt.cfg.Secrets.Put(ctx, k, s)
}

// diffDefinitions names the parts of two canonical definitions that differ.
func diffDefinitions(old, cur []byte) []string {
	var a, b map[string]any
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(cur, &b) != nil {
		return nil
	}
	var out []string
	diffValue("", a, b, &out)
	return out
}

func diffValue(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffValue(p, am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			diffValue(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		*out = append(*out, path)
	}
}
