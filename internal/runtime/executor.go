package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/store"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// stepFailure is a step that will not succeed by retrying: the run is
// dead-lettered with it.
type stepFailure struct {
	attempts int
	msg      string
	last     *webhook.Attempt
	request  *RequestSummary
}

func (f *stepFailure) Error() string { return f.msg }

// RequestSummary describes the HTTP request of a dead-lettered step.
type RequestSummary struct {
	Method string            `json:"method"`
	URL    string            `json:"url"`
	Header map[string]string `json:"headers,omitempty"`
	// Body is the request body, cut at 4 KiB.
	Body string `json:"body,omitempty"`
}

// execute runs a run's remaining steps. It returns when the run is
// completed, dead-lettered, or ctx is done (the run then resumes at the
// next start).
func (rt *Runtime) execute(ctx context.Context, run *Run) {
	if err := rt.runSteps(ctx, run); err != nil && ctx.Err() == nil {
		// Recording failed for good (not for a transient reason): the run
		// stays unfinished in the log and resumes at the next start.
		rt.log.Error("run stopped: its progress could not be recorded", "namespace", run.Namespace, "run", run.ID, "err", err)
	}
}

func (rt *Runtime) runSteps(ctx context.Context, run *Run) error {
	c, err := rt.compile(run.Namespace, run.Flow, run.FlowVersion, nil)
	if err != nil {
		return rt.deadLetter(ctx, run, "", &stepFailure{msg: fmt.Sprintf("flow %s version %d cannot run: %v", run.Flow, run.FlowVersion, err)}, nil)
	}
	in := run.input
	if in == nil {
		trig, err := rt.trigger(ctx, run)
		if err != nil {
			return err
		}
		if in, err = flow.NewInput(trig.Data); err != nil {
			return rt.deadLetter(ctx, run, "", &stepFailure{msg: fmt.Sprintf("the triggering event at position %d cannot be read: %v", run.Trigger.Position, err)}, nil)
		}
	}
	// Records are appended together where no effect comes between them:
	// one round trip to the log instead of one each.
	rec := &recorder{rt: rt, ns: run.Namespace}
	if run.StartedAt.IsZero() {
		ev, err := runEvent(run, TypeRunStarted, "started", runRecord{FlowVersion: run.FlowVersion, Trigger: &run.Trigger})
		if err != nil {
			return err
		}
		rec.later(ev)
	}
	steps := map[string]any{}
	for i, sd := range c.Flow.Steps {
		var st StepState
		for _, s := range run.Steps {
			if s.ID == sd.ID {
				st = s
			}
		}
		if st.Status == "succeeded" {
			steps[sd.ID] = map[string]any{"output": decodeJSON(st.Output)}
			continue
		}
		began := rt.cfg.Clock.Now()
		var out []byte
		var attempts int
		switch {
		case sd.HTTP != nil:
			// What succeeded before must be recorded before an effect.
			if err := rec.flush(ctx); err != nil {
				return err
			}
			out, attempts, err = rt.runHTTP(ctx, run, c, i, in, steps, st, rec)
		case sd.Emit != nil:
			out, err = rt.runEmit(ctx, run, c, i, in, steps, rec)
			attempts = 1
		default:
			err = &stepFailure{msg: fmt.Sprintf("step %s has nothing to do", sd.ID)}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var f *stepFailure
			if errors.As(err, &f) {
				return rt.deadLetter(ctx, run, sd.ID, f, rec)
			}
			return err
		}
		rt.metrics.stepSeconds.WithLabelValues(run.Namespace, run.Flow, sd.ID).Observe(rt.cfg.Clock.Now().Sub(began).Seconds())
		ev, err := runEvent(run, TypeRunStepSucceeded, fmt.Sprintf("step/%s/succeeded", sd.ID), runRecord{Step: sd.ID, Attempts: attempts, Output: out})
		if err != nil {
			return err
		}
		rec.later(ev)
		steps[sd.ID] = map[string]any{"output": decodeJSON(out)}
	}
	ev, err := runEvent(run, TypeRunCompleted, "completed", runRecord{})
	if err != nil {
		return err
	}
	if _, err := rec.now(ctx, ev); err != nil {
		return err
	}
	rt.metrics.succeeded.WithLabelValues(run.Namespace, run.Flow).Inc()
	return nil
}

