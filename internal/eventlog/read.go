package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads and replicas.
//
// Reads go first to JetStream's direct get API ($JS.API.DIRECT.GET), which
// any replica of the stream answers from its own store: cheap, batched, and
// spread over the cluster. On a cluster the replica that answers may not
// have applied the latest committed writes yet: the leader acknowledges an
// append once it has applied it itself, and a follower applies it a little
// later. Measured on the 3-node test cluster (TestClusterConformance's
// ReadYourWrites, and a direct probe of 2,000 publish-then-get pairs per
// node): 3 to 20 % of direct gets for a just-acknowledged message answered
// 404, whichever node the client was connected to, since direct gets are
// served by a queue group spanning all replicas.
//
// A replica's store is always a prefix of the leader's (Raft applies in
// order, and every replica holds the same message at the same position), so
// a direct answer is trusted for what it contains, never for what it lacks.
// Whenever a direct answer ends before the read is satisfied (a 404, or a
// batch shorter than asked whose responder says it has nothing more to
// send), the stream leader is asked through $JS.API.STREAM.MSG.GET, which
// only the leader answers, and only once it has applied everything it
// committed (nats-server's stream isLeader requires applies to be caught up
// after an election). So a read reflects every append acknowledged before
// it started, at the price of one leader round trip when a read reaches the
// end of what it selects, and one per message only where the responder
// really was behind. Retrying the direct get instead would usually hit the
// same lagging replica (requests prefer the client's own server), for how
// long is not bounded: a restarted node serves direct gets once it is 90 %
// caught up.

// getRequest is JetStream's message get request, used by the direct get
// API (all fields) and the leader-served get API (no Batch or MaxBytes).
type getRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// directBatchMaxBytes bounds one batch answer; a shorter page is fine, the
// caller continues from its last position.
const directBatchMaxBytes = 8 << 20

const errCodeNoMessageFound = 10037

// directPage is one direct batch answer.
type directPage struct {
	recs []Record
	// more is true when the responder holds further matching messages: it
	// stopped at the batch size or the byte limit, not at its end.
	more bool
}

// directBatch runs a direct get in batch mode: the answer is a series of
// messages ended by an end-of-batch status that carries how many matching
// messages the responder has left; a responder with nothing at all answers
// 404.
func (l *JetStream) directBatch(ctx context.Context, req getRequest) (directPage, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	if req.Batch <= 0 {
		req.Batch = 1
	}
	req.MaxBytes = directBatchMaxBytes
	body, err := json.Marshal(req)
	if err != nil {
		return directPage{}, fmt.Errorf("eventlog: encode direct get: %w", err)
	}
	inbox := l.nc.NewRespInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return directPage{}, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
	}
	defer sub.Unsubscribe()
	if err := l.nc.PublishRequest(l.directAPI, inbox, body); err != nil {
		return directPage{}, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
	}
	page := directPage{recs: make([]Record, 0, min(req.Batch, 1024))}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return directPage{}, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
		}
		switch m.Header.Get("Status") {
		case "":
		case "204": // end of batch
			np, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			page.more = np > 0
			return page, nil
		case "404":
			return page, nil
		default:
			return directPage{}, directStatusError(m)
		}
		r, err := l.directRecord(m)
		if err != nil {
			return directPage{}, err
		}
		page.recs = append(page.recs, r)
	}
}

// directOne gets the message at one position from any replica; ok is false
// when that replica has none there.
func (l *JetStream) directOne(ctx context.Context, seq uint64) (Record, bool, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	m, err := l.nc.RequestWithContext(ctx, l.directAPI, []byte(`{"seq":`+strconv.FormatUint(seq, 10)+`}`))
	if errors.Is(err, nats.ErrNoResponders) {
		return Record{}, false, nil // no replica serves direct gets right now: ask the leader
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: direct get: %v", ErrUnavailable, err)
	}
	switch m.Header.Get("Status") {
	case "":
	case "404":
		return Record{}, false, nil
	default:
		return Record{}, false, directStatusError(m)
	}
	r, err := l.directRecord(m)
	return r, err == nil, err
}

func directStatusError(m *nats.Msg) error {
	if m.Header.Get("Status") == "503" {
		return fmt.Errorf("%w: no JetStream responder for the log stream", ErrUnavailable)
	}
	return fmt.Errorf("%w: direct get answered %s %s", ErrUnavailable, m.Header.Get("Status"), m.Header.Get("Description"))
}

