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

// States of a projection (ProjectionStatus.State).
const (
	// ProjectionRunning: caught up with the log, or nearly.
	ProjectionRunning = "running"
	// ProjectionCatchingUp: further behind the log than the server's lag
	// thresholds (1000 positions or 1s by default).
	ProjectionCatchingUp = "catching-up"
	// ProjectionFailed: a reducer refused an event (ProjectionStatus.Error
	// says which); the projection waits for ResumeProjection.
	ProjectionFailed = "failed"
	// ProjectionRebuilding: a new generation is reading the log from its
	// start (ProjectionStatus.Rebuild); the current one answers meanwhile.
	ProjectionRebuilding = "rebuilding"
)

// ProblemInvalidProjection is the problem type of a projection definition
// that does not compile (422); PutProjection returns it as a
// *DefinitionError.
const ProblemInvalidProjection = "urn:ensue:problem:invalid-projection"

// ProjectionApplyResult is the answer of PutProjection.
type ProjectionApplyResult struct {
	Name string `json:"name"`
	// Outcome is OutcomeCreated, OutcomeUpdated or OutcomeUnchanged.
	Outcome string `json:"outcome"`
	// Generation is the generation that holds the definition: for a
	// changed one, the new generation being built from the start of the
	// log, which answers once it has caught up.
	Generation int `json:"generation"`
}

// ProjectionStatus is a projection's progress and definition.
type ProjectionStatus struct {
	Name string `json:"name"`
	// State is ProjectionRunning, ProjectionCatchingUp, ProjectionFailed
	// or ProjectionRebuilding.
	State string `json:"state"`
	// Generation is the generation answering reads, from 1; each rebuild
	// (and each changed definition) makes the next.
	Generation int `json:"generation"`
	// Position is the last log position that generation applied or
	// skipped.
	Position int64 `json:"position"`
	// LagPositions and LagSeconds say how far behind the log's head it is.
	LagPositions int64   `json:"lag_positions"`
	LagSeconds   float64 `json:"lag_seconds"`
	// Error is the event a reducer refused, which stopped the projection
	// (State ProjectionFailed); during a rebuild, it may be the failure of
	// the generation being replaced.
	Error *ProjectionFailure `json:"error,omitempty"`
	// Rebuild is the progress of the generation being built, if any.
	Rebuild *RebuildProgress `json:"rebuild,omitempty"`
	// Definition is the latest definition applied, as canonical JSON.
	Definition json.RawMessage `json:"definition"`
}

