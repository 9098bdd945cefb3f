package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/store"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 4<<20 {
		return // let the rare huge buffer go
	}
	b.Reset()
	bufPool.Put(b)
}

// readBody reads the whole body within the request limit.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) *Problem {
	if r.ContentLength > a.cfg.MaxRequestBytes {
		return a.tooLarge()
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	rc := http.NewResponseController(w)
	_, err := buf.ReadFrom(&idleReader{r: http.MaxBytesReader(w, r.Body, a.cfg.MaxRequestBytes), rc: rc, idle: a.cfg.BodyIdleTimeout})
	if err != nil {
		// The deadline stays: net/http discards a short unread body before
		// it answers, which must not wait on a client that stalled; failing
		// at once, it closes the connection after the answer instead.
		_ = rc.SetReadDeadline(time.Now())
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return a.tooLarge()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return &Problem{Type: typeTimeout, Title: "Request timeout", Status: http.StatusRequestTimeout,
				Detail: fmt.Sprintf("the client sent nothing for %s in the middle of the request body; nothing was stored, send the request again", a.cfg.BodyIdleTimeout)}
		}
		return badRequest("could not read the request body: " + err.Error())
	}
	_ = rc.SetReadDeadline(time.Time{})
	return nil
}

// bodyJSON says how readJSON decodes a request body.
type bodyJSON struct {
	// Optional: an empty (or blank) body leaves v as it is.
	Optional bool
	// Strict: a member v does not have is an error.
	Strict bool
	// Usage says what the body must be, for the 400 answer.
	Usage string
}

// readJSON reads the request body into v; on failure it has answered.
func (a *API) readJSON(w http.ResponseWriter, r *http.Request, v any, how bodyJSON) bool {
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return false
	}
	if how.Optional && len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	if how.Strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		writeProblem(w, badRequest("the body must be "+how.Usage+": "+err.Error()))
		return false
	}
	return true
}

// idleReader gives each read of a request body a deadline, so that a client
// that stalls in the middle of a body neither holds its handler for ever
// nor delays a graceful stop, while a slow but steady upload of any size
// goes through.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}

func (a *API) tooLarge() *Problem {
	return &Problem{Type: typeTooLarge, Title: "Request too large", Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("the request body is over %d bytes; split it into smaller batches", a.cfg.MaxRequestBytes)}
}

type ingestMode int

const (
	modeStructured ingestMode = iota
	modeBatch
	modeBinary
)

func (a *API) ingest(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { a.metrics.requests.WithLabelValues("ingest").Observe(time.Since(start).Seconds()) }()
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	atomic := false
	if v := queryParam(r, "atomic"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeProblem(w, badRequest("the query parameter atomic must be true or false", event.FieldError{Pointer: "atomic", Message: fmt.Sprintf("%q is not a boolean", clip(v, 40))}))
			return
		}
		atomic = b
	}
	var mode ingestMode
	ct := r.Header.Get("Content-Type")
	// The header's presence makes binary mode, so that an empty or invalid
	// ce-specversion is reported as such rather than as a media type.
	if _, binary := r.Header["Ce-Specversion"]; binary {
		mode = modeBinary
	} else {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/cloudevents+json":
			mode = modeStructured
		case "application/cloudevents-batch+json":
			mode = modeBatch
		case "application/json":
			mode = -1 // by the body's shape
		default:
			msg := fmt.Sprintf("Content-Type %q is not a CloudEvents encoding: send application/cloudevents+json (one event), application/cloudevents-batch+json (a JSON array of events), application/json, or binary mode with ce-* headers", clip(ct, 100))
			writeProblem(w, &Problem{Type: typeUnsupported, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
				Detail: msg, Errors: []event.FieldError{{Pointer: "Content-Type", Message: msg}}})
			return
		}
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	body := buf.Bytes()
	if mode == -1 {
		mode = modeStructured
		if event.IsBatchBody(body) {
			mode = modeBatch
		}
	}
	if mode == modeBatch {
		a.ingestBatch(w, r, ns, body, atomic)
		return
	}
	var ev *event.Event
	var err error
	if mode == modeBinary {
		ev, err = event.ParseBinary(r.Header, body, a.limits)
	} else {
		ev, err = event.ParseStructured(body, a.limits)
	}
	if err == nil {
		ev, err = a.checkSchema(ns, ev)
	}
	if err != nil {
		a.reject(w, problemOf(err))
		return
	}
	res, errs := a.store.Append(r.Context(), ns, []*event.Event{ev})
	if errs[0] != nil {
		a.reject(w, problemOf(errs[0]))
		return
	}
	a.count(ns, res)
	out := getBuf()
	defer putBuf(out)
	b := appendResult(out.AvailableBuffer(), res[0])
	writeJSON(w, append(b, '\n'))
}

