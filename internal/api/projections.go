package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/projection"
)

// minPositionWait bounds how long ?min_position waits for a projection.
const minPositionWait = 5 * time.Second

func (a *API) routeProjections(m *http.ServeMux) {
	m.HandleFunc("GET /v1/projections", a.listProjections)
	m.HandleFunc("PUT /v1/projections/{name}", a.putProjection)
	m.HandleFunc("GET /v1/projections/{name}", a.getProjection)
	m.HandleFunc("DELETE /v1/projections/{name}", a.deleteProjection)
	m.HandleFunc("GET /v1/projections/{name}/documents/{key}", a.getDocument)
	m.HandleFunc("POST /v1/projections/{name}/query", a.queryProjection)
	m.HandleFunc("POST /v1/projections/{name}/rebuild", a.rebuildProjection)
	m.HandleFunc("POST /v1/projections/{name}/resume", a.resumeProjection)
}

func (a *API) projectionsCtx(w http.ResponseWriter, r *http.Request) (string, bool) {
	return serviceNS(w, r, a.cfg.Projections != nil, "projections")
}

// projectionProblem maps an error of the projection manager to a problem.
func projectionProblem(err error) *Problem {
	var fe *flow.Error
	var lag *projection.NotCaughtUpError
	var qe *projection.QueryError
	var se *projection.SkipError
	switch {
	case errors.As(err, &fe):
		p := runtimeProblem(err)
		p.Type, p.Title = problemBase+"invalid-projection", "Invalid projection"
		p.Detail = fmt.Sprintf("the projection has %d problem(s); each entry of errors says where and what to do", len(fe.Problems))
		return p
	case errors.As(err, &lag):
		cur := lag.Position
		if lag.Failure != nil {
			// Retrying will not help until someone fixes or resumes it.
			return &Problem{Type: problemBase + "projection-failed", Title: "Projection failed", Status: http.StatusServiceUnavailable,
				Detail: fmt.Sprintf("the projection failed on the event at position %d (%s); it has applied everything before it. Fix its definition, or resume it (POST .../resume, optionally skipping that event)", lag.Failure.Position, lag.Failure.Error),
				Errors: []event.FieldError{{Pointer: "min_position", Message: fmt.Sprintf("the projection failed at position %d", lag.Failure.Position)}}, Position: &cur}
		}
		return &Problem{Type: typeUnavailable, Title: "Projection behind", Status: http.StatusServiceUnavailable, RetryAfter: 1,
			Detail: fmt.Sprintf("the projection has applied its namespace's events up to position %d, not yet the one asked for; retry shortly", cur),
			Errors: []event.FieldError{{Pointer: "min_position", Message: fmt.Sprintf("the projection is at position %d", cur)}}, Position: &cur}
	case errors.As(err, &qe):
		return badRequest(err.Error(), event.FieldError{Pointer: "/" + qe.Field, Message: qe.Err.Error()})
	case errors.As(err, &se):
		return &Problem{Type: typeStateClash, Title: "Conflict", Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, projection.ErrNotFound), errors.Is(err, projection.ErrNoDocument):
		return notFound(err.Error())
	case errors.Is(err, projection.ErrNotFailed):
		return &Problem{Type: typeStateClash, Title: "Conflict", Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, projection.ErrStopped):
		return &Problem{Type: typeUnavailable, Title: "Projections stopped", Status: http.StatusServiceUnavailable, Detail: err.Error(), RetryAfter: 1}
	}
	return problemOf(err)
}

func (a *API) listProjections(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	list := a.cfg.Projections.List(ns)
	if list == nil {
		list = []projection.Status{}
	}
	writeJSONValue(w, http.StatusOK, map[string]any{"projections": list})
}

func (a *API) putProjection(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	name := r.PathValue("name")
	d, err := parseProjectionBody(buf.Bytes(), name)
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	if p := nameClash("projection", d.Name, name); p != nil {
		writeProblem(w, p)
		return
	}
	a.applyProjection(w, r, ns, d)
}

// applyProjection applies one projection and answers.
func (a *API) applyProjection(w http.ResponseWriter, r *http.Request, ns string, d *projection.Definition) {
	if _, err := projection.Compile(d); err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	res, err := a.cfg.Projections.Apply(r.Context(), ns, d)
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	writeJSONValue(w, appliedStatus(res.Outcome), res)
}

