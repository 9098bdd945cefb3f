package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/flow"
)

// maxGroup bounds how many log records the engine applies in one batch of
// its store.
const maxGroup = 256

// follow is the engine: it reads the log in order from the checkpoint and
// applies each record, until ctx is done. At start it runs the executors
// once it has caught up with the log's end as it was then.
func (rt *Runtime) follow(ctx context.Context, caughtUpAt uint64) error {
	if rt.Applied() >= caughtUpAt {
		rt.markCaughtUp()
	}
	for ctx.Err() == nil {
		err := rt.followFrom(ctx, rt.Applied(), caughtUpAt)
		if ctx.Err() != nil {
			return nil
		}
		rt.log.Warn("following the log failed; resuming", "err", err, "applied", rt.Applied())
		rt.setErr(err)
		select {
		case <-ctx.Done():
		case <-rt.cfg.Clock.After(time.Second):
		}
	}
	return nil
}

// pull is the engine's loop with a Feed: it reads what the feed has
// indexed, mostly from memory.
func (rt *Runtime) pull(ctx context.Context, caughtUpAt uint64) error {
	f := rt.cfg.Feed
	for {
		applied := rt.Applied()
		head := f.Head()
		if head <= applied {
			if err := f.WaitHead(ctx, applied+1); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				continue // a timeout of the feed's wait: look again
			}
			continue
		}
		group, err := f.Records(ctx, applied, head, maxGroup)
		if err != nil {
			return err
		}
		if len(group) == 0 {
			continue
		}
		if err := rt.applyGroup(group); err != nil {
			if lerr := rt.loadFlows(); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		rt.setErr(nil)
		if rt.Applied() >= caughtUpAt {
			rt.markCaughtUp()
		}
	}
}

func (rt *Runtime) followFrom(ctx context.Context, after, caughtUpAt uint64) error {
	if rt.cfg.Feed != nil {
		return rt.pull(ctx, caughtUpAt)
	}
	sub, err := rt.cfg.Log.Subscribe(ctx, eventlog.Query{After: after})
	if err != nil {
		return err
	}
	defer sub.Stop()
	recs := make(chan eventlog.Record, maxGroup)
	errc := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			r, err := sub.Next(sctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case recs <- r:
			case <-sctx.Done():
				errc <- sctx.Err()
				return
			}
		}
	}()
	group := make([]eventlog.Record, 0, maxGroup)
	for {
		group = group[:0]
		select {
		case r := <-recs:
			group = append(group, r)
		case err := <-errc:
			return err
		}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-recs:
				group = append(group, r)
			default:
				break drain
			}
		}
		if err := rt.applyGroup(group); err != nil {
			// The matcher may hold flows of records not stored: start
			// again from what the store holds.
			if lerr := rt.loadFlows(); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		rt.setErr(nil)
		if rt.Applied() >= caughtUpAt {
			rt.markCaughtUp()
		}
	}
}

// applyGroup applies records in one batch of the store, then hands the
// runs it started (or redrove) to the scheduler.
func (rt *Runtime) applyGroup(group []eventlog.Record) error {
	b := rt.st.newBatch()
	var start []*Run
	var p fastjson.Parser
	for _, r := range group {
		if r.Position <= rt.Applied() {
			continue // already applied (a resubscription may repeat some)
		}
		runs, err := rt.apply(b, &p, r)
		if err != nil {
			return err
		}
		start = append(start, runs...)
	}
	last := group[len(group)-1].Position
	if last <= rt.Applied() {
		return nil
	}
	// Under startMu, a run is either stored before executors start (and
	// found by their scan) or handed to them here: never neither.
	rt.startMu.Lock()
	defer rt.startMu.Unlock()
	if err := b.commit(last); err != nil {
		return err
	}
	rt.setApplied(last)
	if rt.started.Load() {
		for _, r := range start {
			// The engine goes on updating its own copy as records come.
			rt.sched.enqueue(rt.runCtx, r.clone())
		}
	}
	return nil
}

// apply applies one record; it returns the runs to start.
func (rt *Runtime) apply(b *batch, p *fastjson.Parser, r eventlog.Record) ([]*Run, error) {
	if rt.matcher.Len() == 0 && !event.IsReserved(r.Data) {
		return nil, nil // no flow to trigger, and not a record of Ensue's own
	}
	v, err := p.ParseBytes(r.Data)
	if err != nil {
		rt.log.Warn("log record is not JSON; skipped", "position", r.Position, "err", err)
		return nil, nil
	}
	typ := string(v.GetStringBytes("type"))
	switch {
	case strings.HasPrefix(typ, "ensue.flow."):
		return nil, rt.applyFlow(b, r, typ, v)
	case strings.HasPrefix(typ, "ensue.run."):
		return rt.applyRun(b, r, typ, v)
	case strings.HasPrefix(typ, "ensue."):
		return nil, nil
	}
	if !rt.matcher.MayMatch(r.Namespace, typ) {
		return nil, nil
	}
	in, err := flow.NewInput(r.Data)
	if err != nil {
		rt.log.Warn("log record is not an event flows can read; skipped", "position", r.Position, "err", err)
		return nil, nil
	}
	matched := rt.matcher.Match(r.Namespace, in)
	if len(matched) == 0 {
		return nil, nil
	}
	id := in.ID()
	corr := string(v.GetStringBytes("correlationid"))
	if corr == "" {
		corr = id
	}
	hops := v.GetInt(hopsExtension)
	var runs []*Run
	for _, c := range matched {
		name := c.Flow.Name
		if existing, err := b.run(r.Namespace, name, r.Position); err != nil {
			return nil, err
		} else if existing != nil {
			continue
		}
		run := &Run{
			ID: RunID(name, r.Position), Namespace: r.Namespace, Flow: name,
			FlowVersion: rt.activeVersion(r.Namespace, name), Status: StatusPending,
			Trigger:       TriggerRef{Position: r.Position, ID: id, Source: in.Source(), Type: in.Type(), Subject: in.Subject()},
			CorrelationID: corr, Hops: hops, CreatedAt: r.RecordedAt, LastPosition: r.Position,
			input: in,
		}
		if err := b.putRun(run); err != nil {
			return nil, err
		}
		rt.metrics.triggered.WithLabelValues(r.Namespace, name).Inc()
		runs = append(runs, run)
	}
	return runs, nil
}

