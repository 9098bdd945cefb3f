package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// directRequest is JetStream's direct get request: one message by sequence,
// or a batch of the next messages matching a subject filter.
type directRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// directBatchMaxBytes bounds one batch answer; a shorter page is fine, the
// caller continues from its last position.
const directBatchMaxBytes = 8 << 20

// directBatch runs a direct get. A batch (batch true) ends with an
// end-of-batch status message; a miss answers 404 and yields no record.
func (l *JetStream) directBatch(ctx context.Context, req directRequest, batch bool) ([]Record, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	if batch {
		if req.Batch <= 0 {
			req.Batch = 1
		}
		req.MaxBytes = directBatchMaxBytes
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("eventlog: encode direct get: %w", err)
	}
	if !batch {
		m, err := l.nc.RequestWithContext(ctx, l.directAPI, body)
		if err != nil {
			return nil, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
		}
		r, ok, err := l.directRecord(m)
		if err != nil || !ok {
			return nil, err
		}
		return []Record{r}, nil
	}
	inbox := l.nc.NewRespInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
	}
	defer sub.Unsubscribe()
	if err := l.nc.PublishRequest(l.directAPI, inbox, body); err != nil {
		return nil, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
	}
	recs := make([]Record, 0, req.Batch)
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
		}
		r, ok, err := l.directRecord(m)
		if err != nil {
			return nil, err
		}
		if !ok {
			return recs, nil
		}
		recs = append(recs, r)
	}
}

// directRecord decodes one direct get answer; ok is false for a status
// message that ends the answer (not found, end of batch).
func (l *JetStream) directRecord(m *nats.Msg) (Record, bool, error) {
	if st := m.Header.Get("Status"); st != "" {
		switch st {
		case "404", "204":
			return Record{}, false, nil
		case "503":
			return Record{}, false, fmt.Errorf("%w: no JetStream responder for the log stream", ErrUnavailable)
		default:
			return Record{}, false, fmt.Errorf("%w: direct get answered %s %s", ErrUnavailable, st, m.Header.Get("Description"))
		}
	}
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		return Record{}, false, fmt.Errorf("eventlog: direct get without sequence: %w", err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		return Record{}, false, fmt.Errorf("eventlog: direct get without timestamp: %w", err)
	}
	r, err := l.record(m.Header.Get("Nats-Subject"), seq, ts, m.Header, m.Data)
	return r, err == nil, err
}
