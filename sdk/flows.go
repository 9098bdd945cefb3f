package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Outcomes of applying a flow (ApplyResult.Outcome).
const (
	OutcomeCreated   = "created"
	OutcomeUpdated   = "updated"
	OutcomeUnchanged = "unchanged"
)

// Statuses of a run (Run.Status, RunQuery.Status).
const (
	RunPending      = "pending"
	RunRunning      = "running"
	RunCompleted    = "completed"
	RunDeadLettered = "dead_lettered"
	RunDiscarded    = "discarded"
)

// Statuses of a step of a run (RunStep.Status).
const (
	StepPending   = "pending"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
)

// ApplyResponse is the answer of ApplyFile: one result per document of the
// file, in the file's order.
type ApplyResponse struct {
	// DryRun says nothing was changed: the results say what would be.
	DryRun  bool          `json:"dry_run,omitempty"`
	Results []ApplyResult `json:"results"`
}

// ApplyResult says what applying one definition changed (or, in a dry run,
// would change).
type ApplyResult struct {
	// Kind is what the document defines, "flow". PutFlow leaves it empty.
	Kind    string `json:"kind,omitempty"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
	// Outcome is OutcomeCreated, OutcomeUpdated or OutcomeUnchanged.
	Outcome string `json:"outcome"`
	// Position is the log position of the change; 0 when nothing was
	// written (unchanged, or a dry run).
	Position int64 `json:"position,omitempty"`
	// Changes lists the parts of the definition an update changes, as
	// paths such as "on.when" or "steps[0].http.url".
	Changes []string `json:"changes,omitempty"`
}

// Flow is a flow as the server keeps it.
type Flow struct {
	Name string `json:"name"`
	// Version counts the definitions applied, from 1.
	Version int64 `json:"version"`
	// Enabled flows start runs; disabled ones ignore the events appended
	// while they are disabled.
	Enabled bool `json:"enabled"`
	// Hash identifies the definition: applying one with the same hash
	// changes nothing.
	Hash      string    `json:"hash"`
	UpdatedAt time.Time `json:"updated_at"`
	// Position is the log position of the flow's latest change.
	Position int64 `json:"position"`
	// Definition is the canonical JSON of the definition (defaults filled
	// in). Only Flow returns it; Flows, EnableFlow and DisableFlow leave it
	// nil.
	Definition json.RawMessage `json:"definition,omitempty"`
}

// Explanation says whether a flow's trigger matches an event, and which
// condition decided.
type Explanation struct {
	Flow    string `json:"flow"`
	Version int64  `json:"version"`
	Enabled bool   `json:"enabled"`
	// Triggered says the event would start a run.
	Triggered bool `json:"triggered"`
	// Checks are the trigger's conditions (type, source, when) in the
	// order evaluated; they stop at the first that fails. Conditions the
	// flow does not set are left out.
	Checks []Check `json:"checks"`
	// Note says why an event that matches still would not trigger (the
	// flow is disabled, the event is Ensue's own).
	Note string `json:"note,omitempty"`
}

// Check is one condition of a trigger, evaluated against an event.
type Check struct {
	// Condition is "type", "source" or "when".
	Condition string `json:"condition"`
	// Expected is the glob (type, source) or the CEL expression (when).
	Expected string `json:"expected"`
	// Actual is the event's type or source, or the value the expression
	// produced. Numbers are json.Number.
	Actual any    `json:"actual"`
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"`
	// Values holds, for when, the value of each event.* selection of the
	// expression, such as {"event.data.total": 900}; selections the event
	// does not have are left out.
	Values map[string]any `json:"values,omitempty"`
}

// RunQuery selects runs (Runs) or dead letters (DeadLetters). The zero
// RunQuery selects the first page of all of them.
type RunQuery struct {
	// Flow selects the runs of one flow.
	Flow string
	// Status selects runs in one status (RunPending, ...). DeadLetters
	// ignores it.
	Status string
	// CorrelationID selects the runs of one correlation.
	CorrelationID string
	// Limit is the most runs a page holds (1 to 1000); 0 means the
	// server's default, 100.
	Limit int
	// Cursor continues from a previous page: its Next.
	Cursor string
}

func (q RunQuery) values(withStatus bool) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("flow", q.Flow)
	if withStatus {
		set("status", q.Status)
	}
	set("correlationid", q.CorrelationID)
	set("cursor", q.Cursor)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// RunPage is one page of runs, ordered by flow name, then by the position
// of the event that triggered them.
type RunPage struct {
	Runs []Run `json:"runs"`
	// Next is the RunQuery.Cursor of the following page; "" on the last.
	Next string `json:"next,omitempty"`
}

