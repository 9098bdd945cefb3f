package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/projection"
	"github.com/ensue-dev/ensue/internal/runtime"
	"github.com/ensue-dev/ensue/internal/store"
)

var (
	typeInvalidFlow = problemBase + "invalid-flow"
	typeStateClash  = problemBase + "conflict"
)

func (a *API) routeFlows(m *http.ServeMux) {
	m.HandleFunc("POST /v1/apply", a.applyFile)
	m.HandleFunc("GET /v1/flows", a.listFlows)
	m.HandleFunc("PUT /v1/flows/{name}", a.putFlow)
	m.HandleFunc("GET /v1/flows/{name}", a.getFlow)
	m.HandleFunc("DELETE /v1/flows/{name}", a.deleteFlow)
	m.HandleFunc("POST /v1/flows/{name}/enable", a.enableFlow(true))
	m.HandleFunc("POST /v1/flows/{name}/disable", a.enableFlow(false))
	m.HandleFunc("POST /v1/flows/{name}/secret", a.flowSecret)
	m.HandleFunc("POST /v1/flows/{name}/explain", a.explainFlow)
	m.HandleFunc("GET /v1/runs", a.listRuns(false))
	m.HandleFunc("GET /v1/runs/{id}", a.getRun)
	m.HandleFunc("GET /v1/deadletters", a.listRuns(true))
	m.HandleFunc("GET /v1/deadletters/{id}", a.getDeadLetter)
	m.HandleFunc("POST /v1/deadletters/{id}/redrive", a.resolveDeadLetter(true))
	m.HandleFunc("POST /v1/deadletters/{id}/discard", a.resolveDeadLetter(false))
	m.HandleFunc("POST /v1/deadletters/redrive", a.redriveMany)
}

// serviceNS is the request's namespace, when the service it asks for runs
// on this server (running); otherwise it answers 503 naming the service.
func serviceNS(w http.ResponseWriter, r *http.Request, running bool, what string) (string, bool) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return "", false
	}
	if !running {
		writeProblem(w, &Problem{Type: typeUnavailable, Title: "Not available", Status: http.StatusServiceUnavailable,
			Detail: "this server does not run " + what})
		return "", false
	}
	return ns, true
}

// flowsCtx gates the routes of flows, runs and dead letters.
func (a *API) flowsCtx(w http.ResponseWriter, r *http.Request) (string, bool) {
	return serviceNS(w, r, a.cfg.Runtime != nil, "flows")
}

// runtimeProblem maps an error of the runtime to a problem.
func runtimeProblem(err error) *Problem {
	var fe *flow.Error
	switch {
	case errors.As(err, &fe):
		p := &Problem{Type: typeInvalidFlow, Title: "Invalid flow", Status: http.StatusUnprocessableEntity,
			Detail: fmt.Sprintf("the flow has %d problem(s); each entry of errors says where and what to do", len(fe.Problems))}
		for _, pr := range fe.Problems {
			p.Errors = append(p.Errors, event.FieldError{Pointer: pathPointer(pr.Path), Message: pr.Message, Line: pr.Line, Column: pr.Column})
		}
		return p
	case errors.Is(err, runtime.ErrNotFound):
		return notFound(strings.TrimPrefix(err.Error(), runtime.ErrNotFound.Error()+": "))
	case errors.Is(err, runtime.ErrConflict):
		return &Problem{Type: typeStateClash, Title: "Conflict", Status: http.StatusConflict, Detail: strings.TrimPrefix(err.Error(), runtime.ErrConflict.Error()+": ")}
	case errors.Is(err, runtime.ErrInvalidCursor):
		return badRequest(err.Error(), event.FieldError{Pointer: "cursor", Message: err.Error()})
	}
	return problemOf(err)
}

// pathPointer turns a definition path (steps[1].http.body) into a JSON
// pointer (/steps/1/http/body).
func pathPointer(path string) string {
	if path == "" {
		return ""
	}
	r := strings.NewReplacer("[", ".", "]", "", "~", "~0", "/", "~1")
	return "/" + strings.ReplaceAll(r.Replace(path), ".", "/")
}

