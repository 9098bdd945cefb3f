package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Sentinel errors, matched with errors.Is against errors returned by the
// client (a *Problem matches them by its status).
var (
	// ErrWrongExpectedVersion: an append stated an expected stream version
	// and the stream was at another one (409 with currentVersion). Read the
	// stream again, decide, and retry with the new version.
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	// ErrNotFound: the event, position or stream asked for does not exist (404).
	ErrNotFound = errors.New("not found")
)

// FieldError points at one invalid part of a request.
type FieldError struct {
	// Pointer is a JSON pointer (RFC 6901) into the event, e.g. "/type".
	Pointer string `json:"pointer"`
	// Message says what is wrong there.
	Message string `json:"message"`
	// Line and Column place the problem in a definition file (flows),
	// 1-based; 0 elsewhere.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Keyword is the JSON Schema keyword a schema violation broke.
	Keyword string `json:"keyword,omitempty"`
}

// Problem is an error answered by the server as an RFC 9457
// application/problem+json document. Responses that are not problem
// documents (from a proxy, say) are turned into a Problem too, with the
// HTTP status and the start of the body in Detail.
type Problem struct {
	Type   string       `json:"type,omitempty"`
	Title  string       `json:"title,omitempty"`
	Status int          `json:"status,omitempty"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// CurrentVersion is the stream's version when an expected version did not
	// match (409).
	CurrentVersion *int64 `json:"currentVersion,omitempty"`
	// Index is the position of the failing event in a batch (from 0).
	Index *int `json:"index,omitempty"`
}

// Error gives the title, detail and status on one line. Field errors are not
// included; range over Errors to show them.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.Index != nil {
		fmt.Fprintf(&b, "event %d: ", *p.Index)
	}
	title := p.Title
	if title == "" {
		title = http.StatusText(p.Status)
	}
	if title == "" {
		title = "request failed"
	}
	b.WriteString(title)
	if p.Detail != "" && p.Detail != p.Title {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	if p.Status != 0 {
		fmt.Fprintf(&b, " (%d)", p.Status)
	}
	return b.String()
}

// Is lets errors.Is match ErrWrongExpectedVersion and ErrNotFound.
func (p *Problem) Is(target error) bool {
	switch target {
	case ErrWrongExpectedVersion:
		return p.Status == http.StatusConflict && p.CurrentVersion != nil
	case ErrNotFound:
		return p.Status == http.StatusNotFound
	}
	return false
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// decodeProblem turns a non-2xx response into a *Problem.
func decodeProblem(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return problemFrom(resp.StatusCode, resp.Header.Get("Content-Type"), body)
}

func problemFrom(status int, contentType string, body []byte) *Problem {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if mediaType == "application/problem+json" || mediaType == "application/json" {
		var p Problem
		if err := json.Unmarshal(body, &p); err == nil && (p.Title != "" || p.Type != "" || p.Status != 0 || p.Detail != "") {
			if p.Status == 0 {
				p.Status = status
			}
			return &p
		}
	}
	detail := strings.TrimSpace(string(body))
	if len(detail) > 300 {
		detail = detail[:300] + "…"
	}
	if detail == "" {
		detail = "the server answered " + strconv.Itoa(status) + " with an empty body"
	} else {
		detail = "the server answered " + strconv.Itoa(status) + " without a problem document: " + detail
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}