// Run is one execution of a flow, started by one event.
type Run struct {
	// ID is "<flow>-<trigger position>".
	ID          string `json:"id"`
	Namespace   string `json:"namespace"`
	Flow        string `json:"flow"`
	FlowVersion int64  `json:"flow_version"`
	// Status is RunPending, RunRunning, RunCompleted, RunDeadLettered or
	// RunDiscarded.
	Status  string     `json:"status"`
	Trigger RunTrigger `json:"trigger"`
	// CorrelationID is carried by the events the run emits.
	CorrelationID string `json:"correlation_id"`
	// Hops counts the runs upstream of this one in its correlation (a run
	// triggered by an event another run emitted).
	Hops int `json:"hops,omitempty"`
	// Steps are the steps started so far, in order.
	Steps []RunStep `json:"steps"`
	// Redrives counts the times the run was redriven.
	Redrives int `json:"redrives,omitempty"`
	// Error is why the run was dead-lettered, and FailedStep the step
	// that failed.
	Error      string    `json:"error,omitempty"`
	FailedStep string    `json:"failed_step,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// LastPosition is the log position of the latest event recording the
	// run's progress.
	LastPosition int64 `json:"last_position"`
}

// RunTrigger names the event that started a run.
type RunTrigger struct {
	Position int64  `json:"position"`
	ID       string `json:"id"`
	Source   string `json:"source"`
	Type     string `json:"type"`
	Subject  string `json:"subject,omitempty"`
}

// RunStep is one step of a run.
type RunStep struct {
	ID string `json:"id"`
	// Status is StepPending, StepSucceeded or StepFailed.
	Status string `json:"status"`
	// Attempts counts the attempts since the run's last redrive.
	Attempts int `json:"attempts"`
	// History keeps the latest attempts of an HTTP step (the server keeps
	// a few, not all).
	History []StepAttempt `json:"history,omitempty"`
	// Output is the step's result as JSON: an HTTP step's response, an
	// emit step's event.
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
}

// StepAttempt is one attempt of an HTTP step.
type StepAttempt struct {
	// Attempt numbers it, from 1.
	Attempt  int           `json:"attempt"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	// Status is the HTTP status answered; 0 when none was (a transport
	// error, a timeout).
	Status int `json:"status,omitempty"`
	// Error is what failed: a transport error, a timeout, "HTTP 503".
	Error string `json:"error,omitempty"`
	// RetryAfter is the Retry-After the target asked for.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
	// Delay is the backoff chosen before the next attempt.
	Delay time.Duration `json:"delay_ns,omitempty"`
	// Final says no retry followed: a success, or a failure not retried.
	Final    bool          `json:"final"`
	Response *StepResponse `json:"response,omitempty"`
}

// StepResponse is an HTTP answer to a step.
type StepResponse struct {
	Status int `json:"status"`
	// Headers has lower-case names; repeated headers are joined with ", ".
	Headers map[string]string `json:"headers"`
	// Body is the body when it is JSON, else its text as a JSON string.
	Body json.RawMessage `json:"body,omitempty"`
	// Truncated says Body holds only the beginning of a longer body.
	Truncated bool `json:"truncated,omitempty"`
}

// RedriveRequest names the dead letters RedriveMany redrives: the runs
// listed, or every dead letter of a flow.
type RedriveRequest struct {
	Runs []string `json:"runs,omitempty"`
	Flow string   `json:"flow,omitempty"`
}

// RedriveResult is the answer of RedriveMany.
type RedriveResult struct {
	Redriven []string         `json:"redriven"`
	Failed   []RedriveFailure `json:"failed"`
}

// RedriveFailure is a dead letter RedriveMany could not redrive.
type RedriveFailure struct {
	Run   string `json:"run"`
	Error string `json:"error"`
}

// DefinitionError is a definition the server refused as invalid (422):
// nothing of it was applied. Each problem says where it is in the file.
// It wraps the server's *Problem, which errors.As still finds.
type DefinitionError struct {
	// File is the name the definition was sent under: ApplyFile's
	// filename, "request body" for PutFlow.
	File string
	// Problems are what is wrong, in the file's order.
	Problems []DefinitionProblem
	// Problem is the server's answer.
	Problem *Problem
}