func writeJSONValue(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // expressions hold < > &
	if err := enc.Encode(v); err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flowView is a flow as the API shows it.
type flowView struct {
	Name       string          `json:"name"`
	Version    uint64          `json:"version"`
	Enabled    bool            `json:"enabled"`
	Hash       string          `json:"hash"`
	UpdatedAt  string          `json:"updated_at"`
	Position   uint64          `json:"position"`
	Definition json.RawMessage `json:"definition,omitempty"`
}

func viewFlow(f runtime.FlowState, withDef bool) flowView {
	v := flowView{Name: f.Name, Version: f.Version, Enabled: f.Enabled, Hash: f.Hash, Position: f.Position,
		UpdatedAt: f.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	if withDef {
		v.Definition = f.Definition
	}
	return v
}

func (a *API) listFlows(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	flows, err := a.cfg.Runtime.Flows(ns)
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	out := make([]flowView, len(flows))
	for i, f := range flows {
		out[i] = viewFlow(f, false)
	}
	writeJSONValue(w, http.StatusOK, map[string]any{"flows": out})
}

func (a *API) putFlow(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	file := "request body"
	f, err := flow.ParseFlow(file, buf.Bytes())
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	if f.Name == "" {
		f.Name = name
	}
	if p := nameClash("flow", f.Name, name); p != nil {
		writeProblem(w, p)
		return
	}
	res, err := a.cfg.Runtime.Apply(r.Context(), ns, f)
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	writeJSONValue(w, appliedStatus(res.Outcome), res)
}

// nameClash refuses a definition whose name is not the one in its URL.
func nameClash(kind, inBody, inURL string) *Problem {
	if inBody == inURL {
		return nil
	}
	return badRequest(fmt.Sprintf("the %s in the body is named %q but the URL names %q; make them the same", kind, inBody, inURL),
		event.FieldError{Pointer: "/name", Message: "must be " + strconv.Quote(inURL)})
}

// appliedStatus is 201 for a definition applied for the first time, 200
// for an update or no change.
func appliedStatus(outcome string) int {
	if outcome == "created" {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (a *API) getFlow(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	f, err := a.cfg.Runtime.Flow(ns, r.PathValue("name"))
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, viewFlow(*f, true))
}

func (a *API) deleteFlow(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	if err := a.cfg.Runtime.Delete(r.Context(), ns, r.PathValue("name")); err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) enableFlow(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns, ok := a.flowsCtx(w, r)
		if !ok {
			return
		}
		name := r.PathValue("name")
		if err := a.cfg.Runtime.SetEnabled(r.Context(), ns, name, enabled); err != nil {
			writeProblem(w, runtimeProblem(err))
			return
		}
		f, err := a.cfg.Runtime.Flow(ns, name)
		if err != nil {
			writeProblem(w, runtimeProblem(err))
			return
		}
		writeJSONValue(w, http.StatusOK, viewFlow(*f, false))
	}
}

func (a *API) flowSecret(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	rotate := r.URL.Query().Get("rotate") == "true"
	s, err := a.cfg.Runtime.Secret(r.Context(), ns, r.PathValue("name"), rotate)
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSONValue(w, http.StatusCreated, map[string]string{"flow": r.PathValue("name"), "secret": s,
		"note": "shown this once: give it to the receiver, which verifies webhook-signature with it"})
}

func (a *API) explainFlow(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	body := buf.Bytes()
	var ref struct {
		Position *uint64 `json:"position"`
	}
	var evJSON []byte
	if json.Unmarshal(body, &ref) == nil && ref.Position != nil {
		rec, err := a.store.Get(r.Context(), ns, *ref.Position)
		if errors.Is(err, store.ErrNotFound) {
			writeProblem(w, notFound(fmt.Sprintf("no event at position %d in namespace %q", *ref.Position, ns)))
			return
		}
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		evJSON = rec.Data
	} else {
		ev, err := event.ParseStructured(body, a.limits)
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		evJSON = ev.JSON
	}
	ex, err := a.cfg.Runtime.Explain(ns, r.PathValue("name"), evJSON)
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, ex)
}

func (a *API) listRuns(dead bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns, ok := a.flowsCtx(w, r)
		if !ok {
			return
		}
		qp := &queryParser{q: r.URL.Query()}
		f := runtime.RunFilter{Flow: qp.q.Get("flow"), Status: qp.q.Get("status"), CorrelationID: qp.q.Get("correlationid"),
			Limit: qp.limit(), Cursor: qp.q.Get("cursor"), DeadLettered: dead}
		switch f.Status {
		case "", runtime.StatusPending, runtime.StatusRunning, runtime.StatusCompleted, runtime.StatusDeadLettered, runtime.StatusDiscarded:
		default:
			qp.fail("status", fmt.Sprintf("%q is not a run status: use pending, running, completed, dead_lettered or discarded", clip(f.Status, 40)))
		}
		if p := qp.problem(); p != nil {
			writeProblem(w, p)
			return
		}
		page, err := a.cfg.Runtime.Runs(ns, f)
		if err != nil {
			writeProblem(w, runtimeProblem(err))
			return
		}
		writeJSONValue(w, http.StatusOK, page)
	}
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	run, err := a.cfg.Runtime.Run(ns, r.PathValue("id"))
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, run)
}