// directRecord decodes one message of a direct get answer.
func (l *JetStream) directRecord(m *nats.Msg) (Record, error) {
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("eventlog: direct get without sequence: %w", err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		return Record{}, fmt.Errorf("eventlog: direct get without timestamp: %w", err)
	}
	return l.record(m.Header.Get("Nats-Subject"), seq, ts, m.Header, m.Data)
}

// leaderGet gets one message from the stream leader; ok is false when
// there is none matching req.
func (l *JetStream) leaderGet(ctx context.Context, req getRequest) (Record, bool, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return Record{}, false, fmt.Errorf("eventlog: encode get: %w", err)
	}
	resp, err := l.nc.RequestWithContext(ctx, l.msgGetAPI, body)
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: get from the stream leader: %v", ErrUnavailable, err)
	}
	var r struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Hdrs    []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return Record{}, false, fmt.Errorf("%w: decode get answer: %v", ErrUnavailable, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == errCodeNoMessageFound {
			return Record{}, false, nil
		}
		return Record{}, false, fmt.Errorf("%w: get from the stream leader: %v", ErrUnavailable, r.Error)
	}
	if r.Message == nil {
		return Record{}, false, fmt.Errorf("%w: get answer without message", ErrUnavailable)
	}
	var h nats.Header
	if len(r.Message.Hdrs) > 0 {
		m, err := nats.DecodeHeadersMsg(r.Message.Hdrs)
		if err != nil {
			return Record{}, false, fmt.Errorf("eventlog: message %d: decode headers: %w", r.Message.Seq, err)
		}
		h = m
	}
	rec, err := l.record(r.Message.Subject, r.Message.Seq, r.Message.Time, h, r.Message.Data)
	return rec, err == nil, err
}

// readFiltered returns up to limit records on filter at or after position
// start, in log order, including every record acknowledged before the call
// (see "Reads and replicas"). Fewer than limit records, with none missing,
// come back when the filter has no more or a direct answer reached its
// byte limit; the caller continues after the last one.
func (l *JetStream) readFiltered(ctx context.Context, filter string, start uint64, limit int) ([]Record, error) {
	page, err := l.directBatch(ctx, getRequest{Seq: start, NextFor: filter, Batch: limit})
	if err != nil {
		return nil, err
	}
	recs := page.recs
	if len(recs) >= limit || page.more {
		return recs, nil
	}
	next := start
	if len(recs) > 0 {
		next = recs[len(recs)-1].Position + 1
	}
	for len(recs) < limit {
		r, ok, err := l.leaderGet(ctx, getRequest{Seq: next, NextFor: filter})
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if len(recs) == len(page.recs) {
			l.staleReads.Add(1)
		}
		recs = append(recs, r)
		next = r.Position + 1
	}
	return recs, nil
}

// firstSince returns the position of the first record on filter recorded
// at or after t; ok is false when there is none.
func (l *JetStream) firstSince(ctx context.Context, filter string, t time.Time) (uint64, bool, error) {
	page, err := l.directBatch(ctx, getRequest{StartTime: &t, NextFor: filter, Batch: 1})
	if err != nil {
		return 0, false, err
	}
	if len(page.recs) > 0 {
		return page.recs[0].Position, true, nil
	}
	r, ok, err := l.leaderGet(ctx, getRequest{StartTime: &t, NextFor: filter})
	if ok {
		l.staleReads.Add(1)
	}
	return r.Position, ok, err
}

// lastOnSubject reads the version and position of a stream's latest record
// from the stream leader: it decides expected versions, so it must never be
// stale.
func (l *JetStream) lastOnSubject(ctx context.Context, subject string) (version, seq uint64, err error) {
	r, ok, err := l.leaderGet(ctx, getRequest{LastFor: subject})
	if err != nil || !ok {
		return 0, 0, err
	}
	return r.Version, r.Position, nil
}

// Get implements Log.
func (l *JetStream) Get(ctx context.Context, pos uint64) (Record, error) {
	if pos == 0 {
		return Record{}, ErrNotFound
	}
	r, ok, err := l.directOne(ctx, pos)
	if err != nil {
		return Record{}, err
	}
	if ok {
		return r, nil
	}
	// The replica that answered may be behind: only the leader can say
	// there is no such record.
	r, ok, err = l.leaderGet(ctx, getRequest{Seq: pos})
	if err != nil {
		return Record{}, err
	}
	if !ok {
		return Record{}, ErrNotFound
	}
	l.staleReads.Add(1)
	return r, nil
}