// ProjectionFailure is the event a projection's reducer refused.
type ProjectionFailure struct {
	Position  int64  `json:"position"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Error is the reducer's error.
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// RebuildProgress is the progress of a projection's next generation.
type RebuildProgress struct {
	Generation int `json:"generation"`
	// Position is where the new generation has read the log to; Target
	// is where it replaces the current one.
	Position int64 `json:"position"`
	Target   int64 `json:"target"`
	// Rate is in positions per second; 0 until it is known.
	Rate float64 `json:"rate"`
	// ETA is the time left at Rate (the server sends nanoseconds).
	ETA time.Duration `json:"eta"`
}

// ProjectionDocument is one document of a projection: the state its
// reducers folded for one key.
type ProjectionDocument struct {
	Key string `json:"key"`
	// State is the document's state, as JSON.
	State json.RawMessage `json:"state"`
	// Position is the last event applied to it; Updates counts the events
	// applied to it.
	Position int64 `json:"position"`
	Updates  int   `json:"updates"`
}

// DocumentOptions choose which state ProjectionDocument returns. The zero
// value is the current state, as far as the projection has read.
type DocumentOptions struct {
	// MinPosition waits (a few seconds at most) until the projection has
	// applied the log up to this position, such as the position of an
	// event just appended: read your writes.
	MinPosition int64
	// AtPosition returns the document as it was after the events up to
	// this position; AtTime, as it was after the events recorded up to
	// this time. Set one at most.
	AtPosition int64
	AtTime     time.Time
}

// ProjectionQuery selects documents of a projection.
type ProjectionQuery struct {
	// Filter is a CEL expression over doc (the document's state) and key,
	// true for the documents wanted; "" selects all. An equality on an
	// indexed field uses the index.
	Filter string `json:"filter,omitempty"`
	// OrderBy is a top-level field of the state, or "key" (the default);
	// a leading "-" orders descending.
	OrderBy string `json:"order_by,omitempty"`
	// Limit is the most documents a page holds (1 to 1000); 0 means the
	// server's default, 100.
	Limit int `json:"limit,omitempty"`
	// Cursor continues from a previous page: its Next, with the same
	// Filter and OrderBy.
	Cursor string `json:"cursor,omitempty"`
	// MinPosition waits until the projection has applied the log up to
	// this position, as DocumentOptions.MinPosition.
	MinPosition int64 `json:"-"`
}

// ProjectionPage is one page of documents.
type ProjectionPage struct {
	Documents []ProjectionDocument `json:"documents"`
	// Next is the ProjectionQuery.Cursor of the following page; "" on the
	// last.
	Next string `json:"next,omitempty"`
}

// ProjectionBehindError is a read with a MinPosition the projection has
// not reached in the time the server waits (503): it has applied the log
// up to Position. When Failed, it will not get further by itself: it
// stopped on a reducer error (ProjectionStatus.Error) and waits for
// ResumeProjection; otherwise retry shortly. It wraps the server's
// *Problem, which errors.As still finds.
type ProjectionBehindError struct {
	Projection string
	Position   int64
	Failed     bool
	Problem    *Problem
}

// Error is the server's title and detail, which say where the projection
// stopped.
func (e *ProjectionBehindError) Error() string { return e.Problem.Error() }

// Unwrap returns the server's *Problem.
func (e *ProjectionBehindError) Unwrap() error { return e.Problem }

// PutProjection applies a projection's definition (YAML or JSON) under
// name: created, or, when it differs from the current one, built into a
// new generation from the start of the log while the current generation
// keeps answering. The definition must name the projection name (the
// server refuses one without a name as invalid, and one naming another
// with a *Problem, 400). An invalid definition is a *DefinitionError.
// ApplyFile applies projection documents too.
func (c *Client) PutProjection(ctx context.Context, name string, definition []byte) (*ProjectionApplyResult, error) {
	p, err := projectionPath(name, "")
	if err != nil {
		return nil, err
	}
	var out ProjectionApplyResult
	if err := c.doProjection(ctx, http.MethodPut, p, nil, nonNil(definition), "application/yaml", name, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Projections lists the statuses of the namespace's projections, by name.
func (c *Client) Projections(ctx context.Context) ([]ProjectionStatus, error) {
	var out struct {
		Projections []ProjectionStatus `json:"projections"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/projections", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.Projections, nil
}

// Projection returns a projection's status and definition, or an error
// matching ErrNotFound.
func (c *Client) Projection(ctx context.Context, name string) (*ProjectionStatus, error) {
	return c.projectionCall(ctx, http.MethodGet, name, "", nil)
}

// DeleteProjection deletes a projection, its definition and its documents.
func (c *Client) DeleteProjection(ctx context.Context, name string) error {
	p, err := projectionPath(name, "")
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, "", nil)
}

// RebuildProjection starts building a new generation of the projection
// from the start of the log, with the same definition, and returns the
// status then (State ProjectionRebuilding). The current generation
// answers until the new one has caught up and replaces it; poll
// Projection until Generation is the new one.
func (c *Client) RebuildProjection(ctx context.Context, name string) (*ProjectionStatus, error) {
	return c.projectionCall(ctx, http.MethodPost, name, "/rebuild", nil)
}

// ResumeProjection restarts a projection stopped by a reducer error: it
// retries the failed event when skipPosition is 0 (after a fix elsewhere,
// say), or skips exactly that event when skipPosition is its position
// (ProjectionStatus.Error.Position); another position is refused (409),
// as is resuming a projection that has not failed.
func (c *Client) ResumeProjection(ctx context.Context, name string, skipPosition int64) (*ProjectionStatus, error) {
	if skipPosition < 0 {
		return nil, fmt.Errorf("sdk: skip position %d: positions count from 1", skipPosition)
	}
	body := []byte(`{}`)
	if skipPosition > 0 {
		body = []byte(`{"skip_position":` + strconv.FormatInt(skipPosition, 10) + `}`)
	}
	return c.projectionCall(ctx, http.MethodPost, name, "/resume", body)
}

