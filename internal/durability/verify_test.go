package durability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// failures collects the problems found by concurrent checks, so that a
// test reports the first few of each kind rather than stopping at one.
type failures struct {
	mu    sync.Mutex
	kinds map[string][]string
	order []string
}

func (f *failures) add(kind, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kinds == nil {
		f.kinds = make(map[string][]string)
	}
	if _, ok := f.kinds[kind]; !ok {
		f.order = append(f.order, kind)
	}
	f.kinds[kind] = append(f.kinds[kind], fmt.Sprintf(format, args...))
}

// report fails t with every kind of failure found, at most 10 examples each.
func (f *failures) report(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.order {
		ex := f.kinds[k]
		t.Errorf("%s: %d case(s), e.g.:\n  %s", k, len(ex), strings.Join(ex[:min(10, len(ex))], "\n  "))
	}
}

// logIndex is the global log as read through GET /v1/events.
type logIndex struct {
	records []record
	byID    map[identity]record
	last    uint64
}

// indexLog reads the whole log and reports every identity stored twice.
func indexLog(t *testing.T, base string, f *failures) logIndex {
	t.Helper()
	li := logIndex{records: readLog(t, base), byID: make(map[identity]record)}
	for _, r := range li.records {
		ev, err := r.decode()
		if err != nil {
			f.add("unreadable record", "position %d: %v", r.Position, err)
			continue
		}
		id := identity{ev.Source, ev.ID}
		if prev, dup := li.byID[id]; dup {
			f.add("DOUBLED: one identity stored twice", "%s at positions %d and %d", id, prev.Position, r.Position)
			continue
		}
		li.byID[id] = r
		li.last = r.Position
	}
	return li
}

// verifyStats summarises a verification for the test log.
type verifyStats struct {
	logged, acked, rejected, uncertainReqs  int
	uncertainWereStored, uncertainStoredNow int
	resent                                  int
	steps                                   []string
	took                                    time.Duration
}

func (s verifyStats) String() string {
	return fmt.Sprintf("log %d events; %d acknowledged, %d refused (409); %d requests without a clear answer, whose events were %d already stored and %d stored on re-send; %d re-sends checked; verified in %v",
		s.logged, s.acked, s.rejected, s.uncertainReqs, s.uncertainWereStored, s.uncertainStoredNow, s.resent, s.took.Round(time.Millisecond)) + " (" + strings.Join(s.steps, ", ") + ")"
}

