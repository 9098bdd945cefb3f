package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

const (
	contentTypeEvent = "application/cloudevents+json"
	contentTypeBatch = "application/cloudevents-batch+json"
)

// AppendResult says where an appended event was recorded.
type AppendResult struct {
	// ID is the event's id as sent (the generated one when Event.ID was empty).
	ID string `json:"id,omitempty"`
	// Position is the record's position in the log.
	Position int64 `json:"position"`
	// Stream is the event's subject; empty without one.
	Stream string `json:"stream,omitempty"`
	// Version is the record's version in Stream; 0 without a stream.
	Version int64 `json:"version,omitempty"`
	// Duplicate is true when an event with the same source and id was
	// already recorded: nothing new was written and Position, Stream and
	// Version are those of the earlier record.
	Duplicate bool `json:"duplicate"`
}

// appendResultJSON accepts stream and version absent or null.
type appendResultJSON struct {
	Position  int64   `json:"position"`
	Stream    *string `json:"stream"`
	Version   *int64  `json:"version"`
	Duplicate bool    `json:"duplicate"`
}

func (w appendResultJSON) result(id string) AppendResult {
	r := AppendResult{ID: id, Position: w.Position, Duplicate: w.Duplicate}
	if w.Stream != nil {
		r.Stream = *w.Stream
	}
	if w.Version != nil {
		r.Version = *w.Version
	}
	return r
}

// BatchResult is the outcome of one event of a non-atomic batch: either
// Result (Problem is nil) or Problem.
type BatchResult struct {
	Result  AppendResult
	Problem *Problem
}

// Err returns the event's problem as an error, or nil when it was appended.
func (r BatchResult) Err() error {
	if r.Problem == nil {
		return nil
	}
	return r.Problem
}

// Append records one event and says where. An event whose source and id were
// already recorded is not written again: the result has Duplicate set.
// A wrong ExpectedVersion fails with an error matching
// ErrWrongExpectedVersion whose *Problem carries CurrentVersion.
func (c *Client) Append(ctx context.Context, ev Event) (AppendResult, error) {
	ev = ev.withID()
	body, err := ev.MarshalJSON()
	if err != nil {
		return AppendResult{}, err
	}
	var w appendResultJSON
	if err := c.do(ctx, "POST", "/v1/events", nil, body, contentTypeEvent, &w); err != nil {
		return AppendResult{}, err
	}
	return w.result(ev.ID), nil
}

// AppendBatch records several events in one request (at most 1000, the
// server's limit). Each event succeeds or fails on its own: the results are
// in the order of events, one each. The error is only for a request that
// failed as a whole.
func (c *Client) AppendBatch(ctx context.Context, events []Event) ([]BatchResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	ids, body, err := encodeBatch(events)
	if err != nil {
		return nil, err
	}
	var w struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := c.do(ctx, "POST", "/v1/events", nil, body, contentTypeBatch, &w); err != nil {
		return nil, err
	}
	if len(w.Results) != len(events) {
		return nil, fmt.Errorf("sdk: the server answered %d results for a batch of %d events", len(w.Results), len(events))
	}
	out := make([]BatchResult, len(events))
	for i, raw := range w.Results {
		var probe struct {
			Status int `json:"status"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("sdk: batch result %d: %w", i, err)
		}
		if probe.Status != 0 {
			p := new(Problem)
			if err := json.Unmarshal(raw, p); err != nil {
				return nil, fmt.Errorf("sdk: batch result %d: %w", i, err)
			}
			if p.Index == nil {
				p.Index = &i
			}
			out[i].Problem = p
			continue
		}
		var r appendResultJSON
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("sdk: batch result %d: %w", i, err)
		}
		out[i].Result = r.result(ids[i])
	}
	return out, nil
}

// AppendAtomic records all events or none. When one is refused, nothing is
// written and the returned *Problem has Index set to that event's place in
// events.
func (c *Client) AppendAtomic(ctx context.Context, events []Event) ([]AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	ids, body, err := encodeBatch(events)
	if err != nil {
		return nil, err
	}
	var w struct {
		Results []appendResultJSON `json:"results"`
	}
	q := url.Values{"atomic": {"true"}}
	if err := c.do(ctx, "POST", "/v1/events", q, body, contentTypeBatch, &w); err != nil {
		return nil, err
	}
	if len(w.Results) != len(events) {
		return nil, fmt.Errorf("sdk: the server answered %d results for an atomic batch of %d events", len(w.Results), len(events))
	}
	out := make([]AppendResult, len(events))
	for i, r := range w.Results {
		out[i] = r.result(ids[i])
	}
	return out, nil
}

// encodeBatch gives every event an id and encodes them as a JSON array.
func encodeBatch(events []Event) ([]string, []byte, error) {
	ids := make([]string, len(events))
	var b bytes.Buffer
	b.WriteByte('[')
	for i, ev := range events {
		ev = ev.withID()
		ids[i] = ev.ID
		enc, err := ev.MarshalJSON()
		if err != nil {
			return nil, nil, fmt.Errorf("sdk: event %d: %w", i, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(enc)
	}
	b.WriteByte(']')
	return ids, b.Bytes(), nil
}