// DefinitionProblem is one thing wrong with a definition.
type DefinitionProblem struct {
	// Pointer is a JSON pointer to the field, e.g. "/steps/0/http/url".
	Pointer string `json:"pointer"`
	// Message says what is wrong. The server starts it with "line L,
	// column C: " when Line is set.
	Message string `json:"message"`
	// Line and Column place the problem in the file, from 1; 0 when it has
	// no place there.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// Error names the file and the server's title; range over Problems for the
// details.
func (e *DefinitionError) Error() string { return e.File + ": " + e.Problem.Error() }

// Unwrap returns the server's *Problem.
func (e *DefinitionError) Unwrap() error { return e.Problem }

// typeInvalidFlow is the problem type of a definition that does not compile.
const typeInvalidFlow = "urn:ensue:problem:invalid-flow"

// ApplyFile sends the content of one definition file (YAML or JSON, several
// documents separated by "---") to be applied: all of its documents, or
// none when any is invalid, in which case the error is a
// *DefinitionError. filename names the file in the server's messages and
// chooses the content type (.json is JSON, anything else YAML). With dryRun,
// nothing changes and the answer says what would.
func (c *Client) ApplyFile(ctx context.Context, filename string, content []byte, dryRun bool) (*ApplyResponse, error) {
	var q url.Values
	if dryRun {
		q = url.Values{"dry_run": {"true"}}
	}
	if filename == "" {
		filename = "request body"
	}
	var out ApplyResponse
	if err := c.doDefinition(ctx, http.MethodPost, "/v1/apply", q, filename, content, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutFlow applies one flow's definition (YAML or JSON) under name: it
// becomes the flow's next version unless it equals the current one. The
// definition may leave out its name; if it has one, it must be name. An
// invalid definition is a *DefinitionError.
func (c *Client) PutFlow(ctx context.Context, name string, definition []byte) (*ApplyResult, error) {
	p, err := flowPath(name, "")
	if err != nil {
		return nil, err
	}
	var out ApplyResult
	if err := c.doDefinition(ctx, http.MethodPut, p, nil, "", definition, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Flows lists the namespace's flows by name, without their definitions.
func (c *Client) Flows(ctx context.Context) ([]Flow, error) {
	var out struct {
		Flows []Flow `json:"flows"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/flows", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.Flows, nil
}

// Flow returns a flow with its definition, or an error matching
// ErrNotFound.
func (c *Client) Flow(ctx context.Context, name string) (*Flow, error) {
	return c.flowCall(ctx, http.MethodGet, name, "")
}

// DeleteFlow deletes a flow: it starts no more runs; runs in progress
// finish. Applying it again later makes its next version.
func (c *Client) DeleteFlow(ctx context.Context, name string) error {
	p, err := flowPath(name, "")
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, "", nil)
}

// EnableFlow enables a flow: it starts runs for the events appended from
// then on. Enabling an enabled flow changes nothing.
func (c *Client) EnableFlow(ctx context.Context, name string) (*Flow, error) {
	return c.flowCall(ctx, http.MethodPost, name, "enable")
}

// DisableFlow disables a flow: the events appended while it is disabled
// never start a run of it, even after it is enabled again.
func (c *Client) DisableFlow(ctx context.Context, name string) (*Flow, error) {
	return c.flowCall(ctx, http.MethodPost, name, "disable")
}

func (c *Client) flowCall(ctx context.Context, method, name, action string) (*Flow, error) {
	p, err := flowPath(name, action)
	if err != nil {
		return nil, err
	}
	var f Flow
	if err := c.do(ctx, method, p, nil, nil, "", &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// FlowSecret generates the secret that signs the flow's webhook requests
// (Standard Webhooks, "whsec_..."), and returns it: the server shows it this
// once. A flow that has one already is refused (409) unless rotate is set,
// in which case the old secret stops working.
func (c *Client) FlowSecret(ctx context.Context, name string, rotate bool) (string, error) {
	p, err := flowPath(name, "secret")
	if err != nil {
		return "", err
	}
	var q url.Values
	if rotate {
		q = url.Values{"rotate": {"true"}}
	}
	var out struct {
		Secret string `json:"secret"`
	}
	if err := c.do(ctx, http.MethodPost, p, q, nil, "", &out); err != nil {
		return "", err
	}
	return out.Secret, nil
}

// ExplainFlow says whether ev would trigger the flow, and which condition
// decided. Nothing is appended; ev gets an ID if it has none.
func (c *Client) ExplainFlow(ctx context.Context, name string, ev Event) (*Explanation, error) {
	body, err := json.Marshal(ev.withID())
	if err != nil {
		return nil, fmt.Errorf("sdk: encode event: %w", err)
	}
	return c.explain(ctx, name, body)
}

// ExplainFlowJSON is ExplainFlow for an event already encoded as a
// structured CloudEvent (JSON), such as one read from a file.
func (c *Client) ExplainFlowJSON(ctx context.Context, name string, cloudEvent []byte) (*Explanation, error) {
	return c.explain(ctx, name, cloudEvent)
}

// ExplainFlowAt says whether the event recorded at position would trigger
// the flow (as it is now), and which condition decided.
func (c *Client) ExplainFlowAt(ctx context.Context, name string, position int64) (*Explanation, error) {
	return c.explain(ctx, name, []byte(`{"position":`+strconv.FormatInt(position, 10)+`}`))
}

func (c *Client) explain(ctx context.Context, name string, body []byte) (*Explanation, error) {
	p, err := flowPath(name, "explain")
	if err != nil {
		return nil, err
	}
	var ex Explanation
	if err := c.do(ctx, http.MethodPost, p, nil, body, "application/json", &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Runs returns one page of the runs q selects. To read on, call it again
// with q.Cursor set to the page's Next, until Next is "".
func (c *Client) Runs(ctx context.Context, q RunQuery) (*RunPage, error) {
	return c.runPage(ctx, "/v1/runs", q.values(true))
}

// Run returns one run, or an error matching ErrNotFound.
func (c *Client) Run(ctx context.Context, id string) (*Run, error) {
	return c.runCall(ctx, http.MethodGet, "/v1/runs/", id, "")
}

// DeadLetters returns one page of the dead letters (runs whose step failed
// for good) that q selects; q.Status is ignored.
func (c *Client) DeadLetters(ctx context.Context, q RunQuery) (*RunPage, error) {
	return c.runPage(ctx, "/v1/deadletters", q.values(false))
}

// DeadLetter returns a dead-lettered run, or an error matching ErrNotFound
// when there is no such run or it is not (or no longer) dead-lettered.
func (c *Client) DeadLetter(ctx context.Context, id string) (*Run, error) {
	return c.runCall(ctx, http.MethodGet, "/v1/deadletters/", id, "")
}

// Redrive runs a dead letter again from the step that failed, with a fresh
// budget of attempts, and returns the run as it is then. A run that is not
// dead-lettered is refused (409).
func (c *Client) Redrive(ctx context.Context, id string) (*Run, error) {
	return c.runCall(ctx, http.MethodPost, "/v1/deadletters/", id, "/redrive")
}

// Discard closes a dead letter for good (status RunDiscarded).
func (c *Client) Discard(ctx context.Context, id string) (*Run, error) {
	return c.runCall(ctx, http.MethodPost, "/v1/deadletters/", id, "/discard")
}

// RedriveMany redrives several dead letters: those listed, or every one of
// a flow. Each that cannot be redriven is listed in Failed; the others are
// redriven all the same.
func (c *Client) RedriveMany(ctx context.Context, req RedriveRequest) (*RedriveResult, error) {
	if len(req.Runs) == 0 && req.Flow == "" {
		return nil, errors.New("sdk: RedriveMany: name the runs or the flow to redrive")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("sdk: encode request: %w", err)
	}
	var out RedriveResult
	if err := c.do(ctx, http.MethodPost, "/v1/deadletters/redrive", nil, body, "application/json", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) runPage(ctx context.Context, p string, q url.Values) (*RunPage, error) {
	var page RunPage
	if err := c.do(ctx, http.MethodGet, p, q, nil, "", &page); err != nil {
		return nil, err
	}
	return &page, nil
}

func (c *Client) runCall(ctx context.Context, method, prefix, id, suffix string) (*Run, error) {
	if id == "" {
		return nil, errors.New("sdk: a run id is required")
	}
	var r Run
	if err := c.do(ctx, method, prefix+url.PathEscape(id)+suffix, nil, nil, "", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// flowPath is the escaped path of a flow, or of one of its actions.
func flowPath(name, action string) (string, error) {
	if name == "" {
		return "", errors.New("sdk: a flow name is required")
	}
	p := "/v1/flows/" + url.PathEscape(name)
	if action != "" {
		p += "/" + action
	}
	return p, nil
}

// doDefinition is do for a request whose body is a definition file: it
// names the file (Ensue-Filename) and turns an invalid definition into a
// *DefinitionError carrying each problem's line and column.
func (c *Client) doDefinition(ctx context.Context, method, escapedPath string, q url.Values, filename string, body []byte, out any) error {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	contentType := "application/yaml"
	if strings.EqualFold(path.Ext(filename), ".json") {
		contentType = "application/json"
	}
	if body == nil {
		body = []byte{} // an empty file is still a body, refused by the server with its reason
	}
	req, err := c.newRequest(ctx, method, escapedPath, q, body, contentType)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if filename != "" {
		// A header cannot carry control characters: Do would refuse the
		// request, which would look like a server that cannot be reached.
		req.Header.Set("Ensue-Filename", strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return '?'
			}
			return r
		}, filename))
	} else {
		filename = "request body"
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		p := problemFrom(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		if p.Type != typeInvalidFlow {
			return p
		}
		// Problem.Errors has no line and column: read them again here.
		var positioned struct {
			Errors []DefinitionProblem `json:"errors"`
		}
		_ = json.Unmarshal(raw, &positioned)
		return &DefinitionError{File: filename, Problems: positioned.Errors, Problem: p}
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("sdk: %s %s: decode response: %w", method, req.URL.Path, err)
	}
	return nil
}
