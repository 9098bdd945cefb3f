package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Schema modes of a namespace (NamespaceSettings.SchemaMode): what happens
// to an event whose data does not match its type's latest schema.
const (
	// SchemaModeOff validates nothing.
	SchemaModeOff = "off"
	// SchemaModeWarn stores the event with an ensueviolations extension
	// saying what it broke. The server's default.
	SchemaModeWarn = "warn"
	// SchemaModeEnforce refuses the event (422, one Problem.Errors entry
	// per violation).
	SchemaModeEnforce = "enforce"
)

// Compatibility modes of an event type: what a new version of its schema
// must keep to be registered without force.
const (
	// CompatibilityBackward: every event valid under the old version is
	// valid under the new one, so consumers on the new version read old
	// events. The server's default.
	CompatibilityBackward = "backward"
	// CompatibilityForward: every event valid under the new version is
	// valid under the old one, so consumers still on the old version read
	// new events.
	CompatibilityForward = "forward"
	// CompatibilityFull is backward and forward.
	CompatibilityFull = "full"
	// CompatibilityNone checks nothing.
	CompatibilityNone = "none"
)

// Problem types of the schema registry (Problem.Type).
const (
	// ProblemInvalidSchema: the document is not a JSON Schema the server
	// can use (400); Problem.Detail says why.
	ProblemInvalidSchema = "urn:ensue:problem:invalid-schema"
	// ProblemIncompatibleSchema: the schema breaks its type's
	// compatibility mode (409); RegisterSchema returns it as an
	// *IncompatibleSchemaError.
	ProblemIncompatibleSchema = "urn:ensue:problem:incompatible-schema"
	// ProblemSchemaViolation: in enforce mode, an appended event's data
	// does not match its type's schema (422); Problem.Errors has one entry
	// per violation.
	ProblemSchemaViolation = "urn:ensue:problem:schema-violation"
)

// Schema is one registered version of an event type's schema.
type Schema struct {
	Type string `json:"type"`
	// Version counts the type's versions, from 1.
	Version int `json:"version"`
	// Document is the JSON Schema, as the server keeps it (canonical
	// JSON: keys sorted, no insignificant space).
	Document     json.RawMessage `json:"schema"`
	RegisteredAt time.Time       `json:"registered_at"`
	// Compatibility is the type's compatibility mode (CompatibilityBackward,
	// ...) at the time of the call.
	Compatibility string `json:"compatibility"`
}

// SchemaType summarises the schemas of one event type.
type SchemaType struct {
	Type          string `json:"type"`
	LatestVersion int    `json:"latest_version"`
	// Versions counts the versions kept (deleted ones are not).
	Versions      int    `json:"versions"`
	Compatibility string `json:"compatibility"`
}

// SchemaVersionInfo is one version in a type's history, without its
// document.
type SchemaVersionInfo struct {
	Version      int       `json:"version"`
	RegisteredAt time.Time `json:"registered_at"`
}

// SchemaRegistration is the answer of RegisterSchema.
type SchemaRegistration struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// Created is false when the schema equals a version registered
	// before, whose number Version is: nothing was stored.
	Created bool `json:"created"`
}

// SchemaChange is one change of a schema that breaks its type's
// compatibility mode.
type SchemaChange struct {
	// Pointer is a JSON pointer into the schema, with every $ref inlined,
	// such as "/properties/total"; "" is the root.
	Pointer string `json:"pointer"`
	// Message says what changed and what it breaks.
	Message string `json:"message"`
}

// SchemaCheck is the answer of CheckSchema.
type SchemaCheck struct {
	Type string `json:"type"`
	// Compatibility is the mode checked against.
	Compatibility string `json:"compatibility"`
	// Compatible says RegisterSchema would accept the schema without
	// force: Changes is empty.
	Compatible bool `json:"compatible"`
	// WouldBeVersion is the number the next version would get. A schema
	// equal to a registered version would not get one: RegisterSchema
	// answers that version instead.
	WouldBeVersion int            `json:"would_be_version"`
	Changes        []SchemaChange `json:"errors"`
}

// InferredSchema is the answer of InferSchema.
type InferredSchema struct {
	// Document is a JSON Schema (2020-12) every sampled event's data is
	// valid under: a first draft to edit, then register.
	Document json.RawMessage
	// Samples counts the events it was derived from.
	Samples int
}

// EnvelopeLint is the answer of LintEnvelope.
type EnvelopeLint struct {
	// EventsExamined counts the events read, from the start of the log.
	EventsExamined int `json:"events_examined"`
	// Types lists, by name, the types of which some events lack an
	// attribute; types whose every event has them all are left out.
	Types []EnvelopeGaps `json:"types"`
}

