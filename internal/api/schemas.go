package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/registry"
	"github.com/ensue-dev/ensue/internal/schema"
	"github.com/ensue-dev/ensue/internal/schema/infer"
	"github.com/ensue-dev/ensue/internal/store"
)

var (
	typeSchemaViolation = problemBase + "schema-violation"
	typeIncompatible    = problemBase + "incompatible-schema"
	typeInvalidSchema   = problemBase + "invalid-schema"
)

// violationProblem is the 422 of an event refused in enforce mode.
func violationProblem(e *registry.ViolationError) *Problem {
	p := &Problem{Type: typeSchemaViolation, Title: "Schema violation", Status: http.StatusUnprocessableEntity,
		Detail: fmt.Sprintf("the event's data does not match schema %q version %d (%d violation(s)); fix the data, or pin another version with dataschema /v1/schemas/%s/versions/N",
			e.Type, e.Version, len(e.Violations), registry.PathEscape(e.Type))}
	for _, v := range e.Violations {
		p.Errors = append(p.Errors, event.FieldError{Pointer: v.Pointer, Keyword: v.Keyword, Message: v.Message})
	}
	return p
}

// checkSchema validates an event's data when its namespace asks for it
// (see registry.Check), counting the violations.
func (a *API) checkSchema(ns string, ev *event.Event) (*event.Event, error) {
	if a.cfg.Schemas == nil {
		return ev, nil
	}
	out, o, err := a.cfg.Schemas.Check(ns, ev)
	if n := len(o.Violations); n > 0 {
		a.metrics.violations.WithLabelValues(ns, o.Mode).Add(float64(n))
	}
	return out, err
}

func (a *API) routeSchemas(m *http.ServeMux) {
	m.HandleFunc("GET /v1/schemas", a.listSchemas)
	m.HandleFunc("PUT /v1/schemas/{type}", a.putSchema)
	m.HandleFunc("GET /v1/schemas/{type}", a.getSchema)
	m.HandleFunc("GET /v1/schemas/{type}/versions", a.listVersions)
	m.HandleFunc("GET /v1/schemas/{type}/versions/{n}", a.getSchema)
	m.HandleFunc("DELETE /v1/schemas/{type}/versions/{n}", a.deleteSchema)
	m.HandleFunc("PUT /v1/schemas/{type}/compatibility", a.putCompatibility)
	m.HandleFunc("GET /v1/schemas/{type}/compatibility", a.getCompatibility)
	m.HandleFunc("POST /v1/schemas/{type}/check", a.checkCompatibility)
	m.HandleFunc("POST /v1/schemas/{type}/infer", a.inferSchema)
	m.HandleFunc("GET /v1/lint/envelope", a.lintEnvelope)
	m.HandleFunc("GET /v1/namespaces/{ns}/settings", a.getSettings)
	m.HandleFunc("PUT /v1/namespaces/{ns}/settings", a.putSettings)
}

func (a *API) schemasCtx(w http.ResponseWriter, r *http.Request) (string, bool) {
	return serviceNS(w, r, a.cfg.Schemas != nil, "a schema registry")
}

// registryProblem maps an error of the registry to a problem.
func registryProblem(err error) *Problem {
	var ie *registry.IncompatibleError
	var ce *schema.CompileError
	switch {
	case errors.As(err, &ie):
		p := &Problem{Type: typeIncompatible, Title: "Incompatible schema", Status: http.StatusConflict,
			Detail: fmt.Sprintf("%v; each entry of errors is one change. Keep the old behaviour, set another compatibility mode (PUT /v1/schemas/{type}/compatibility), or register anyway with ?force=true", err)}
		for _, c := range ie.Changes {
			p.Errors = append(p.Errors, event.FieldError{Pointer: c.Path, Message: c.Message})
		}
		return p
	case errors.Is(err, registry.ErrInvalidSetting):
		return badRequest(strings.TrimPrefix(err.Error(), registry.ErrInvalidSetting.Error()+": "))
	case errors.As(err, &ce), errors.Is(err, registry.ErrInvalid):
		msg := strings.TrimPrefix(err.Error(), registry.ErrInvalid.Error()+": ")
		return &Problem{Type: typeInvalidSchema, Title: "Invalid schema", Status: http.StatusBadRequest, Detail: msg}
	case errors.Is(err, registry.ErrNotFound):
		return notFound(strings.TrimPrefix(err.Error(), registry.ErrNotFound.Error()+": "))
	case errors.Is(err, registry.ErrConflict):
		return &Problem{Type: typeStateClash, Title: "Conflict", Status: http.StatusConflict, Detail: strings.TrimPrefix(err.Error(), registry.ErrConflict.Error()+": ")}
	}
	return problemOf(err)
}