func (a *API) reject(w http.ResponseWriter, p *Problem) {
	a.metrics.rejected.WithLabelValues(strconv.Itoa(p.Status)).Inc()
	writeProblem(w, p)
}

func (a *API) count(ns string, res []store.Result) {
	var n, d int
	for _, r := range res {
		if r.Duplicate {
			d++
		} else if r.Position != 0 {
			n++
		}
	}
	if n > 0 {
		a.metrics.appended.WithLabelValues(ns).Add(float64(n))
	}
	if d > 0 {
		a.metrics.duplicates.WithLabelValues(ns).Add(float64(d))
	}
}

func writeJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	_, _ = w.Write(b)
}

func (a *API) ingestBatch(w http.ResponseWriter, r *http.Request, ns string, body []byte, atomic bool) {
	evs, perrs, err := event.ParseBatch(body, a.limits)
	if err != nil {
		a.reject(w, problemOf(err))
		return
	}
	for i, ev := range evs {
		if perrs[i] == nil {
			evs[i], perrs[i] = a.checkSchema(ns, ev)
		}
	}
	if atomic {
		for i, e := range perrs {
			if e != nil {
				p := problemOf(e)
				p.Index = &i
				p.Detail = fmt.Sprintf("event %d is invalid, so nothing of this atomic batch was stored: %s", i, p.Detail)
				a.reject(w, p)
				return
			}
		}
		res, err := a.store.AppendAtomic(r.Context(), ns, evs)
		if err != nil {
			var be *eventlog.BatchError
			p := problemOf(err)
			if errors.As(err, &be) && be.Index >= 0 {
				idx := be.Index
				p.Index = &idx
				p.Detail = fmt.Sprintf("event %d: %s; nothing of this atomic batch was stored", idx, p.Detail)
			}
			a.reject(w, p)
			return
		}
		a.count(ns, res)
		a.writeResults(w, res, nil)
		return
	}
	valid := make([]*event.Event, 0, len(evs))
	at := make([]int, 0, len(evs))
	for i, ev := range evs {
		if perrs[i] == nil {
			valid = append(valid, ev)
			at = append(at, i)
		}
	}
	res := make([]store.Result, len(evs))
	errs := make([]error, len(evs))
	copy(errs, perrs)
	if len(valid) > 0 {
		vres, verrs := a.store.Append(r.Context(), ns, valid)
		for k, i := range at {
			res[i], errs[i] = vres[k], verrs[k]
		}
	}
	a.count(ns, res)
	a.writeResults(w, res, errs)
}

func (a *API) writeResults(w http.ResponseWriter, res []store.Result, errs []error) {
	out := getBuf()
	defer putBuf(out)
	b := append(out.AvailableBuffer(), `{"results":[`...)
	for i := range res {
		if i > 0 {
			b = append(b, ',')
		}
		if errs != nil && errs[i] != nil {
			p := problemOf(errs[i])
			p.Index = &i
			p.fillErrors()
			a.metrics.rejected.WithLabelValues(strconv.Itoa(p.Status)).Inc()
			pb, _ := jsonMarshal(p)
			b = append(b, pb...)
			continue
		}
		b = appendResult(b, res[i])
	}
	b = append(b, "]}\n"...)
	writeJSON(w, b)
}

// queryParam is r.URL.Query().Get(name), without parsing an empty query.
func queryParam(r *http.Request, name string) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get(name)
}
