package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/store"
)

const maxLimit = 1000

// queryParser collects every problem with a request's query parameters.
type queryParser struct {
	q    url.Values
	errs []event.FieldError
}

func (qp *queryParser) fail(name, msg string) {
	qp.errs = append(qp.errs, event.FieldError{Pointer: name, Message: msg})
}

func (qp *queryParser) uint(name string, def uint64) uint64 {
	v := qp.q.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		qp.fail(name, fmt.Sprintf("%q is not a non-negative integer", clip(v, 40)))
		return def
	}
	return n
}

func (qp *queryParser) limit() int {
	n := qp.uint("limit", 100)
	if n < 1 || n > maxLimit {
		qp.fail("limit", fmt.Sprintf("limit must be between 1 and %d, got %d; page with next instead", maxLimit, n))
		return 100
	}
	return int(n)
}

func (qp *queryParser) time(name string) time.Time {
	v := qp.q.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		qp.fail(name, fmt.Sprintf("%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", clip(v, 60)))
	}
	return t
}

func (qp *queryParser) problem() *Problem {
	if len(qp.errs) == 0 {
		return nil
	}
	return badRequest("invalid query parameters; see errors", qp.errs...)
}

// filter parses the filters shared by /v1/events and /v1/subscribe.
func (qp *queryParser) filter(ns string) store.Filter {
	f := store.Filter{
		Namespace:     ns,
		Type:          qp.q.Get("type"),
		Source:        qp.q.Get("source"),
		Subject:       qp.q.Get("subject"),
		CorrelationID: qp.q.Get("correlationid"),
		Since:         qp.time("since"),
		Until:         qp.time("until"),
	}
	if i := strings.IndexByte(f.Type, '*'); i >= 0 && i != len(f.Type)-1 {
		qp.fail("type", "a type filter may only end with '*' (a prefix such as order.*)")
	}
	if len(f.Subject) > event.MaxSubjectBytes {
		qp.fail("subject", fmt.Sprintf("subject is at most %d bytes", event.MaxSubjectBytes))
	}
	return f
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	qp := &queryParser{q: r.URL.Query()}
	q := store.Query{After: qp.uint("after", 0), Limit: qp.limit(), Filter: qp.filter(ns)}
	if p := qp.problem(); p != nil {
		writeProblem(w, p)
		return
	}
	recs, next, err := a.store.Events(r.Context(), q)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	out := getBuf()
	defer putBuf(out)
	b := append(out.AvailableBuffer(), '{')
	b = appendRecords(b, recs)
	b = append(b, `,"next":`...)
	b = strconv.AppendUint(b, next, 10)
	writeJSON(w, append(b, "}\n"...))
}

func (a *API) writeRecord(w http.ResponseWriter, rec store.Record) {
	out := getBuf()
	defer putBuf(out)
	writeJSON(w, append(appendRecord(out.AvailableBuffer(), rec), '\n'))
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	raw := r.PathValue("position")
	if !isInteger(raw) {
		writeProblem(w, badRequest(fmt.Sprintf("%q is not a position: positions are integers from 1", clip(raw, 40)), event.FieldError{Pointer: "position", Message: "not an integer"}))
		return
	}
	// An integer that cannot be a position (0, negative, past uint64) names
	// no event: 404, like any other absent position.
	pos, err := strconv.ParseUint(raw, 10, 64)
	if err == nil && pos > 0 {
		var rec store.Record
		if rec, err = a.store.Get(r.Context(), ns, pos); err == nil {
			a.writeRecord(w, rec)
			return
		}
	} else {
		err = store.ErrNotFound
	}
	p = problemOf(err)
	if p.Status == http.StatusNotFound {
		p.Detail = fmt.Sprintf("no event at position %s in namespace %q", clip(raw, 40), ns)
	}
	writeProblem(w, p)
}

// isInteger reports whether s is a decimal integer, optionally negative.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (a *API) lookup(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	q := r.URL.Query()
	source, id := q.Get("source"), q.Get("id")
	var errs []event.FieldError
	if source == "" {
		errs = append(errs, event.FieldError{Pointer: "source", Message: "the query parameter source is required"})
	}
	if id == "" {
		errs = append(errs, event.FieldError{Pointer: "id", Message: "the query parameter id is required"})
	}
	if errs != nil {
		writeProblem(w, badRequest("lookup needs the event's source and id", errs...))
		return
	}
	rec, err := a.store.Lookup(r.Context(), ns, source, id)
	if err != nil {
		p := problemOf(err)
		if p.Status == http.StatusNotFound {
			p.Detail = fmt.Sprintf("no event with source %q and id %q in namespace %q", clip(source, 200), clip(id, 200), ns)
		}
		writeProblem(w, p)
		return
	}
	a.writeRecord(w, rec)
}

func (a *API) readStream(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	stream := r.PathValue("stream")
	qp := &queryParser{q: r.URL.Query()}
	from := qp.uint("from", 0)
	limit := qp.limit()
	backward := false
	switch d := qp.q.Get("direction"); d {
	case "", "forward":
	case "backward":
		backward = true
	default:
		qp.fail("direction", fmt.Sprintf("direction must be forward or backward, got %q", clip(d, 40)))
	}
	if stream == "" || len(stream) > event.MaxSubjectBytes {
		qp.fail("stream", fmt.Sprintf("a stream name is 1 to %d bytes", event.MaxSubjectBytes))
	}
	if p := qp.problem(); p != nil {
		writeProblem(w, p)
		return
	}
	recs, cur, err := a.store.Stream(r.Context(), ns, stream, from, limit, backward)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	out := getBuf()
	defer putBuf(out)
	b := append(out.AvailableBuffer(), `{"stream":`...)
	b = appendString(b, stream)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, cur, 10)
	b = append(b, ',')
	b = appendRecords(b, recs)
	writeJSON(w, append(b, "}\n"...))
}

func (a *API) correlation(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	recs, err := a.store.Correlation(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	out := getBuf()
	defer putBuf(out)
	b := append(out.AvailableBuffer(), '{')
	b = appendRecords(b, recs)
	writeJSON(w, append(b, "}\n"...))
}