// LastPosition implements Log.
func (l *JetStream) LastPosition(ctx context.Context) (uint64, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	// Stream info is answered by the stream leader.
	s, err := l.js.Stream(ctx, l.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

// StreamVersion implements Log.
func (l *JetStream) StreamVersion(ctx context.Context, ns, stream string) (uint64, uint64, error) {
	return l.lastOnSubject(ctx, l.subj.stream(ns, stream))
}

// ReadStream implements Log.
func (l *JetStream) ReadStream(ctx context.Context, ns, stream string, from uint64, limit int, backward bool) ([]Record, uint64, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	subject := l.subj.stream(ns, stream)
	cur, lastSeq, err := l.lastOnSubject(ctx, subject)
	if err != nil || cur == 0 || limit <= 0 {
		return nil, cur, err
	}
	if backward {
		if from == 0 || from > cur {
			from = cur
		}
		start := uint64(1)
		if from > uint64(limit) {
			start = from - uint64(limit) + 1
		}
		recs, err := l.readStreamForward(ctx, subject, start, from, cur, lastSeq)
		slices.Reverse(recs)
		return recs, cur, err
	}
	if from == 0 {
		from = 1
	}
	if from > cur {
		return nil, cur, nil
	}
	to := min(cur, from+uint64(limit)-1)
	recs, err := l.readStreamForward(ctx, subject, from, to, cur, lastSeq)
	return recs, cur, err
}

// readStreamForward reads versions from..to of a stream at version cur
// whose latest record is at lastSeq. Versions are dense, so exactly
// to-from+1 records must come back.
func (l *JetStream) readStreamForward(ctx context.Context, subject string, from, to, cur, lastSeq uint64) ([]Record, error) {
	pos, err := l.positionOfVersion(ctx, subject, from, cur, lastSeq)
	if err != nil {
		return nil, err
	}
	want := int(to - from + 1)
	out := make([]Record, 0, want)
	for len(out) < want {
		recs, err := l.readFiltered(ctx, subject, pos, min(want-len(out), 1000))
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("eventlog: %s ends at version %d, before version %d although it is at %d", subject, from+uint64(len(out))-1, to, cur)
		}
		out = append(out, recs...)
		pos = recs[len(recs)-1].Position + 1
	}
	return out, nil
}

// positionOfVersion finds the position of a stream's event with version v
// by bisecting positions: a stream's events are in version order.
func (l *JetStream) positionOfVersion(ctx context.Context, subject string, v, cur, lastSeq uint64) (uint64, error) {
	switch v {
	case cur:
		return lastSeq, nil
	case 1:
		// Versions start at 1 and nothing is ever deleted: the stream's
		// first record is version 1.
		recs, err := l.readFiltered(ctx, subject, 1, 1)
		if err != nil {
			return 0, err
		}
		if len(recs) == 1 && recs[0].Version == 1 {
			return recs[0].Position, nil
		}
	}
	lo, hi := uint64(1), lastSeq
	for lo <= hi {
		mid := lo + (hi-lo)/2
		recs, err := l.readFiltered(ctx, subject, mid, 1)
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			hi = mid - 1
			continue
		}
		r := recs[0]
		switch {
		case r.Version == v:
			return r.Position, nil
		case r.Version < v:
			lo = r.Position + 1
		default:
			hi = mid - 1
		}
	}
	return 0, fmt.Errorf("eventlog: version %d of %s not found although the stream is at %d", v, subject, cur)
}

// Read implements Log.
func (l *JetStream) Read(ctx context.Context, q Query) ([]Record, uint64, error) {
	ctx, cancel := l.withTimeout(ctx)
	defer cancel()
	if q.Limit <= 0 {
		q.Limit = 100
	}
	filter := l.subj.filter(q)
	start := q.After + 1
	if !q.Since.IsZero() {
		first, ok, err := l.firstSince(ctx, filter, q.Since)
		if err != nil || !ok {
			return nil, q.After, err
		}
		start = max(start, first)
	}
	recs, err := l.readFiltered(ctx, filter, start, q.Limit)
	if err != nil {
		return nil, q.After, err
	}
	next := q.After
	if len(recs) > 0 {
		next = recs[len(recs)-1].Position
	}
	return recs, next, nil
}