func (c *Client) projectionCall(ctx context.Context, method, name, suffix string, body []byte) (*ProjectionStatus, error) {
	p, err := projectionPath(name, suffix)
	if err != nil {
		return nil, err
	}
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	var st ProjectionStatus
	if err := c.do(ctx, method, p, nil, body, contentType, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ProjectionDocument returns the projection's document of key, now or as
// o says; an error matching ErrNotFound when the projection, or the key
// (at that time), has none; a *ProjectionBehindError when o.MinPosition is
// not reached in time.
func (c *Client) ProjectionDocument(ctx context.Context, name, key string, o DocumentOptions) (*ProjectionDocument, error) {
	if key == "" {
		return nil, errors.New("sdk: a document key is required")
	}
	p, err := projectionPath(name, "/documents/"+url.PathEscape(key))
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if o.MinPosition > 0 {
		q.Set("min_position", strconv.FormatInt(o.MinPosition, 10))
	}
	switch {
	case o.AtPosition > 0 && !o.AtTime.IsZero():
		return nil, errors.New("sdk: ProjectionDocument: set AtPosition or AtTime, not both")
	case o.AtPosition < 0 || o.MinPosition < 0:
		return nil, errors.New("sdk: ProjectionDocument: positions count from 1")
	case o.AtPosition > 0:
		q.Set("at", strconv.FormatInt(o.AtPosition, 10))
	case !o.AtTime.IsZero():
		q.Set("at", o.AtTime.UTC().Format(time.RFC3339Nano))
	}
	var doc ProjectionDocument
	if err := c.doProjection(ctx, http.MethodGet, p, q, nil, "", name, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// QueryProjection returns one page of the documents q selects. To read
// on, call it again with q.Cursor set to the page's Next, until Next is
// "". A filter, order or cursor the server cannot use is a *Problem (400)
// whose Errors name the field.
func (c *Client) QueryProjection(ctx context.Context, name string, q ProjectionQuery) (*ProjectionPage, error) {
	p, err := projectionPath(name, "/query")
	if err != nil {
		return nil, err
	}
	if q.MinPosition < 0 {
		return nil, errors.New("sdk: QueryProjection: positions count from 1")
	}
	var v url.Values
	if q.MinPosition > 0 {
		v = url.Values{"min_position": {strconv.FormatInt(q.MinPosition, 10)}}
	}
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("sdk: encode request: %w", err)
	}
	var page ProjectionPage
	if err := c.doProjection(ctx, http.MethodPost, p, v, body, "application/json", name, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// projectionPath is the escaped path of a projection, or of a part of it.
func projectionPath(name, suffix string) (string, error) {
	if name == "" {
		return "", errors.New("sdk: a projection name is required")
	}
	return "/v1/projections/" + url.PathEscape(name) + suffix, nil
}

// doProjection is do for the calls whose refusals carry more than a
// *Problem holds: an invalid definition becomes a *DefinitionError, a
// projection behind a min_position a *ProjectionBehindError (the
// position it reached is a member of the problem the SDK's Problem does
// not have).
func (c *Client) doProjection(ctx context.Context, method, escapedPath string, q url.Values, body []byte, contentType, name string, out any) error {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, escapedPath, q, body, contentType)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		p := problemFrom(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		var extra struct {
			Position *int64              `json:"position"`
			Errors   []DefinitionProblem `json:"errors"`
		}
		_ = json.Unmarshal(raw, &extra)
		switch {
		case p.Type == ProblemInvalidProjection:
			return &DefinitionError{File: "request body", Problems: extra.Errors, Problem: p}
		case p.Status == http.StatusServiceUnavailable && extra.Position != nil:
			// The problem tells a failed projection from a slow one only
			// in its prose: ask the status.
			behind := &ProjectionBehindError{Projection: name, Position: *extra.Position, Problem: p}
			if st, err := c.Projection(ctx, name); err == nil && st.Error != nil && st.State == ProjectionFailed {
				behind.Failed = true
			}
			return behind
		}
		return p
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("sdk: %s %s: decode response: %w", method, req.URL.Path, err)
	}
	return nil
}