func (rt *Runtime) applyFlow(b *batch, r eventlog.Record, typ string, v *fastjson.Value) error {
	var rec flowRecord
	if err := json.Unmarshal(v.Get("data").MarshalTo(nil), &rec); err != nil || rec.Name == "" {
		rt.log.Warn("flow record without a flow; skipped", "position", r.Position, "err", err)
		return nil
	}
	f, err := b.flow(r.Namespace, rec.Name)
	if err != nil {
		return err
	}
	if f == nil {
		f = &FlowState{Namespace: r.Namespace, Name: rec.Name, Enabled: true}
	}
	f.StreamVersion = r.Version
	f.Position = r.Position
	f.UpdatedAt = r.RecordedAt
	switch typ {
	case TypeFlowApplied:
		if f.Deleted {
			f.Deleted, f.Enabled = false, true
		}
		f.Version, f.Hash, f.Definition = rec.Version, rec.Hash, rec.Definition
		if err := b.putFlowVersion(r.Namespace, rec.Name, rec.Version, rec.Definition); err != nil {
			return err
		}
	case TypeFlowDeleted:
		f.Deleted, f.Enabled = true, false
	case TypeFlowEnabled:
		f.Enabled = true
	case TypeFlowDisabled:
		f.Enabled = false
	default:
		return nil
	}
	if err := b.putFlow(f); err != nil {
		return err
	}
	rt.setFlow(f)
	return nil
}

func (rt *Runtime) applyRun(b *batch, r eventlog.Record, typ string, v *fastjson.Value) ([]*Run, error) {
	var rec runRecord
	if err := json.Unmarshal(v.Get("data").MarshalTo(nil), &rec); err != nil {
		rt.log.Warn("run record unreadable; skipped", "position", r.Position, "err", err)
		return nil, nil
	}
	flowName, pos, ok := ParseRunID(rec.Run)
	if !ok {
		return nil, nil
	}
	run, err := b.run(r.Namespace, flowName, pos)
	if err != nil || run == nil {
		return nil, err
	}
	var start []*Run
	switch typ {
	case TypeRunStarted:
		if run.Status == StatusPending {
			run.Status = StatusRunning
		}
		if run.StartedAt.IsZero() {
			run.StartedAt = r.RecordedAt
		}
	case TypeRunStepAttempted:
		if rec.Attempt == nil {
			return nil, nil
		}
		st := run.step(rec.Step)
		st.Attempts = max(st.Attempts, rec.Attempt.N)
		st.Error = rec.Attempt.Error
		st.History = append(st.History, *rec.Attempt)
		if len(st.History) > maxHistory {
			st.History = st.History[len(st.History)-maxHistory:]
		}
	case TypeRunStepSucceeded:
		st := run.step(rec.Step)
		st.Status = "succeeded"
		st.Output = rec.Output
		st.Error = ""
		st.Attempts = max(st.Attempts, rec.Attempts)
		st.FinishedAt = r.RecordedAt
	case TypeRunCompleted:
		run.Status = StatusCompleted
		run.FinishedAt = r.RecordedAt
	case TypeRunDeadLettered:
		run.Status = StatusDeadLettered
		run.Error = rec.Error
		run.FailedStep = rec.Step
		run.Request, run.LastAttempt = rec.Request, rec.Attempt
		run.FinishedAt = r.RecordedAt
		if rec.Step != "" {
			st := run.step(rec.Step)
			st.Status = "failed"
			st.Error = rec.Error
			st.Attempts = max(st.Attempts, rec.Attempts)
		}
	case TypeRunRedriven:
		if run.Status != StatusDeadLettered {
			break
		}
		run.Status = StatusRunning
		run.Redrives = rec.Redrive
		run.Error = ""
		run.FinishedAt = time.Time{}
		if run.FailedStep != "" {
			st := run.step(run.FailedStep)
			st.Status, st.Attempts, st.Error = "pending", 0, ""
		}
		run.FailedStep = ""
		run.Request, run.LastAttempt = nil, nil
		start = append(start, run)
	case TypeRunDiscarded:
		if run.Status == StatusDeadLettered {
			run.Status = StatusDiscarded
		}
	default:
		return nil, nil
	}
	run.LastPosition = r.Position
	return start, b.putRun(run)
}