func (a *API) listSchemas(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	writeJSONValue(w, http.StatusOK, map[string]any{"schemas": a.cfg.Schemas.Types(ns)})
}

func (a *API) putSchema(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	typ := r.PathValue("type")
	v, created, err := a.cfg.Schemas.Register(r.Context(), ns, typ, buf.Bytes(), r.URL.Query().Get("force") == "true")
	if err != nil {
		writeProblem(w, registryProblem(err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSONValue(w, status, map[string]any{"type": v.Type, "version": v.Version, "created": created})
}

// schemaView is a version as the API shows it.
type schemaView struct {
	*registry.Version
	Compatibility string `json:"compatibility"`
}

func (a *API) getSchema(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	typ := r.PathValue("type")
	var v *registry.Version
	var err error
	if nv := r.PathValue("n"); nv != "" {
		n, perr := strconv.Atoi(nv)
		if perr != nil || n < 1 {
			writeProblem(w, badRequest(fmt.Sprintf("version %q is not a positive integer", clip(nv, 20))))
			return
		}
		v, err = a.cfg.Schemas.Get(ns, typ, n)
	} else if v = a.cfg.Schemas.Latest(ns, typ); v == nil {
		err = fmt.Errorf("%w: no schema for type %q in namespace %q", registry.ErrNotFound, typ, ns)
	}
	if err != nil {
		writeProblem(w, registryProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, schemaView{Version: v, Compatibility: string(a.cfg.Schemas.Compatibility(ns, typ))})
}

func (a *API) listVersions(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	typ := r.PathValue("type")
	list := a.cfg.Schemas.Versions(ns, typ)
	if len(list) == 0 {
		writeProblem(w, notFound(fmt.Sprintf("no schema for type %q in namespace %q", typ, ns)))
		return
	}
	type item struct {
		Version      int    `json:"version"`
		RegisteredAt string `json:"registered_at"`
	}
	out := make([]item, len(list))
	for i, v := range list {
		out[i] = item{Version: v.Version, RegisteredAt: v.RegisteredAt.Format("2006-01-02T15:04:05.000Z07:00")}
	}
	writeJSONValue(w, http.StatusOK, map[string]any{"type": typ, "versions": out})
}

func (a *API) deleteSchema(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		writeProblem(w, badRequest(fmt.Sprintf("version %q is not a positive integer", clip(r.PathValue("n"), 20))))
		return
	}
	if err := a.cfg.Schemas.Delete(r.Context(), ns, r.PathValue("type"), n); err != nil {
		writeProblem(w, registryProblem(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) putCompatibility(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if !a.readJSON(w, r, &body, bodyJSON{Usage: `{"compatibility": "backward|forward|full|none"}`}) {
		return
	}
	typ := r.PathValue("type")
	if err := a.cfg.Schemas.SetCompatibility(r.Context(), ns, typ, body.Compatibility); err != nil {
		writeProblem(w, registryProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, map[string]string{"type": typ, "compatibility": string(a.cfg.Schemas.Compatibility(ns, typ))})
}

func (a *API) getCompatibility(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	typ := r.PathValue("type")
	writeJSONValue(w, http.StatusOK, map[string]string{"type": typ, "compatibility": string(a.cfg.Schemas.Compatibility(ns, typ))})
}

func (a *API) checkCompatibility(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.schemasCtx(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	if p := a.readBody(w, r, buf); p != nil {
		writeProblem(w, p)
		return
	}
	typ := r.PathValue("type")
	mode, changes, err := a.cfg.Schemas.CheckCompatibility(ns, typ, buf.Bytes())
	if err != nil {
		writeProblem(w, registryProblem(err))
		return
	}
	errs := make([]event.FieldError, len(changes))
	for i, c := range changes {
		errs[i] = event.FieldError{Pointer: c.Path, Message: c.Message}
	}
	next := a.cfg.Schemas.NextVersion(ns, typ)
	writeJSONValue(w, http.StatusOK, map[string]any{"type": typ, "compatibility": mode, "compatible": len(changes) == 0, "would_be_version": next, "errors": errs})
}

// inferSchema derives a schema from the data of stored events of a type.
func (a *API) inferSchema(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	qp := &queryParser{q: r.URL.Query()}
	limit := int(qp.uint("limit", 1000))
	if p := qp.problem(); p != nil {
		writeProblem(w, p)
		return
	}
	if limit < 1 || limit > 100000 {
		writeProblem(w, badRequest("limit must be between 1 and 100000 events"))
		return
	}
	typ := r.PathValue("type")
	inf := infer.New(infer.Options{Title: typ})
	var after uint64
	skipped := 0
	var parser fastjson.Parser
	for inf.Samples()+skipped < limit {
		recs, next, err := a.store.Events(r.Context(), store.Query{Filter: store.Filter{Namespace: ns, Type: typ}, After: after, Limit: min(1000, limit-inf.Samples()-skipped)})
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		for _, rec := range recs {
			v, err := parser.ParseBytes(rec.Data)
			if err != nil || v.Get("data") == nil {
				skipped++
				continue
			}
			if err := inf.Add(v.Get("data").MarshalTo(nil)); err != nil {
				skipped++
			}
		}
		if next <= after {
			break
		}
		after = next
	}
	if inf.Samples() == 0 {
		writeProblem(w, notFound(fmt.Sprintf("no event of type %q with JSON data in namespace %q to infer a schema from", typ, ns)))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/schema+json")
	h.Set("Ensue-Samples", strconv.Itoa(inf.Samples()))
	_, _ = w.Write(inf.Schema())
}

// lintEnvelope counts, per event type, the events that lack the context
// consumers need to act without asking other systems.
func (a *API) lintEnvelope(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	qp := &queryParser{q: r.URL.Query()}
	limit := int(qp.uint("limit", 10000))
	if p := qp.problem(); p != nil {
		writeProblem(w, p)
		return
	}
	type counts struct {
		Type               string `json:"type"`
		Events             int    `json:"events"`
		MissingSubject     int    `json:"missing_subject"`
		MissingTime        int    `json:"missing_time"`
		MissingCorrelation int    `json:"missing_correlationid"`
	}
	byType := map[string]*counts{}
	var parser fastjson.Parser
	var after uint64
	seen := 0
	for seen < limit {
		recs, next, err := a.store.Events(r.Context(), store.Query{Filter: store.Filter{Namespace: ns}, After: after, Limit: min(1000, limit-seen)})
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		for _, rec := range recs {
			seen++
			v, err := parser.ParseBytes(rec.Data)
			if err != nil {
				continue
			}
			typ := string(v.GetStringBytes("type"))
			c := byType[typ]
			if c == nil {
				c = &counts{Type: typ}
				byType[typ] = c
			}
			c.Events++
			if len(v.GetStringBytes("subject")) == 0 {
				c.MissingSubject++
			}
			if len(v.GetStringBytes("time")) == 0 {
				c.MissingTime++
			}
			if len(v.GetStringBytes("correlationid")) == 0 {
				c.MissingCorrelation++
			}
		}
		if next <= after || len(recs) == 0 {
			break
		}
		after = next
	}
	out := make([]counts, 0, len(byType))
	for _, c := range byType {
		if c.MissingSubject+c.MissingTime+c.MissingCorrelation > 0 {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	writeJSONValue(w, http.StatusOK, map[string]any{"events_examined": seen, "types": out})
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.settingsNS(w, r)
	if !ok {
		return
	}
	writeJSONValue(w, http.StatusOK, a.cfg.Schemas.Settings(ns))
}

func (a *API) putSettings(w http.ResponseWriter, r *http.Request) {
	ns, ok := a.settingsNS(w, r)
	if !ok {
		return
	}
	var s registry.Settings
	if !a.readJSON(w, r, &s, bodyJSON{Strict: true, Usage: `{"schema_mode": "off|warn|enforce"}`}) {
		return
	}
	if err := a.cfg.Schemas.SetSettings(r.Context(), ns, s); err != nil {
		writeProblem(w, registryProblem(err))
		return
	}
	writeJSONValue(w, http.StatusOK, a.cfg.Schemas.Settings(ns))
}

// settingsNS is the namespace named by the path.
func (a *API) settingsNS(w http.ResponseWriter, r *http.Request) (string, bool) {
	ns := r.PathValue("ns")
	if !namespaceRE.MatchString(ns) {
		writeProblem(w, badRequest(fmt.Sprintf("%q is not a namespace: use 1 to 63 lowercase letters, digits and '-'", clip(ns, 80))))
		return "", false
	}
	if a.cfg.Schemas == nil {
		writeProblem(w, &Problem{Type: typeUnavailable, Title: "Schemas not available", Status: http.StatusServiceUnavailable, Detail: "this server has no schema registry"})
		return "", false
	}
	return ns, true
}