// trigger reads the event that started a run.
func (rt *Runtime) trigger(ctx context.Context, run *Run) (store.Record, error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		rec, err := rt.cfg.Store.Get(ctx, run.Namespace, run.Trigger.Position)
		if err == nil {
			return rec, nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return rec, fmt.Errorf("the event at position %d that triggered run %s is gone: %w", run.Trigger.Position, run.ID, err)
		}
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-rt.cfg.Clock.After(wait):
		}
	}
}

func (rt *Runtime) runHTTP(ctx context.Context, run *Run, c *flow.Compiled, i int, in *flow.Input, steps map[string]any, st StepState, rec *recorder) ([]byte, int, error) {
	sd := c.Flow.Steps[i]
	h := sd.HTTP
	body, err := c.HTTPBody(i, in, steps)
	if err != nil {
		return nil, 0, &stepFailure{msg: fmt.Sprintf("step %s: body: %v", sd.ID, err)}
	}
	header := http.Header{}
	for k, v := range h.Headers {
		header.Set(k, v)
	}
	summary := &RequestSummary{Method: h.Method, URL: h.URL, Header: h.Headers, Body: string(body[:min(len(body), 4096)])}
	secret, err := rt.secretFor(ctx, run, sd.ID, h.Secret)
	if err != nil {
		var f *stepFailure
		if errors.As(err, &f) {
			f.request = summary
		}
		return nil, 0, err
	}
	key := run.ID + "/" + sd.ID
	req := webhook.Request{
		Method: h.Method, URL: h.URL, Header: header, Body: body,
		IdempotencyKey: key, MessageID: key, Secret: secret, Timeout: h.Timeout,
	}
	pol := webhook.Policy{Attempts: sd.Retry.Attempts, Backoff: sd.Retry.Backoff, Initial: sd.Retry.Initial, Max: sd.Retry.Max}
	attempts := st.Attempts
	resp, err := rt.deliver.Deliver(ctx, req, pol, st.Attempts, func(a webhook.Attempt) error {
		attempts = a.N
		if a.Error == "" && a.Status >= 200 && a.Status < 300 {
			return nil // the step's success record says it
		}
		rt.metrics.failed.WithLabelValues(run.Namespace, run.Flow).Inc()
		ev, err := runEvent(run, TypeRunStepAttempted, fmt.Sprintf("step/%s/r%d/attempt/%d", sd.ID, run.Redrives, a.N), runRecord{Step: sd.ID, Attempt: &a})
		if err != nil {
			return err
		}
		_, err = rec.now(ctx, ev)
		return err
	})
	if err != nil {
		var f *webhook.Failure
		if errors.As(err, &f) {
			last := f.Last
			return nil, f.Attempts, &stepFailure{attempts: f.Attempts, msg: fmt.Sprintf("step %s: %v", sd.ID, f), last: &last, request: summary}
		}
		return nil, attempts, err
	}
	out, err := json.Marshal(resp)
	return out, attempts, err
}

// secretFor resolves the signing secret of an HTTP step: the variable it
// names, or the flow's generated secret when it names none (nil: unsigned).
func (rt *Runtime) secretFor(ctx context.Context, run *Run, step, ref string) ([]byte, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		v, ok := rt.cfg.LookupEnv(name)
		if !ok || v == "" {
			return nil, &stepFailure{msg: fmt.Sprintf("step %s: the secret's environment variable %s is not set on the server; set it (whsec_<base64>) and redrive the run", step, name)}
		}
		key, err := webhook.ParseSecret(v)
		if err != nil {
			return nil, &stepFailure{msg: fmt.Sprintf("step %s: environment variable %s: %v", step, name, err)}
		}
		return key, nil
	case ref != "":
		key, err := webhook.ParseSecret(ref)
		if err != nil {
			return nil, &stepFailure{msg: fmt.Sprintf("step %s: secret: %v", step, err)}
		}
		return key, nil
	case rt.cfg.Secrets == nil:
		return nil, nil
	}
	s, err := rt.cfg.Secrets.Get(ctx, secretKey(run.Namespace, run.Flow))
	if errors.Is(err, ErrNoSecret) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return webhook.ParseSecret(s)
}