func (a *API) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	run, err := a.cfg.Runtime.Run(ns, r.PathValue("id"))
	if err == nil && run.Status != runtime.StatusDeadLettered {
		err = fmt.Errorf("%w: run %s is %s, not a dead letter", runtime.ErrNotFound, run.ID, run.Status)
	}
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, run)
}

func (a *API) resolveDeadLetter(redrive bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns, ok := a.flowsCtx(w, r)
		if !ok {
			return
		}
		var run *runtime.Run
		var err error
		if redrive {
			run, err = a.cfg.Runtime.Redrive(r.Context(), ns, r.PathValue("id"))
		} else {
			run, err = a.cfg.Runtime.Discard(r.Context(), ns, r.PathValue("id"))
		}
		if err != nil {
			writeProblem(w, runtimeProblem(err))
			return
		}
		writeJSONValue(w, http.StatusOK, run)
	}
}

// redriveMany redrives the runs named, or every dead letter of a flow.
func (a *API) redriveMany(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	const usage = `{"runs": ["<run id>", ...]} or {"flow": "<name>"} (every dead letter of that flow)`
	var req struct {
		Runs []string `json:"runs"`
		Flow string   `json:"flow"`
	}
	if !a.readJSON(w, r, &req, bodyJSON{Usage: usage}) {
		return
	}
	if len(req.Runs) == 0 && req.Flow == "" {
		writeProblem(w, badRequest("the body must be "+usage))
		return
	}
	if len(req.Runs) == 0 {
		for cursor := ""; ; {
			page, err := a.cfg.Runtime.Runs(ns, runtime.RunFilter{Flow: req.Flow, DeadLettered: true, Limit: 1000, Cursor: cursor})
			if err != nil {
				writeProblem(w, runtimeProblem(err))
				return
			}
			for _, run := range page.Runs {
				req.Runs = append(req.Runs, run.ID)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
	}
	type failure struct {
		Run   string `json:"run"`
		Error string `json:"error"`
	}
	out := struct {
		Redriven []string  `json:"redriven"`
		Failed   []failure `json:"failed"`
	}{Redriven: []string{}, Failed: []failure{}}
	for _, id := range req.Runs {
		if _, err := a.cfg.Runtime.Redrive(r.Context(), ns, id); err != nil {
			out.Failed = append(out.Failed, failure{Run: id, Error: err.Error()})
			continue
		}
		out.Redriven = append(out.Redriven, id)
	}
	writeJSONValue(w, http.StatusOK, out)
}

// applyResult is one document's outcome in POST /v1/apply.
type applyResult struct {
	Kind string `json:"kind"`
	runtime.ApplyResult
}

// applyFile applies every document of one definition file (YAML or JSON,
// several documents separated by ---): all of them, or none when any has a
// problem. ?dry_run=true says what would change.
func (a *API) applyFile(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.flowsCtx(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	file := r.Header.Get("Ensue-Filename")
	if file == "" {
		file = "request body"
	}
	docs, err := flow.ParseFile(file, buf.Bytes())
	if err != nil {
		writeProblem(w, runtimeProblem(err))
		return
	}
	var fe flow.Error
	projections := make([]*projection.Definition, len(docs))
	for i, d := range docs {
		switch {
		case d.Kind == flow.KindProjection:
			// A file of one document is read again as such, so that its
			// problems carry their lines and columns.
			var pd *projection.Definition
			var err error
			if len(docs) == 1 {
				pd, err = projection.ParseDefinition(file, buf.Bytes())
			} else {
				pd, err = projection.FromDocument(d)
			}
			if err == nil {
				_, err = projection.Compile(pd)
			}
			var ce *flow.Error
			switch {
			case errors.As(err, &ce):
				fe.Problems = append(fe.Problems, ce.Problems...)
			case err != nil:
				writeProblem(w, projectionProblem(err))
				return
			case a.cfg.Projections == nil:
				fe.Problems = append(fe.Problems, flow.Problem{File: d.File, Line: d.Line, Column: 1, Path: "kind",
					Message: "this server does not run projections"})
			}
			projections[i] = pd
		case d.Flow == nil:
			fe.Problems = append(fe.Problems, flow.Problem{File: d.File, Line: d.Line, Column: 1, Path: "kind",
				Message: fmt.Sprintf("this server does not apply %ss; apply flows and projections", d.Kind)})
		default:
			if _, err := flow.Compile(d.Flow); err != nil {
				var ce *flow.Error
				if !errors.As(err, &ce) {
					writeProblem(w, runtimeProblem(err))
					return
				}
				fe.Problems = append(fe.Problems, ce.Problems...)
			}
		}
	}
	if len(fe.Problems) > 0 {
		writeProblem(w, runtimeProblem(&fe))
		return
	}
	dry := r.URL.Query().Get("dry_run") == "true"
	out := struct {
		DryRun  bool          `json:"dry_run,omitempty"`
		Results []applyResult `json:"results"`
	}{DryRun: dry, Results: []applyResult{}}
	for i, d := range docs {
		if pd := projections[i]; pd != nil {
			res, err := a.planOrApplyProjection(r.Context(), ns, pd, dry)
			if err != nil {
				writeProblem(w, projectionProblem(err))
				return
			}
			out.Results = append(out.Results, res)
			continue
		}
		var res runtime.ApplyResult
		if dry {
			res, err = a.cfg.Runtime.Plan(r.Context(), ns, d.Flow)
		} else {
			res, err = a.cfg.Runtime.Apply(r.Context(), ns, d.Flow)
		}
		if err != nil {
			writeProblem(w, runtimeProblem(err))
			return
		}
		out.Results = append(out.Results, applyResult{Kind: "flow", ApplyResult: res})
	}
	writeJSONValue(w, http.StatusOK, out)
}

// planOrApplyProjection applies a projection from a file, or says what
// applying it would do. Its "version" is the generation holding it.
func (a *API) planOrApplyProjection(ctx context.Context, ns string, d *projection.Definition, dry bool) (applyResult, error) {
	res := applyResult{Kind: "projection", ApplyResult: runtime.ApplyResult{Name: d.Name}}
	if dry {
		st, err := a.cfg.Projections.Get(ns, d.Name)
		switch {
		case errors.Is(err, projection.ErrNotFound):
			res.Outcome, res.Version = projection.OutcomeCreated, 1
		case err != nil:
			return res, err
		case bytes.Equal(st.Definition, d.Canonical()):
			res.Outcome, res.Version = projection.OutcomeUnchanged, uint64(st.Generation)
		default:
			res.Outcome, res.Version = projection.OutcomeUpdated, uint64(st.Generation+1)
		}
		return res, nil
	}
	ar, err := a.cfg.Projections.Apply(ctx, ns, d)
	if err != nil {
		return res, err
	}
	res.Outcome, res.Version = ar.Outcome, uint64(ar.Generation)
	return res, nil
}