// EnvelopeGaps counts the events of one type that lack the attributes
// consumers need to act on an event without asking other systems.
type EnvelopeGaps struct {
	Type string `json:"type"`
	// Events counts the events of the type examined.
	Events               int `json:"events"`
	MissingSubject       int `json:"missing_subject"`
	MissingTime          int `json:"missing_time"`
	MissingCorrelationID int `json:"missing_correlationid"`
}

// NamespaceSettings are the settings of a namespace.
type NamespaceSettings struct {
	// SchemaMode is SchemaModeOff, SchemaModeWarn or SchemaModeEnforce.
	SchemaMode string `json:"schema_mode"`
}

// IncompatibleSchemaError is a schema RegisterSchema could not register
// because it breaks its type's compatibility mode (409): nothing was
// stored. Keep what the old version allowed, change the type's mode
// (SetSchemaCompatibility), or register it with force. It wraps the
// server's *Problem, which errors.As still finds.
type IncompatibleSchemaError struct {
	Type string
	// Changes are the breaking changes, one each.
	Changes []SchemaChange
	Problem *Problem
}

// Error names the type and the server's title; range over Changes for the
// details.
func (e *IncompatibleSchemaError) Error() string { return e.Type + ": " + e.Problem.Error() }

// Unwrap returns the server's *Problem.
func (e *IncompatibleSchemaError) Unwrap() error { return e.Problem }

