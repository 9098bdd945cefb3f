package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/store"
)

// Durable consumers: a named, filtered read position per namespace whose
// checkpoint the server keeps, so that a consumer program resumes after a
// restart of either side exactly after the last position it acknowledged.
//
// A consumer fetches the records after its checkpoint (long-polling when
// there are none), handles them, and acknowledges the last position it
// handled. The checkpoint only moves forward, by compare-and-set on the
// entry's revision: two acknowledgements racing cannot move it back. A
// record is delivered again only if it was not acknowledged.

const (
	typeConsumerExists = problemBase + "consumer-exists"
	typeCheckpoint     = problemBase + "checkpoint-behind"
)

// maxWait bounds a fetch's long poll; clients poll again.
const maxWait = 60 * time.Second

var consumerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)

// consumerFilter selects the records a consumer receives; empty fields
// select all.
type consumerFilter struct {
	Type    string `json:"type,omitempty"`
	Source  string `json:"source,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// consumerDoc is a consumer as stored and as GET answers it.
type consumerDoc struct {
	Name   string         `json:"name"`
	Filter consumerFilter `json:"filter"`
	// Checkpoint is the last acknowledged position: fetches answer records
	// after it.
	Checkpoint uint64    `json:"checkpoint"`
	CreatedAt  time.Time `json:"created_at"`
}

func (a *API) routeConsumers(m *http.ServeMux) {
	m.HandleFunc("PUT /v1/consumers/{name}", a.putConsumer)
	m.HandleFunc("GET /v1/consumers/{name}", a.getConsumer)
	m.HandleFunc("DELETE /v1/consumers/{name}", a.deleteConsumer)
	m.HandleFunc("GET /v1/consumers/{name}/events", a.consumerEvents)
	m.HandleFunc("POST /v1/consumers/{name}/ack", a.ackConsumer)
}

// consumerCtx checks the namespace, the bucket and the name, and returns
// the consumer's key.
func (a *API) consumerCtx(w http.ResponseWriter, r *http.Request) (ns, name, key string, ok bool) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return "", "", "", false
	}
	if a.cfg.Consumers == nil {
		writeProblem(w, kvUnavailable("consumers"))
		return "", "", "", false
	}
	name = r.PathValue("name")
	if !consumerNameRE.MatchString(name) {
		msg := fmt.Sprintf("%q is not a consumer name: use 1 to 100 letters, digits, '-' and '_', starting with a letter or digit", clip(name, 120))
		writeProblem(w, badRequest(msg, event.FieldError{Pointer: "name", Message: msg}))
		return "", "", "", false
	}
	return ns, name, ns + "." + name, true
}

func consumerNotFound(ns, name string) *Problem {
	return notFound(fmt.Sprintf("no consumer %q in namespace %q; create it with PUT /v1/consumers/%s", name, ns, name))
}

// loadConsumer reads a consumer and its revision; the problem is set when
// it cannot.
func (a *API) loadConsumer(ctx context.Context, ns, name, key string) (consumerDoc, uint64, *Problem) {
	b, rev, err := a.cfg.Consumers.Get(ctx, key)
	if errors.Is(err, ErrKeyNotFound) {
		return consumerDoc{}, 0, consumerNotFound(ns, name)
	}
	if err != nil {
		return consumerDoc{}, 0, problemOf(err)
	}
	var d consumerDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return consumerDoc{}, 0, problemOf(fmt.Errorf("consumer %q: stored entry unreadable: %w", name, err))
	}
	return d, rev, nil
}

func (a *API) putConsumer(w http.ResponseWriter, r *http.Request) {
	ns, name, key, ok := a.consumerCtx(w, r)
	if !ok {
		return
	}
	var in struct {
		Filter consumerFilter  `json:"filter"`
		Start  json.RawMessage `json:"start"`
	}
	if !a.readJSON(w, r, &in, bodyJSON{Optional: true, Strict: true,
		Usage: `a JSON object {"filter": {"type", "source", "subject"}, "start": "beginning" | "end" | <position>}`}) {
		return
	}
	var errs []event.FieldError
	f := in.Filter
	if i := strings.IndexByte(f.Type, '*'); i >= 0 && i != len(f.Type)-1 {
		errs = append(errs, event.FieldError{Pointer: "/filter/type", Message: "a type filter may only end with '*' (a prefix such as order.*)"})
	}
	if len(f.Subject) > event.MaxSubjectBytes {
		errs = append(errs, event.FieldError{Pointer: "/filter/subject", Message: fmt.Sprintf("subject is at most %d bytes", event.MaxSubjectBytes)})
	}
	ctx := r.Context()
	last, err := a.store.LastPosition(ctx)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	var start uint64
	switch s := strings.TrimSpace(string(in.Start)); s {
	case "", "null", `"beginning"`:
	case `"end"`:
		start = last
	default:
		n, err := strconv.ParseUint(s, 10, 64)
		switch {
		case err != nil:
			errs = append(errs, event.FieldError{Pointer: "/start", Message: fmt.Sprintf(`start is "beginning", "end" or a position (an integer from 0), got %s`, clip(s, 40))})
		case n > last:
			errs = append(errs, event.FieldError{Pointer: "/start", Message: fmt.Sprintf("position %d is past the end of the log (%d)", n, last)})
		default:
			start = n
		}
	}
	if errs != nil {
		writeProblem(w, badRequest("invalid consumer; see errors", errs...))
		return
	}
	reset := r.URL.Query().Get("reset") == "true"
	for range casAttempts {
		d, rev, p := a.loadConsumer(ctx, ns, name, key)
		fresh := consumerDoc{Name: name, Filter: f, Checkpoint: start, CreatedAt: time.Now().UTC()}
		var err error
		status := http.StatusOK
		switch {
		case p != nil && p.Status == http.StatusNotFound:
			status = http.StatusCreated
			_, err = a.putDoc(ctx, key, fresh, 0)
		case p != nil:
			writeProblem(w, p)
			return
		case reset:
			fresh.CreatedAt = d.CreatedAt
			_, err = a.putDoc(ctx, key, fresh, rev)
		case d.Filter == f:
			writeJSONValue(w, http.StatusOK, d)
			return
		default:
			msg := fmt.Sprintf("consumer %q exists with another filter (%s); to replace it and start over, PUT again with ?reset=true", name, mustJSON(d.Filter))
			writeProblem(w, &Problem{Type: typeConsumerExists, Title: "Consumer exists", Status: http.StatusConflict, Detail: msg,
				Errors: []event.FieldError{{Pointer: "/filter", Message: "differs from the existing consumer's"}}})
			return
		}
		if errors.Is(err, ErrRevisionConflict) {
			continue
		}
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		writeJSONValue(w, status, fresh)
		return
	}
	writeProblem(w, contended(fmt.Sprintf("consumer %q", name)))
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// putDoc creates the consumer (rev 0) or updates it at revision rev.
func (a *API) putDoc(ctx context.Context, key string, d consumerDoc, rev uint64) (uint64, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return a.cfg.Consumers.Create(ctx, key, b)
	}
	return a.cfg.Consumers.Update(ctx, key, b, rev)
}

func (a *API) getConsumer(w http.ResponseWriter, r *http.Request) {
	ns, name, key, ok := a.consumerCtx(w, r)
	if !ok {
		return
	}
	d, _, p := a.loadConsumer(r.Context(), ns, name, key)
	if p != nil {
		writeProblem(w, p)
		return
	}
	writeJSONValue(w, http.StatusOK, d)
}

func (a *API) deleteConsumer(w http.ResponseWriter, r *http.Request) {
	ns, name, key, ok := a.consumerCtx(w, r)
	if !ok {
		return
	}
	if _, _, p := a.loadConsumer(r.Context(), ns, name, key); p != nil {
		writeProblem(w, p)
		return
	}
	if err := a.cfg.Consumers.Delete(r.Context(), key); err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// consumerEvents answers the records after the checkpoint. With none and a
// wait, it long-polls: it wakes when the index applies a later position
// (whatever its namespace) and reads again, until records come or the wait
// is over. It reads the log itself, not the index, so a record is never
// skipped; the index only tells when to look.
func (a *API) consumerEvents(w http.ResponseWriter, r *http.Request) {
	ns, name, key, ok := a.consumerCtx(w, r)
	if !ok {
		return
	}
	qp := &queryParser{q: r.URL.Query()}
	limit := qp.limit()
	var wait time.Duration
	if s := qp.q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > maxWait {
			qp.fail("wait", fmt.Sprintf("wait is a duration from 0s to %s, such as 5s; got %q", maxWait, clip(s, 40)))
		}
		wait = d
	}
	if p := qp.problem(); p != nil {
		writeProblem(w, p)
		return
	}
	ctx := r.Context()
	d, _, p := a.loadConsumer(ctx, ns, name, key)
	if p != nil {
		writeProblem(w, p)
		return
	}
	q := store.Query{Filter: store.Filter{Namespace: ns, Type: d.Filter.Type, Source: d.Filter.Source, Subject: d.Filter.Subject},
		After: d.Checkpoint, Limit: limit}

	a.watchShutdown(r)
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	go func() {
		// A graceful stop waits for handlers: end the long poll at once.
		select {
		case <-a.shutdown:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	var recs []store.Record
	for {
		// Taken before the read: a record applied after it wakes the wait
		// below, one applied before it is seen by the read.
		head := a.store.Head()
		var next uint64
		var err error
		recs, next, err = a.store.Events(ctx, q)
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		q.After = max(q.After, next)
		if len(recs) > 0 || a.store.WaitHead(waitCtx, max(head, q.After)+1) != nil {
			break
		}
	}
	out := getBuf()
	defer putBuf(out)
	b := append(out.AvailableBuffer(), '{')
	b = appendRecords(b, recs)
	b = append(b, `,"next":`...)
	b = strconv.AppendUint(b, q.After, 10)
	writeJSON(w, append(b, "}\n"...))
}

// ackConsumer moves the checkpoint forward to a position: the consumer has
// handled every record up to it. Acknowledging the checkpoint again is a
// no-op (a retried ack); a position before it is refused, so the
// checkpoint never moves back.
func (a *API) ackConsumer(w http.ResponseWriter, r *http.Request) {
	ns, name, key, ok := a.consumerCtx(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	var in struct {
		Position *int64 `json:"position"`
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Position == nil || *in.Position < 0 {
		msg := `the body must be {"position": P}, P the last position handled (an integer from 0)`
		writeProblem(w, badRequest(msg, event.FieldError{Pointer: "/position", Message: msg}))
		return
	}
	pos := uint64(*in.Position)
	ctx := r.Context()
	last, err := a.store.LastPosition(ctx)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	if pos > last {
		msg := fmt.Sprintf("position %d is past the end of the log (%d); acknowledge a position a fetch answered", pos, last)
		writeProblem(w, badRequest(msg, event.FieldError{Pointer: "/position", Message: msg}))
		return
	}
	for range casAttempts {
		d, rev, p := a.loadConsumer(ctx, ns, name, key)
		if p != nil {
			writeProblem(w, p)
			return
		}
		switch {
		case pos < d.Checkpoint:
			msg := fmt.Sprintf("consumer %q is acknowledged up to position %d, after %d; a checkpoint never moves back (is another instance of this consumer running?)", name, d.Checkpoint, pos)
			writeProblem(w, &Problem{Type: typeCheckpoint, Title: "Checkpoint ahead", Status: http.StatusConflict, Detail: msg,
				Errors: []event.FieldError{{Pointer: "/position", Message: fmt.Sprintf("at least %d", d.Checkpoint)}}})
			return
		case pos == d.Checkpoint:
			writeJSONValue(w, http.StatusOK, d)
			return
		}
		d.Checkpoint = pos
		_, err := a.putDoc(ctx, key, d, rev)
		if errors.Is(err, ErrRevisionConflict) {
			continue
		}
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		writeJSONValue(w, http.StatusOK, d)
		return
	}
	writeProblem(w, contended(fmt.Sprintf("the checkpoint of consumer %q", name)))
}
