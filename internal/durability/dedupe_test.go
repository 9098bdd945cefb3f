package durability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"
)

// jetStreamDuplicateWindow is the log stream's Duplicates setting (see
// eventlog.Open). Ensue's dedupe must not depend on it.
const jetStreamDuplicateWindow = time.Second

// TestDedupeAcrossRestartAndWindow re-sends stored events long after
// JetStream's duplicate window and again after a graceful restart: each
// answers duplicate with its original position, stream and version, in
// every ingest mode, a stale expectedversion and changed content included.
func TestDedupeAcrossRestartAndWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := seed(t)
	dir := t.TempDir()
	c1 := startChild(t, childConfig{DataDir: dir})
	c1.waitReady(30 * time.Second)

	w := newWorkload(fmt.Sprintf("dedupe-%d", s))
	c := &client{w: w, rng: rand.New(rand.NewPCG(s, 0))}
	hot := w.hot[0]
	batch := make([]testEvent, 20)
	for i := range batch {
		batch[i] = c.event(w.streams[i%3])
	}
	atomicBatch := make([]testEvent, 5)
	for i := range atomicBatch {
		atomicBatch[i] = c.event(w.streams[i%2])
	}
	first, second := c.event(hot), c.event(hot)
	first.HasExpected, first.Expected = true, 0
	second.HasExpected, second.Expected = true, 1
	reqs := []appendRequest{
		{Mode: modeStructured, Events: []testEvent{c.event(w.streams[0])}},
		{Mode: modeStructured, Events: []testEvent{c.event("")}},
		{Mode: modeBinary, Events: []testEvent{c.event(w.streams[10])}},
		{Mode: modeBinary, Events: []testEvent{c.event("")}},
		{Mode: modeBatch, Events: batch},
		{Mode: modeAtomic, Events: atomicBatch},
		{Mode: modeStructured, Events: []testEvent{first}},
		{Mode: modeBinary, Events: []testEvent{second}},
	}
	answers := make([][]outcome, len(reqs))
	for i, r := range reqs {
		answers[i] = send(ctx, c1.URL, r)
		for k, o := range answers[i] {
			if o.Kind != acked || o.Result.Duplicate {
				t.Fatalf("%s event %d: %+v %v", r.Mode, k, o.Result, o.Err)
			}
		}
	}
	lastAck := time.Now()

	resendAll := func(base, when string) {
		t.Helper()
		var f failures
		for i, r := range reqs {
			for k, o := range send(ctx, base, r) {
				checkDuplicate(&f, when+": re-sent "+r.Mode.String(), r.Events[k], o, answers[i][k].Result)
			}
		}
		// The same identity with other content is the same event: a
		// duplicate, and what is stored does not change.
		orig := reqs[0].Events[0]
		changed := orig
		changed.Type, changed.Subject, changed.Data = "durability.test.changed", w.streams[1], json.RawMessage(`{"changed":true}`)
		o := send(ctx, base, appendRequest{Mode: modeStructured, Events: []testEvent{changed}})[0]
		checkDuplicate(&f, when+": same identity, other content", changed, o, answers[0][0].Result)
		var r record
		if code, err := getJSON(ctx, base, fmt.Sprintf("/v1/events/%d", answers[0][0].Result.Position), &r); err != nil || code != 200 {
			f.add(when+": GET", "%d %v", code, err)
		} else if d := sameEvent(orig, r); d != "" {
			f.add(when+": a duplicate changed the stored event", "%s", d)
		}
		f.report(t)
	}

	// Past JetStream's duplicate window, on the same server: still
	// duplicates, so the dedupe is Ensue's own. This waits for wall time
	// to pass, not for a condition.
	until := lastAck.Add(jetStreamDuplicateWindow + jetStreamDuplicateWindow/2)
	for time.Now().Before(until) {
		time.Sleep(time.Until(until))
	}
	resendAll(c1.URL, fmt.Sprintf("%v after the last append", time.Since(lastAck).Round(time.Millisecond)))

	if code := c1.terminate(30 * time.Second); code != 0 {
		t.Fatalf("after SIGTERM the server exited %d, want 0", code)
	}
	c2 := startChild(t, childConfig{DataDir: dir})
	c2.waitReady(30 * time.Second)
	resendAll(c2.URL, "after a restart")

	// Lookups answer the original positions.
	for i, r := range reqs {
		for k, e := range r.Events {
			var rec record
			code, err := getJSON(ctx, c2.URL, "/v1/events/lookup?source="+url.QueryEscape(e.Source)+"&id="+url.QueryEscape(e.ID), &rec)
			if err != nil || code != 200 || rec.Position != answers[i][k].Result.Position {
				t.Errorf("lookup %s after restart: %d %v, position %d, want %d", e.identity(), code, err, rec.Position, answers[i][k].Result.Position)
			}
		}
	}
	// The streams carry on from where they were.
	next := c.event(hot)
	next.HasExpected, next.Expected = true, 2
	o := send(ctx, c2.URL, appendRequest{Mode: modeStructured, Events: []testEvent{next}})[0]
	if o.Kind != acked || o.Result.Duplicate || o.Result.version() != 3 {
		t.Errorf("append at expected version 2 after restart: %+v %v (problem %+v), want version 3", o.Result, o.Err, o.Prob)
	}
	var f failures
	checkStreams(ctx, t, c2.URL, w, indexLog(t, c2.URL, &f), rand.New(rand.NewPCG(s, 1)), &f)
	f.report(t)
}
