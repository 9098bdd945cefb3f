package event

import (
	"fmt"
	"net/http"
	"strings"
)

// FieldError is one problem, located by a JSON pointer into the event
// (RFC 6901), e.g. "/type", "/data", "/myext". The pointer is "" when the
// problem is with the event (or the request body) as a whole.
type FieldError struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
	// Line and Column locate the problem in a document sent as text (a
	// flow file), 1-based; 0 when it has no place there.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Keyword is the JSON Schema keyword a schema violation broke.
	Keyword string `json:"keyword,omitempty"`
}

// Error is an invalid event or request. Status is the HTTP status it maps to:
// 400 (invalid), 413 (too large) or 415 (unsupported media type). Title and
// Detail fit the RFC 9457 problem fields of the same names; Errors lists every
// problem found, in a stable order.
type Error struct {
	Status int
	Title  string
	Detail string
	Errors []FieldError
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Title)
	if len(e.Errors) == 0 {
		b.WriteString(": ")
		b.WriteString(e.Detail)
		return b.String()
	}
	for i, fe := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if fe.Pointer != "" {
			b.WriteString(fe.Pointer)
			b.WriteString(": ")
		}
		b.WriteString(fe.Message)
	}
	return b.String()
}

// Titles of the errors this package returns. They are stable, so the HTTP edge
// and tests may compare them.
const (
	TitleInvalidEvent     = "Invalid event"
	TitleInvalidBatch     = "Invalid batch"
	TitleMalformedJSON    = "Malformed JSON"
	TitleEventTooLarge    = "Event too large"
	TitleUnsupportedMedia = "Unsupported media type"
)

// maxFieldErrors bounds the problems kept for one event, so that a hostile
// event with a million bad member names costs no more than a bad one.
const maxFieldErrors = 100

// newEventError builds the Error for an event whose problems are errs. The
// caller must not reuse errs afterwards unless it passes a copy.
func newEventError(status int, errs []FieldError, total int) *Error {
	title := TitleInvalidEvent
	if status == http.StatusRequestEntityTooLarge {
		title = TitleEventTooLarge
	}
	detail := ""
	switch {
	case len(errs) == 0:
		detail = "the event is invalid"
	case total == 1:
		detail = pointed(errs[0])
	default:
		detail = fmt.Sprintf("%s (and %d more problems, listed in errors)", pointed(errs[0]), total-1)
	}
	return &Error{Status: status, Title: title, Detail: detail, Errors: errs}
}

func pointed(fe FieldError) string {
	if fe.Pointer == "" {
		return fe.Message
	}
	return fe.Pointer + ": " + fe.Message
}

// bodyError is a whole-body problem: malformed JSON, invalid UTF-8, the wrong
// shape of body. Its single FieldError has the pointer "".
func bodyError(title, msg string) *Error {
	return &Error{
		Status: http.StatusBadRequest,
		Title:  title,
		Detail: msg,
		Errors: []FieldError{{Pointer: "", Message: msg}},
	}
}

// pointerTo returns the RFC 6901 pointer to the top-level member name.
func pointerTo(name string) string {
	if !strings.ContainsAny(name, "~/") {
		return "/" + name
	}
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}
