package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
)

// Snapshots: one per stream and namespace, the state a client folded from
// the stream's events up to a version, so that loading an aggregate reads
// only the events after it. The server does not interpret the state; it only
// checks that the version exists and keeps the newest snapshot.

const typeSnapshotAhead = problemBase + "snapshot-ahead-of-stream"

// snapshotDoc is a snapshot as stored and as GET answers it.
type snapshotDoc struct {
	Stream   string          `json:"stream"`
	Version  uint64          `json:"version"`
	State    json.RawMessage `json:"state"`
	StoredAt time.Time       `json:"stored_at"`
}

// routeSnapshots lists the snapshot routes in the mux's table. ServeHTTP
// answers them before the mux (see snapshotStream), since a stream name may
// hold any character.
func (a *API) routeSnapshots(m *http.ServeMux) {
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		m.HandleFunc(method+" /v1/streams/{stream}/snapshot", a.snapshot)
	}
}

// snapshotStream returns the stream named by an escaped path
// /v1/streams/{stream}/snapshot, the name being one escaped segment.
func snapshotStream(escapedPath string) (string, bool) {
	rest, ok := strings.CutSuffix(escapedPath, "/snapshot")
	if !ok {
		return "", false
	}
	return singleSegment(rest, "/v1/streams/")
}

// snapshotKey is a KV key for any stream name: its bytes are base64url
// encoded, since a key allows only [-/_=.a-zA-Z0-9].
func snapshotKey(ns, stream string) string {
	return ns + "." + base64.RawURLEncoding.EncodeToString([]byte(stream))
}

func (a *API) snapshot(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	if a.cfg.Snapshots == nil {
		writeProblem(w, kvUnavailable("snapshots"))
		return
	}
	stream := r.PathValue("stream")
	if stream == "" || len(stream) > event.MaxSubjectBytes {
		msg := fmt.Sprintf("a stream name is 1 to %d bytes", event.MaxSubjectBytes)
		writeProblem(w, badRequest(msg, event.FieldError{Pointer: "stream", Message: msg}))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		a.getSnapshot(w, r, ns, stream)
	case http.MethodPut:
		a.putSnapshot(w, r, ns, stream)
	case http.MethodDelete:
		if err := a.cfg.Snapshots.Delete(r.Context(), snapshotKey(ns, stream)); err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeProblem(w, &Problem{Type: typeMethodBlocked, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: fmt.Sprintf("%s does not answer %s; use GET, PUT or DELETE", r.URL.Path, r.Method)})
	}
}

func (a *API) getSnapshot(w http.ResponseWriter, r *http.Request, ns, stream string) {
	b, _, err := a.cfg.Snapshots.Get(r.Context(), snapshotKey(ns, stream))
	if errors.Is(err, ErrKeyNotFound) {
		writeProblem(w, notFound(fmt.Sprintf("stream %q has no snapshot in namespace %q; fold the stream from version 1", clip(stream, 200), ns)))
		return
	}
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	writeJSON(w, append(b, '\n'))
}

// putSnapshot keeps the snapshot unless one of a later version is stored:
// then it answers 200 with stored false and the kept snapshot's version, so
// that writers racing to snapshot one stream all succeed and the newest wins.
func (a *API) putSnapshot(w http.ResponseWriter, r *http.Request, ns, stream string) {
	var in struct {
		Version *int64          `json:"version"`
		State   json.RawMessage `json:"state"`
	}
	if !a.readJSON(w, r, &in, bodyJSON{Strict: true, Usage: `a JSON object {"version": <stream version>, "state": <any JSON>}`}) {
		return
	}
	var errs []event.FieldError
	if in.Version == nil || *in.Version < 1 {
		errs = append(errs, event.FieldError{Pointer: "/version", Message: "the stream version the state folds up to is required, an integer from 1"})
	}
	if in.State == nil {
		errs = append(errs, event.FieldError{Pointer: "/state", Message: "the folded state is required (any JSON value)"})
	}
	if errs != nil {
		writeProblem(w, badRequest("invalid snapshot; see errors", errs...))
		return
	}
	if len(in.State) > a.cfg.MaxEventBytes {
		writeProblem(w, &Problem{Type: typeTooLarge, Title: "Snapshot too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the state is %d bytes, over the event size limit of %d; keep less in the snapshot", len(in.State), a.cfg.MaxEventBytes)})
		return
	}
	version := uint64(*in.Version)
	ctx := r.Context()
	_, cur, err := a.store.Stream(ctx, ns, stream, 0, 1, true)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	if version > cur {
		msg := fmt.Sprintf("stream %q is at version %d, so no state folds up to version %d; snapshot a version the stream has", clip(stream, 200), cur, version)
		writeProblem(w, &Problem{Type: typeSnapshotAhead, Title: "Snapshot ahead of the stream", Status: http.StatusConflict, Detail: msg,
			Errors: []event.FieldError{{Pointer: "/version", Message: fmt.Sprintf("at most %d", cur)}}})
		return
	}
	doc := snapshotDoc{Stream: stream, Version: version, State: in.State, StoredAt: time.Now().UTC()}
	val, err := json.Marshal(doc)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	key := snapshotKey(ns, stream)
	kv := a.cfg.Snapshots
	for range casAttempts {
		old, rev, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, ErrKeyNotFound):
			_, err = kv.Create(ctx, key, val)
		case err != nil:
		default:
			var prev snapshotDoc
			if json.Unmarshal(old, &prev) == nil && prev.Version > version {
				writeSnapshotResult(w, prev, false)
				return
			}
			_, err = kv.Update(ctx, key, val, rev)
		}
		if errors.Is(err, ErrRevisionConflict) {
			continue
		}
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		writeSnapshotResult(w, doc, true)
		return
	}
	writeProblem(w, contended(fmt.Sprintf("the snapshot of stream %q", clip(stream, 200))))
}

func writeSnapshotResult(w http.ResponseWriter, d snapshotDoc, stored bool) {
	writeJSONValue(w, http.StatusOK, struct {
		Stream   string    `json:"stream"`
		Version  uint64    `json:"version"`
		StoredAt time.Time `json:"stored_at"`
		Stored   bool      `json:"stored"`
	}{d.Stream, d.Version, d.StoredAt, stored})
}
