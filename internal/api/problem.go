package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/registry"
	"github.com/ensue-dev/ensue/internal/store"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type           string             `json:"type"`
	Title          string             `json:"title"`
	Status         int                `json:"status"`
	Detail         string             `json:"detail,omitempty"`
	Errors         []event.FieldError `json:"errors,omitempty"`
	CurrentVersion *uint64            `json:"currentVersion,omitempty"`
	Index          *int               `json:"index,omitempty"`
	// Position is where a derived view stands, when it is behind.
	Position *uint64 `json:"position,omitempty"`
	// RetryAfter, in seconds, is sent as a header, not in the body.
	RetryAfter int `json:"-"`
}

const problemBase = "urn:ensue:problem:"

// problem types, one per kind of failure a client may branch on.
var (
	typeInvalidEvent  = problemBase + "invalid-event"
	typeInvalidQuery  = problemBase + "invalid-request"
	typeTooLarge      = problemBase + "too-large"
	typeTimeout       = problemBase + "request-timeout"
	typeUnsupported   = problemBase + "unsupported-media-type"
	typeConflict      = problemBase + "wrong-expected-version"
	typePartlyStored  = problemBase + "atomic-batch-partly-stored"
	typeNotFound      = problemBase + "not-found"
	typeUnavailable   = problemBase + "unavailable"
	typeInternal      = problemBase + "internal"
	typeBadNamespace  = problemBase + "invalid-namespace"
	typeMethodBlocked = problemBase + "method-not-allowed"
)

func writeProblem(w http.ResponseWriter, p *Problem) {
	p.fillErrors()
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fillErrors gives a problem without field errors one naming the request as
// a whole (pointer ""), so that every problem lists what was wrong in
// errors, as the API promises.
func (p *Problem) fillErrors() {
	if len(p.Errors) == 0 {
		p.Errors = []event.FieldError{{Pointer: "", Message: p.Detail}}
	}
}

func badRequest(detail string, errs ...event.FieldError) *Problem {
	return &Problem{Type: typeInvalidQuery, Title: "Invalid request", Status: http.StatusBadRequest, Detail: detail, Errors: errs}
}

func notFound(detail string) *Problem {
	return &Problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: detail}
}

// problemOf maps an error from the event or store packages to a problem.
func problemOf(err error) *Problem {
	var ee *event.Error
	var ve *eventlog.VersionError
	var sv *registry.ViolationError
	switch {
	case errors.As(err, &sv):
		return violationProblem(sv)
	case errors.As(err, &ee):
		p := &Problem{Title: ee.Title, Status: ee.Status, Detail: ee.Detail, Errors: ee.Errors}
		switch ee.Status {
		case http.StatusRequestEntityTooLarge:
			p.Type = typeTooLarge
		case http.StatusUnsupportedMediaType:
			p.Type = typeUnsupported
		default:
			p.Type = typeInvalidEvent
		}
		if p.Detail == "" {
			p.Detail = ee.Error()
		}
		return p
	case errors.As(err, &ve):
		cur := ve.Current
		return &Problem{
			Type: typeConflict, Title: "Wrong expected version", Status: http.StatusConflict,
			Detail: fmt.Sprintf("stream %q is at version %d, but the event expected version %d; read the stream, decide again, and retry with expectedversion %d",
				ve.Stream, ve.Current, ve.Expected, ve.Current),
			Errors:         []event.FieldError{{Pointer: "/expectedversion", Message: fmt.Sprintf("the stream is at version %d", ve.Current)}},
			CurrentVersion: &cur,
		}
	case errors.Is(err, store.ErrPartlyStored):
		return &Problem{Type: typePartlyStored, Title: "Atomic batch partly stored", Status: http.StatusConflict,
			Detail: "some events of this atomic batch are already stored (same source and id) and others are not, so it cannot be stored all-or-nothing; send only the missing events, or the batch exactly as it was stored"}
	case errors.Is(err, store.ErrNotFound):
		return notFound(err.Error())
	case errors.Is(err, store.ErrNotReady):
		return &Problem{Type: typeUnavailable, Title: "Starting", Status: http.StatusServiceUnavailable, Detail: err.Error() + "; retry shortly", RetryAfter: 1}
	case errors.Is(err, eventlog.ErrUnavailable):
		return &Problem{Type: typeUnavailable, Title: "Log unavailable", Status: http.StatusServiceUnavailable,
			Detail: err.Error() + "; the outcome is unknown: retry the same request, a stored event is answered as a duplicate", RetryAfter: 1}
	default:
		return &Problem{Type: typeInternal, Title: "Internal error", Status: http.StatusInternalServerError, Detail: err.Error()}
	}
}