func (a *API) getProjection(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	st, err := a.cfg.Projections.Get(ns, r.PathValue("name"))
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, st)
}

func (a *API) deleteProjection(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	if err := a.cfg.Projections.Delete(r.Context(), ns, r.PathValue("name")); err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitMinPosition honours ?min_position: read your writes.
func (a *API) waitMinPosition(w http.ResponseWriter, r *http.Request, ns, name string) bool {
	v := r.URL.Query().Get("min_position")
	if v == "" {
		return true
	}
	pos, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		writeProblem(w, badRequest(fmt.Sprintf("min_position %q is not a position", clip(v, 30)), event.FieldError{Pointer: "min_position", Message: "not a non-negative integer"}))
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), minPositionWait)
	defer cancel()
	if err := a.cfg.Projections.WaitPosition(ctx, ns, name, pos); err != nil {
		writeProblem(w, projectionProblem(err))
		return false
	}
	return true
}

func (a *API) getDocument(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.waitMinPosition(w, r, ns, name) {
		return
	}
	var at *projection.At
	if v := r.URL.Query().Get("at"); v != "" {
		if pos, err := strconv.ParseUint(v, 10, 64); err == nil {
			at = &projection.At{Position: pos}
		} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			at = &projection.At{Time: t}
		} else {
			writeProblem(w, badRequest(fmt.Sprintf("at %q is neither a position nor an RFC 3339 time such as 2026-11-29T10:00:00Z", clip(v, 60)),
				event.FieldError{Pointer: "at", Message: "a position or an RFC 3339 time"}))
			return
		}
	}
	doc, err := a.cfg.Projections.Document(r.Context(), ns, name, r.PathValue("key"), at)
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, doc)
}

func (a *API) queryProjection(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if !a.waitMinPosition(w, r, ns, name) {
		return
	}
	var q struct {
		Filter  string `json:"filter"`
		OrderBy string `json:"order_by"`
		Limit   int    `json:"limit"`
		Cursor  string `json:"cursor"`
	}
	if !a.readJSON(w, r, &q, bodyJSON{Optional: true, Strict: true,
		Usage: `{"filter": "<CEL over doc and key>", "order_by": "field" or "-field", "limit": n, "cursor": "..."}`}) {
		return
	}
	page, err := a.cfg.Projections.Query(r.Context(), ns, name, projection.Query{Filter: q.Filter, OrderBy: q.OrderBy, Limit: q.Limit, Cursor: q.Cursor})
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, page)
}

func (a *API) rebuildProjection(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := a.cfg.Projections.Rebuild(r.Context(), ns, name); err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	st, err := a.cfg.Projections.Get(ns, name)
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	writeJSONValue(w, http.StatusAccepted, st)
}

func (a *API) resumeProjection(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.projectionsCtx(w, r)
	if !ok {
		return
	}
	var body struct {
		SkipPosition uint64 `json:"skip_position"`
	}
	if !a.readJSON(w, r, &body, bodyJSON{Optional: true, Usage: `empty or {"skip_position": N}`}) {
		return
	}
	name := r.PathValue("name")
	if err := a.cfg.Projections.Resume(r.Context(), ns, name, body.SkipPosition); err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	st, err := a.cfg.Projections.Get(ns, name)
	if err != nil {
		writeProblem(w, projectionProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, st)
}

// parseProjectionBody reads the one projection of a PUT body; a body
// without a name takes the URL's.
func parseProjectionBody(body []byte, name string) (*projection.Definition, error) {
	docs, err := flow.ParseFile("request body", body)
	if err != nil {
		return nil, err
	}
	if len(docs) == 1 && docs[0].Name == "" {
		var m map[string]any
		if json.Unmarshal(docs[0].Raw, &m) == nil && m != nil {
			m["name"] = name
			if raw, err := json.Marshal(m); err == nil {
				docs[0].Raw, docs[0].Name = raw, name
				return projection.FromDocument(docs[0])
			}
		}
	}
	return projection.ParseDefinition("request body", body)
}
