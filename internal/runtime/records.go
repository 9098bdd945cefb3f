package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// Types of the events that record flows and runs. None of them triggers a
// flow, and reads leave them out unless asked for (type=ensue.*).
const (
	TypeFlowApplied  = "ensue.flow.applied"
	TypeFlowDeleted  = "ensue.flow.deleted"
	TypeFlowEnabled  = "ensue.flow.enabled"
	TypeFlowDisabled = "ensue.flow.disabled"

	TypeRunStarted       = "ensue.run.started"
	TypeRunStepAttempted = "ensue.run.step.attempted"
	TypeRunStepSucceeded = "ensue.run.step.succeeded"
	TypeRunCompleted     = "ensue.run.completed"
	TypeRunDeadLettered  = "ensue.run.dead_lettered"
	TypeRunRedriven      = "ensue.run.redriven"
	TypeRunDiscarded     = "ensue.run.discarded"
)

// Run statuses.
const (
	StatusPending      = "pending"
	StatusRunning      = "running"
	StatusCompleted    = "completed"
	StatusDeadLettered = "dead_lettered"
	StatusDiscarded    = "discarded"
)

// MaxHops is how deep a chain of emitted events may go: an emit whose event
// would be the 9th link of a chain is dead-lettered instead of looping.
const MaxHops = 8

// hopsExtension carries an emitted event's depth in its chain of emits.
const hopsExtension = "ensuehops"

// flowStream is the stream (subject) holding a flow's ensue.flow.* events;
// its version orders the flow's changes.
func flowStream(name string) string { return "ensue.flow/" + name }

// flowSource is the source of every event a flow's runs append.
func flowSource(name string) string { return "/ensue/flows/" + name }

// RunID names the run of flow for the event at position pos.
func RunID(flow string, pos uint64) string { return flow + "-" + strconv.FormatUint(pos, 10) }

// ParseRunID splits a run id into its flow and trigger position.
func ParseRunID(id string) (flow string, pos uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	pos, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || pos == 0 {
		return "", 0, false
	}
	return id[:i], pos, true
}

// TriggerRef names the event that started a run.
type TriggerRef struct {
	Position uint64 `json:"position"`
	ID       string `json:"id"`
	Source   string `json:"source"`
	Type     string `json:"type"`
	Subject  string `json:"subject,omitempty"`
}

// Run is a run's state, as the log records it.
type Run struct {
	ID            string      `json:"id"`
	Namespace     string      `json:"namespace"`
	Flow          string      `json:"flow"`
	FlowVersion   uint64      `json:"flow_version"`
	Status        string      `json:"status"`
	Trigger       TriggerRef  `json:"trigger"`
	CorrelationID string      `json:"correlation_id"`
	Hops          int         `json:"hops"`
	Steps         []StepState `json:"steps"`
	Redrives      int         `json:"redrives"`
	// Error is why the run was dead-lettered.
	Error string `json:"error,omitempty"`
	// FailedStep is the step that dead-lettered it.
	FailedStep string `json:"failed_step,omitempty"`
	// Request and LastAttempt describe a dead-lettered HTTP step: what was
	// sent, and the last answer (or error).
	Request     *RequestSummary  `json:"request,omitempty"`
	LastAttempt *webhook.Attempt `json:"last_attempt,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	StartedAt   time.Time        `json:"started_at,omitzero"`
	FinishedAt  time.Time        `json:"finished_at,omitzero"`
	// Position of the latest event recording this run's progress.
	LastPosition uint64 `json:"last_position"`

	// input is the triggering event, decoded, when the engine hands the
	// run over as it triggers it: the executor need not read it again.
	input *flow.Input
}

// StepState is one step of a run.
type StepState struct {
	ID     string `json:"id"`
	Status string `json:"status"` // pending, succeeded, failed
	// Attempts made since the run's last redrive.
	Attempts int `json:"attempts"`
	// History keeps the latest attempts (at most maxHistory).
	History    []webhook.Attempt `json:"history,omitempty"`
	Output     json.RawMessage   `json:"output,omitempty"`
	Error      string            `json:"error,omitempty"`
	FinishedAt time.Time         `json:"finished_at,omitzero"`
}

const maxHistory = 10

// clone copies a run for another goroutine: the steps are its own.
func (r *Run) clone() *Run {
	c := *r
	c.Steps = append([]StepState(nil), r.Steps...)
	return &c
}

func (r *Run) step(id string) *StepState {
	for i := range r.Steps {
		if r.Steps[i].ID == id {
			return &r.Steps[i]
		}
	}
	r.Steps = append(r.Steps, StepState{ID: id, Status: "pending"})
	return &r.Steps[len(r.Steps)-1]
}

// Finished reports whether nothing more will happen to the run unless it
// is redriven.
func (r *Run) Finished() bool {
	return r.Status == StatusCompleted || r.Status == StatusDeadLettered || r.Status == StatusDiscarded
}

// flowRecord is the data of ensue.flow.* events.
type flowRecord struct {
	Name       string          `json:"name"`
	Version    uint64          `json:"version,omitempty"`
	Hash       string          `json:"hash,omitempty"`
	Definition json.RawMessage `json:"definition,omitempty"`
}

// runRecord is the data of ensue.run.* events.
type runRecord struct {
	Run         string           `json:"run"`
	Flow        string           `json:"flow"`
	FlowVersion uint64           `json:"flow_version,omitempty"`
	Trigger     *TriggerRef      `json:"trigger,omitempty"`
	Step        string           `json:"step,omitempty"`
	Attempt     *webhook.Attempt `json:"attempt,omitempty"`
	Attempts    int              `json:"attempts,omitempty"`
	Output      json.RawMessage  `json:"output,omitempty"`
	Error       string           `json:"error,omitempty"`
	Redrive     int              `json:"redrive,omitempty"`
	Request     *RequestSummary  `json:"request,omitempty"`
}

// runEvent builds the event recording one step of a run's progress. Its id
// is derived from the run and what it records, so recording it twice
// (after a crash, say) stores it once.
func runEvent(run *Run, typ, idSuffix string, rec runRecord) (*event.Event, error) {
	rec.Run = run.ID
	rec.Flow = run.Flow
	data, err := marshal(rec)
	if err != nil {
		return nil, err
	}
	return event.New(event.Attributes{
		ID:            run.ID + "/" + idSuffix,
		Source:        flowSource(run.Flow),
		Type:          typ,
		Time:          time.Now().UTC().Format(time.RFC3339Nano),
		CorrelationID: run.CorrelationID,
		CausationID:   run.Trigger.ID,
		Data:          data,
	})
}

// flowEvent builds the event recording a change of a flow.
func flowEvent(ns, typ string, rec flowRecord, version uint64) (*event.Event, error) {
	data, err := marshal(rec)
	if err != nil {
		return nil, err
	}
	return event.New(event.Attributes{
		// One id per change: the stream's version after it.
		ID:                 fmt.Sprintf("%s/%d", flowStream(rec.Name), version+1),
		Source:             "/ensue/flows",
		Type:               typ,
		Subject:            flowStream(rec.Name),
		Time:               time.Now().UTC().Format(time.RFC3339Nano),
		Data:               data,
		ExpectedVersion:    int64(version),
		HasExpectedVersion: true,
	})
}

// marshal encodes JSON leaving < > & as they are: expressions are full of
// them, and escaped they are hard to read in the log.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