// RegisterSchema registers schema (a JSON Schema document) as the next
// version of the event type's schema. A schema equal to a registered
// version stores nothing and answers that version (Created false). One
// that breaks the type's compatibility mode is an
// *IncompatibleSchemaError, unless force; one the server cannot use is a
// *Problem of type ProblemInvalidSchema.
func (c *Client) RegisterSchema(ctx context.Context, eventType string, schema []byte, force bool) (*SchemaRegistration, error) {
	p, err := schemaPath(eventType, "")
	if err != nil {
		return nil, err
	}
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	var out SchemaRegistration
	err = c.do(ctx, http.MethodPut, p, q, nonNil(schema), "application/schema+json", &out)
	if pr, ok := errors.AsType[*Problem](err); ok && pr.Type == ProblemIncompatibleSchema {
		changes := make([]SchemaChange, len(pr.Errors))
		for i, fe := range pr.Errors {
			changes[i] = SchemaChange{Pointer: fe.Pointer, Message: fe.Message}
		}
		return nil, &IncompatibleSchemaError{Type: eventType, Changes: changes, Problem: pr}
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Schemas lists the event types of the namespace that have a schema, by
// name.
func (c *Client) Schemas(ctx context.Context) ([]SchemaType, error) {
	var out struct {
		Schemas []SchemaType `json:"schemas"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/schemas", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.Schemas, nil
}

// Schema returns the latest version of the event type's schema, or an
// error matching ErrNotFound when it has none.
func (c *Client) Schema(ctx context.Context, eventType string) (*Schema, error) {
	return c.schemaCall(ctx, eventType, "")
}

// SchemaVersion returns version n of the event type's schema, or an error
// matching ErrNotFound.
func (c *Client) SchemaVersion(ctx context.Context, eventType string, n int) (*Schema, error) {
	if n < 1 {
		return nil, fmt.Errorf("sdk: schema version %d: versions count from 1", n)
	}
	return c.schemaCall(ctx, eventType, "/versions/"+strconv.Itoa(n))
}

func (c *Client) schemaCall(ctx context.Context, eventType, suffix string) (*Schema, error) {
	p, err := schemaPath(eventType, suffix)
	if err != nil {
		return nil, err
	}
	var s Schema
	if err := c.do(ctx, http.MethodGet, p, nil, nil, "", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SchemaVersions lists the versions kept of the event type's schema,
// oldest first, or an error matching ErrNotFound when it has none.
func (c *Client) SchemaVersions(ctx context.Context, eventType string) ([]SchemaVersionInfo, error) {
	p, err := schemaPath(eventType, "/versions")
	if err != nil {
		return nil, err
	}
	var out struct {
		Versions []SchemaVersionInfo `json:"versions"`
	}
	if err := c.do(ctx, http.MethodGet, p, nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// DeleteSchemaVersion deletes version n of the event type's schema. The
// latest version validates the type's events: the server refuses (409) to
// delete it unless the namespace's schema mode is SchemaModeOff.
func (c *Client) DeleteSchemaVersion(ctx context.Context, eventType string, n int) error {
	if n < 1 {
		return fmt.Errorf("sdk: schema version %d: versions count from 1", n)
	}
	p, err := schemaPath(eventType, "/versions/"+strconv.Itoa(n))
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, "", nil)
}

// SetSchemaCompatibility sets the event type's compatibility mode
// (CompatibilityBackward, ...), which the next versions are checked
// against, and returns it as the server keeps it.
func (c *Client) SetSchemaCompatibility(ctx context.Context, eventType, mode string) (string, error) {
	p, err := schemaPath(eventType, "/compatibility")
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(map[string]string{"compatibility": mode})
	if err != nil {
		return "", fmt.Errorf("sdk: encode request: %w", err)
	}
	var out struct {
		Compatibility string `json:"compatibility"`
	}
	if err := c.do(ctx, http.MethodPut, p, nil, body, "application/json", &out); err != nil {
		return "", err
	}
	return out.Compatibility, nil
}

// CheckSchema says whether schema could be registered as the event type's
// next version without force, and if not, every change that breaks the
// type's compatibility mode. Nothing is stored. A schema the server cannot
// use is a *Problem of type ProblemInvalidSchema.
func (c *Client) CheckSchema(ctx context.Context, eventType string, schema []byte) (*SchemaCheck, error) {
	p, err := schemaPath(eventType, "/check")
	if err != nil {
		return nil, err
	}
	var out SchemaCheck
	if err := c.do(ctx, http.MethodPost, p, nil, nonNil(schema), "application/schema+json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// InferSchema derives a JSON Schema from the data of the event type's
// events in the log, from its start: at most limit events (0 means the
// server's default, 1000). It is a draft to read, edit and register: it
// describes what the events sent, not what they may send. With no event of
// the type (with JSON data), the error matches ErrNotFound.
func (c *Client) InferSchema(ctx context.Context, eventType string, limit int) (*InferredSchema, error) {
	p, err := schemaPath(eventType, "/infer")
	if err != nil {
		return nil, err
	}
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	body, header, err := c.doRaw(ctx, http.MethodPost, p, q)
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("sdk: POST %s: the inferred schema is not JSON", p)
	}
	n, _ := strconv.Atoi(header.Get("Ensue-Samples"))
	return &InferredSchema{Document: body, Samples: n}, nil
}

// LintEnvelope counts, per event type, the events that lack a subject, a
// time or a correlationid: at most limit events from the start of the log
// (0 means the server's default, 10000).
func (c *Client) LintEnvelope(ctx context.Context, limit int) (*EnvelopeLint, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var out EnvelopeLint
	if err := c.do(ctx, http.MethodGet, "/v1/lint/envelope", q, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// NamespaceSettings returns the settings of the client's namespace,
// defaults filled in.
func (c *Client) NamespaceSettings(ctx context.Context) (*NamespaceSettings, error) {
	var out NamespaceSettings
	if err := c.do(ctx, http.MethodGet, c.settingsPath(), nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetNamespaceSettings replaces the settings of the client's namespace and
// returns them as the server keeps them.
func (c *Client) SetNamespaceSettings(ctx context.Context, s NamespaceSettings) (*NamespaceSettings, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("sdk: encode request: %w", err)
	}
	var out NamespaceSettings
	if err := c.do(ctx, http.MethodPut, c.settingsPath(), nil, body, "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// settingsPath is the path of the client's namespace's settings: the
// namespace is in the path there, not only in Ensue-Namespace.
func (c *Client) settingsPath() string {
	ns := c.namespace
	if ns == "" {
		ns = "default" // the server's, when a request names none
	}
	return "/v1/namespaces/" + url.PathEscape(ns) + "/settings"
}

// schemaPath is the escaped path of an event type's schema, or of a part
// of it: a type may hold "/" and other characters, kept in one segment.
func schemaPath(eventType, suffix string) (string, error) {
	if eventType == "" {
		return "", errors.New("sdk: an event type is required")
	}
	return "/v1/schemas/" + url.PathEscape(eventType) + suffix, nil
}

// nonNil keeps an empty document a body, which the server then refuses
// with its reason.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// maxSchemaBody bounds the inferred schema read.
const maxSchemaBody = 16 << 20

// doRaw is do for an answer that is not decoded: it returns the body and
// the headers of a 2xx answer.
func (c *Client) doRaw(ctx context.Context, method, escapedPath string, q url.Values) ([]byte, http.Header, error) {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, escapedPath, q, nil, "")
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/schema+json, application/json, application/problem+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, decodeProblem(resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSchemaBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("sdk: %s %s: read response: %w", method, req.URL.Path, err)
	}
	if len(body) > maxSchemaBody {
		return nil, nil, fmt.Errorf("sdk: %s %s: the answer is larger than %d bytes", method, req.URL.Path, maxSchemaBody)
	}
	return body, resp.Header, nil
}
