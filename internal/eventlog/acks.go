package eventlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acks gathers the acknowledgements of the chain's publishes (chain.go) on
// one inbox subscription. It does what nats.go's asynchronous publish does,
// for less: no timer, future or channels per message, and the common
// acknowledgement is read without a JSON decoder. A call's publishes share
// one ackBatch, which the call waits on.
type acks struct {
	prefix string // "<inbox>."; a reply subject is prefix + base-36 token
	sub    *nats.Subscription

	next    atomic.Uint64
	mu      sync.Mutex
	waiting map[uint64]ackSlot
}

type ackSlot struct {
	b *ackBatch
	i int
}

// ackBatch holds the outcomes of one call's publishes.
type ackBatch struct {
	mu     sync.Mutex
	left   int  // reserved publishes without an outcome
	sealed bool // no more publishes will be reserved: done closes at left 0
	done   chan struct{}
	seqs   []uint64
	errs   []error
	got    []bool
	ids    []uint64
	// Room for a batch of one, the chain's usual case, without allocating.
	seq1 [1]uint64
	err1 [1]error
	got1 [1]bool
	id1  [1]uint64
}

func newAcks(nc *nats.Conn) (*acks, error) {
	a := &acks{prefix: nc.NewRespInbox() + ".", waiting: make(map[uint64]ackSlot)}
	sub, err := nc.Subscribe(a.prefix+"*", a.handle)
	if err != nil {
		return nil, fmt.Errorf("eventlog: subscribe to acknowledgements: %w", err)
	}
	// Acknowledgements must never be dropped for being many.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("eventlog: subscribe to acknowledgements: %w", err)
	}
	a.sub = sub
	return a, nil
}

func newAckBatch(n int) *ackBatch {
	b := &ackBatch{done: make(chan struct{})}
	if n <= 1 {
		b.seqs, b.errs, b.got, b.ids = b.seq1[:0], b.err1[:0], b.got1[:0], b.id1[:0]
	} else {
		b.seqs, b.errs, b.got, b.ids = make([]uint64, 0, n), make([]error, 0, n), make([]bool, 0, n), make([]uint64, 0, n)
	}
	return b
}

// reserve adds a publish to b and returns its reply subject.
func (a *acks) reserve(b *ackBatch) string {
	id := a.next.Add(1)
	b.mu.Lock()
	i := len(b.seqs)
	b.seqs, b.errs, b.got, b.ids = append(b.seqs, 0), append(b.errs, nil), append(b.got, false), append(b.ids, id)
	b.left++
	b.mu.Unlock()
	a.mu.Lock()
	a.waiting[id] = ackSlot{b: b, i: i}
	a.mu.Unlock()
	return a.prefix + strconv.FormatUint(id, 36)
}

// unreserve forgets the last publish reserved in b: it was not sent.
func (a *acks) unreserve(b *ackBatch) {
	b.mu.Lock()
	n := len(b.ids) - 1
	id := b.ids[n]
	b.seqs, b.errs, b.got, b.ids = b.seqs[:n], b.errs[:n], b.got[:n], b.ids[:n]
	b.left--
	b.mu.Unlock()
	a.mu.Lock()
	delete(a.waiting, id)
	a.mu.Unlock()
}

func (a *acks) handle(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(a.prefix):], 36, 64)
	if err != nil {
		return
	}
	a.mu.Lock()
	slot, ok := a.waiting[id]
	delete(a.waiting, id)
	a.mu.Unlock()
	if !ok {
		return // its caller gave up
	}
	seq, err := parseAck(m)
	b := slot.b
	b.mu.Lock()
	b.seqs[slot.i], b.errs[slot.i], b.got[slot.i] = seq, err, true
	b.left--
	if b.left == 0 && b.sealed {
		close(b.done)
	}
	b.mu.Unlock()
}

// wait waits until every publish of b has its outcome or ctx ends; then
// it forgets those still missing, which got[i] tells apart.
func (a *acks) wait(ctx context.Context, b *ackBatch) {
	b.mu.Lock()
	b.sealed = true
	empty := b.left == 0
	b.mu.Unlock()
	if empty {
		return
	}
	select {
	case <-b.done:
		return
	case <-ctx.Done():
	}
	b.mu.Lock()
	ids := b.ids
	b.left = -1 // done never closes now
	b.mu.Unlock()
	a.mu.Lock()
	for _, id := range ids {
		delete(a.waiting, id)
	}
	a.mu.Unlock()
}

// outcome is publish i's outcome: its position, or its error, or neither
// when none came.
func (b *ackBatch) outcome(i int) (uint64, error, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seqs[i], b.errs[i], b.got[i]
}

var (
	ackError = []byte(`"error"`)
	ackSeq   = []byte(`"seq":`)
)

// parseAck reads a JetStream publish acknowledgement: the position stored,
// or the refusal as a *jetstream.APIError, or another error.
func parseAck(m *nats.Msg) (uint64, error) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return 0, nats.ErrNoResponders
	}
	if !bytes.Contains(m.Data, ackError) {
		if i := bytes.Index(m.Data, ackSeq); i >= 0 {
			var seq uint64
			digits := 0
			for _, c := range m.Data[i+len(ackSeq):] {
				if c == ' ' && digits == 0 {
					continue
				}
				if c < '0' || c > '9' {
					break
				}
				seq = seq*10 + uint64(c-'0')
				digits++
			}
			if digits > 0 {
				return seq, nil
			}
		}
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Seq   uint64              `json:"seq"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return 0, fmt.Errorf("eventlog: unreadable acknowledgement %q: %w", m.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Seq == 0 {
		return 0, errors.New("eventlog: acknowledgement without a position")
	}
	return ack.Seq, nil
}