func (rt *Runtime) runEmit(ctx context.Context, run *Run, c *flow.Compiled, i int, in *flow.Input, steps map[string]any, rec *recorder) ([]byte, error) {
	sd := c.Flow.Steps[i]
	hops := run.Hops + 1
	if hops > MaxHops {
		return nil, &stepFailure{msg: fmt.Sprintf("step %s: the event it would emit is %d emits deep in a chain started by another event (at most %d): a flow loop? Check which flows react to %q", sd.ID, hops, MaxHops, sd.Emit.Type)}
	}
	data, err := c.EmitData(i, in, steps)
	if err != nil {
		return nil, &stepFailure{msg: fmt.Sprintf("step %s: data: %v", sd.ID, err)}
	}
	subject, err := c.EmitSubject(i, in, steps)
	if err != nil {
		return nil, &stepFailure{msg: fmt.Sprintf("step %s: subject: %v", sd.ID, err)}
	}
	ev, err := event.New(event.Attributes{
		// Derived from the run and the step: emitting again is stored once.
		ID:              run.ID + "/" + sd.ID,
		Source:          flowSource(run.Flow),
		Type:            sd.Emit.Type,
		Subject:         subject,
		Time:            rt.cfg.Clock.Now().UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		CorrelationID:   run.CorrelationID,
		CausationID:     run.Trigger.ID,
		Extensions:      map[string]any{hopsExtension: hops},
		Data:            data,
	})
	if err != nil {
		return nil, &stepFailure{msg: fmt.Sprintf("step %s: the event to emit is not valid: %v", sd.ID, err)}
	}
	if rt.cfg.CheckEmitted != nil {
		if ev, err = rt.cfg.CheckEmitted(run.Namespace, ev); err != nil {
			return nil, &stepFailure{msg: fmt.Sprintf("step %s: the event to emit does not match its schema: %v", sd.ID, err)}
		}
	}
	res, err := rec.now(ctx, ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": ev.ID, "source": ev.Source, "type": ev.Type, "position": res[len(res)-1].Position})
}

// deadLetter records that a run cannot go on.
func (rt *Runtime) deadLetter(ctx context.Context, run *Run, step string, f *stepFailure, rec *recorder) error {
	dl := runRecord{Step: step, Error: f.msg, Attempts: f.attempts, Attempt: f.last, Request: f.request}
	ev, err := runEvent(run, TypeRunDeadLettered, fmt.Sprintf("dead-lettered/%d", run.Redrives), dl)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &recorder{rt: rt, ns: run.Namespace}
	}
	if _, err := rec.now(ctx, ev); err != nil {
		return err
	}
	rt.metrics.deadLettered.WithLabelValues(run.Namespace, run.Flow).Inc()
	rt.log.Warn("run dead-lettered", "namespace", run.Namespace, "run", run.ID, "step", step, "err", f.msg)
	return nil
}

// recorder gathers a run's records so that those with no effect between
// them reach the log in one append.
type recorder struct {
	rt      *Runtime
	ns      string
	pending []*event.Event
}

// later queues a record for the next append.
func (r *recorder) later(ev *event.Event) { r.pending = append(r.pending, ev) }

// flush appends the queued records.
func (r *recorder) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	_, err := r.now(ctx)
	return err
}

// now appends the queued records and evs, in order, and returns the
// results of all of them.
func (r *recorder) now(ctx context.Context, evs ...*event.Event) ([]store.Result, error) {
	all := append(r.pending, evs...)
	res, err := r.rt.record(ctx, r.ns, all)
	if err != nil {
		return nil, err
	}
	r.pending = nil
	return res, nil
}

// record appends events, retrying those the store could not take yet.
func (rt *Runtime) record(ctx context.Context, ns string, evs []*event.Event) ([]store.Result, error) {
	out := make([]store.Result, len(evs))
	todo := make([]int, len(evs))
	for i := range todo {
		todo[i] = i
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		batch := make([]*event.Event, len(todo))
		for j, i := range todo {
			batch[j] = evs[i]
		}
		res, errs := rt.cfg.Store.Append(ctx, ns, batch)
		var again []int
		for j, i := range todo {
			switch err := errs[j]; {
			case err == nil:
				out[i] = res[j]
			case errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotReady):
				again = append(again, i)
			default:
				return nil, err
			}
		}
		if len(again) == 0 {
			return out, nil
		}
		todo = again
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-rt.cfg.Clock.After(wait):
		}
	}
}

// decodeJSON turns a step's output into a CEL value: integral numbers as
// int64, others as float64.
func decodeJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil
	}
	return numbers(v)
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

func secretKey(ns, flowName string) string { return ns + "." + flowName }