// verify checks the server at base against what the clients were told:
// every acknowledged event is stored once, where its answer said, readable
// by position and by identity, in dense streams; refused events are not
// stored; re-sending acknowledged events answers duplicates; re-sending the
// events whose outcome was unknown leaves exactly one copy of each.
func verify(t *testing.T, base string, w *workload, l *ledger, rng *rand.Rand) verifyStats {
	t.Helper()
	start := time.Now()
	ctx := context.Background()
	var f failures
	defer f.report(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range l.unexpected {
		f.add("unexpected answer during the load", "%s", u)
	}
	st := verifyStats{acked: len(l.acked), rejected: len(l.rejected), uncertainReqs: len(l.uncertain)}
	lap := time.Now()
	step := func(name string) {
		st.steps = append(st.steps, fmt.Sprintf("%s %v", name, time.Since(lap).Round(time.Millisecond)))
		lap = time.Now()
	}

	// 1. The global log: no identity twice, nothing the clients were told
	// was refused, nothing they never sent.
	li := indexLog(t, base, &f)
	sentUncertain := make(map[identity]bool)
	for _, u := range l.uncertain {
		for i, o := range u.Outcomes {
			if o.Kind == uncertain {
				sentUncertain[u.Req.Events[i].identity()] = true
			}
		}
	}
	for id, r := range li.byID {
		if _, ok := l.acked[id]; ok || sentUncertain[id] {
			continue
		}
		if _, ok := l.rejected[id]; ok {
			f.add("STORED although answered 409", "%s at position %d", id, r.Position)
		} else {
			f.add("stored but never sent", "%s at position %d", id, r.Position)
		}
	}

	step("log")

	// 2. Every acknowledged event is where its answer said, identical.
	answered := make([]ackedEvent, 0, len(l.acked))
	for id, a := range l.acked {
		answered = append(answered, a)
		r, ok := li.byID[id]
		switch {
		case !ok:
			f.add("LOST: acknowledged, not in the log", "%s acknowledged at position %d (%s)", id, a.Result.Position, a.Mode)
		case r.Position != a.Result.Position || r.stream() != a.Result.stream() || r.version() != a.Result.version():
			f.add("acknowledged elsewhere than stored", "%s acknowledged at %d (%q v%d), stored at %d (%q v%d)", id, a.Result.Position, a.Result.stream(), a.Result.version(), r.Position, r.stream(), r.version())
		default:
			if d := sameEvent(a.Event, r); d != "" {
				f.add("stored event differs from the one sent", "%s: %s", id, d)
			}
		}
	}
	slices.SortFunc(answered, func(a, b ackedEvent) int { return int(a.Result.Position) - int(b.Result.Position) })

	step("compare")

	// 3. By position and by identity, through the API, for every one.
	parallel(len(answered), 8, func(i int) {
		a := answered[i]
		var r record
		code, err := getJSON(ctx, base, fmt.Sprintf("/v1/events/%d", a.Result.Position), &r)
		if err != nil || code != http.StatusOK {
			f.add("GET /v1/events/{position} failed", "%s at %d: %d %v", a.Event.identity(), a.Result.Position, code, err)
		} else if d := sameEvent(a.Event, r); d != "" || r.Position != a.Result.Position {
			f.add("GET /v1/events/{position} answered another event", "position %d: %s", a.Result.Position, d)
		}
		var lr record
		code, err = getJSON(ctx, base, "/v1/events/lookup?source="+url.QueryEscape(a.Event.Source)+"&id="+url.QueryEscape(a.Event.ID), &lr)
		if err != nil || code != http.StatusOK {
			f.add("lookup of an acknowledged event failed", "%s: %d %v", a.Event.identity(), code, err)
		} else if lr.Position != a.Result.Position {
			f.add("lookup answered another position", "%s: lookup %d, acknowledged %d", a.Event.identity(), lr.Position, a.Result.Position)
		}
	})

	step("get+lookup")

	// 4. Refused events are not found either.
	for id := range l.rejected {
		var r record
		if code, err := getJSON(ctx, base, "/v1/events/lookup?source="+url.QueryEscape(id.Source)+"&id="+url.QueryEscape(id.ID), &r); err != nil || code != http.StatusNotFound {
			f.add("lookup of a refused event is not 404", "%s: %d %v", id, code, err)
		}
	}

	step("refused")

	// 5. Streams: dense versions 1..N, the same events as the log's.
	checkStreams(ctx, t, base, w, li, rng, &f)

	step("streams")

	// 6. Re-sending acknowledged events answers duplicates with the original
	// answers: a sample one by one (binary or structured, with the original
	// and by now stale expectedversion), and whole requests of several.
	sample := slices.Clone(answered)
	rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	sample = sample[:min(len(sample), 600)]
	parallel(len(sample), 8, func(i int) {
		a := sample[i]
		m := modeStructured
		if i%3 == 0 {
			m = modeBinary
		}
		o := send(ctx, base, appendRequest{Mode: m, Events: []testEvent{a.Event}})[0]
		checkDuplicate(&f, "re-sent acknowledged event", a.Event, o, a.Result)
	})
	st.resent = len(sample)
	var wholes []sentRequest
	for _, want := range []mode{modeBatch, modeAtomic} {
		for _, c := range l.complete {
			if c.Req.Mode == want {
				wholes = append(wholes, c)
				break
			}
		}
	}
	for _, c := range wholes {
		outs := send(ctx, base, c.Req)
		for i, o := range outs {
			checkDuplicate(&f, "re-sent "+c.Req.Mode.String(), c.Req.Events[i], o, c.Outcomes[i].Result)
		}
		st.resent += len(outs)
	}

	step("resend-acked")

	// 7. Events whose outcome was unknown: re-sent as they were, each ends
	// stored exactly once. An atomic batch is all stored or none.
	for _, u := range l.uncertain {
		outs := send(ctx, base, u.Req)
		if u.Req.Mode == modeAtomic {
			dups := 0
			for _, o := range outs {
				if o.Kind == acked && o.Result.Duplicate {
					dups++
				}
			}
			if dups != 0 && dups != len(outs) {
				f.add("ATOMIC batch partly stored", "%d of %d events were already stored", dups, len(outs))
			}
			if outs[0].Kind != acked {
				f.add("re-sent atomic batch not stored", "%s: %v", u.Req.Events[0].identity(), outs[0].Err)
			}
		}
		for i, o := range outs {
			e := u.Req.Events[i]
			if u.Outcomes[i].Kind != uncertain {
				continue // its first answer was clear; checked above
			}
			if o.Kind == rejected {
				// Dedupe comes before the version check: a 409 says this
				// event was not stored. Without its expectation it is.
				if r, ok := li.byID[e.identity()]; ok {
					f.add("409 on re-send of a stored event", "%s is stored at %d, re-send answered 409 (dedupe must come first)", e.identity(), r.Position)
					continue
				}
				e.HasExpected = false
				o = send(ctx, base, appendRequest{Mode: modeStructured, Events: []testEvent{e}})[0]
			}
			if o.Kind != acked {
				f.add("re-sent uncertain event not stored", "%s: %v", e.identity(), o.Err)
				continue
			}
			if r, ok := li.byID[e.identity()]; ok {
				st.uncertainWereStored++
				checkDuplicate(&f, "re-sent event stored during the failure", e, o, appendResult{Position: r.Position, Stream: r.Stream, Version: r.Version})
			} else {
				st.uncertainStoredNow++
				if o.Result.Duplicate {
					f.add("re-send answered duplicate of an event not in the log", "%s at %d", e.identity(), o.Result.Position)
				}
				if o.Result.Position <= li.last {
					f.add("newly stored event at an old position", "%s at %d, log ended at %d", e.identity(), o.Result.Position, li.last)
				}
			}
			sentUncertain[e.identity()] = true
		}
	}

	step("resend-uncertain")

	// 8. After all that, once each, and nothing else.
	final := indexLog(t, base, &f)
	for id := range l.acked {
		if _, ok := final.byID[id]; !ok {
			f.add("LOST after re-sends", "%s", id)
		}
	}
	for id := range sentUncertain {
		if _, ok := final.byID[id]; !ok {
			f.add("uncertain event missing after its re-send", "%s", id)
		} else if _, ok := li.byID[id]; !ok {
			var r record
			code, err := getJSON(ctx, base, "/v1/events/lookup?source="+url.QueryEscape(id.Source)+"&id="+url.QueryEscape(id.ID), &r)
			if err != nil || code != http.StatusOK || r.Position != final.byID[id].Position {
				f.add("lookup of a re-sent event", "%s: %d %v at %d, log has it at %d", id, code, err, r.Position, final.byID[id].Position)
			}
		}
	}
	if extra := len(final.byID) - len(li.byID) - st.uncertainStoredNow; extra != 0 {
		f.add("re-sends stored a different number of events than were missing", "%d more in the log than re-sends stored", extra)
	}
	step("final")
	st.logged = len(final.records)
	st.took = time.Since(start)
	return st
}

// checkDuplicate checks that a re-send answered duplicate with the original
// answer.
func checkDuplicate(f *failures, what string, e testEvent, o outcome, orig appendResult) {
	switch {
	case o.Kind != acked:
		f.add(what+": not answered 200", "%s: %v (problem %+v)", e.identity(), o.Err, o.Prob)
	case !o.Result.Duplicate:
		f.add("DOUBLED: "+what+" not answered duplicate", "%s: answered new position %d, original %d", e.identity(), o.Result.Position, orig.Position)
	case o.Result.Position != orig.Position || o.Result.stream() != orig.stream() || o.Result.version() != orig.version():
		f.add(what+": duplicate with another answer", "%s: %d %q v%d, original %d %q v%d", e.identity(), o.Result.Position, o.Result.stream(), o.Result.version(), orig.Position, orig.stream(), orig.version())
	}
}

// checkStreams checks every stream in the global log: versions dense from
// 1 in log order. It then reads the hot streams and a sample of the others
// through GET /v1/streams (each read costs a bisection over the log, so not
// all of them) and compares them with the log.
func checkStreams(ctx context.Context, t *testing.T, base string, w *workload, li logIndex, rng *rand.Rand, f *failures) {
	t.Helper()
	want := make(map[string][]record)
	for _, r := range li.records {
		s := r.stream()
		if s == "" {
			if r.Version != nil {
				f.add("event of no stream has a version", "position %d: version %d", r.Position, *r.Version)
			}
			continue
		}
		if v := r.version(); v != uint64(len(want[s])+1) {
			f.add("stream versions not dense in the log", "%q: position %d has version %d after %d events", s, r.Position, v, len(want[s]))
		}
		want[s] = append(want[s], r)
	}
	names := slices.Clone(w.streams)
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	names = append(names[:24], w.hot...)
	parallel(len(names), 8, func(i int) {
		name := names[i]
		ver, recs, err := readStream(ctx, base, name)
		if err != nil {
			f.add("stream read failed", "%q: %v", name, err)
			return
		}
		logRecs := want[name]
		if ver != uint64(len(recs)) || len(recs) != len(logRecs) {
			f.add("stream length differs", "%q: version %d, %d records read, %d in the global log", name, ver, len(recs), len(logRecs))
		}
		for k, r := range recs {
			if r.version() != uint64(k+1) {
				f.add("stream versions not dense", "%q: record %d has version %d", name, k, r.version())
				return
			}
			if k < len(logRecs) && logRecs[k].Position != r.Position {
				f.add("stream and log disagree", "%q v%d at %d in the stream, at %d in the log", name, k+1, r.Position, logRecs[k].Position)
				return
			}
		}
	})
}
