package store

import (
	"context"
	"sync"
	"time"

	"github.com/ensue-dev/ensue/internal/eventlog"
)

// recentSize is how many of its latest appends the store keeps in memory
// for consumers that follow the log closely (a few MB of events).
const recentSize = 8192

// recent holds the latest appended records by position, so that a
// consumer a few milliseconds behind the log (the flow engine) reads them
// from memory instead of from JetStream a second time.
type recent struct {
	mu   sync.Mutex
	recs [recentSize]eventlog.Record
}

func (r *recent) put(rec eventlog.Record) {
	r.mu.Lock()
	r.recs[rec.Position%recentSize] = rec
	r.mu.Unlock()
}

func (r *recent) get(pos uint64) (eventlog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recs[pos%recentSize]
	return rec, rec.Position == pos && pos != 0
}

// Head is the latest position up to which the log is indexed: every
// record at or before it is in the log, in order, and Read answers it.
func (s *Store) Head() uint64 { return s.ix.Applied() }

// WaitHead waits until Head reaches pos.
func (s *Store) WaitHead(ctx context.Context, pos uint64) error { return s.ix.WaitApplied(ctx, pos) }

// Records returns the records after `after`, in order, up to `to` and at
// most limit: from memory while the store still holds them, else from the
// log. It is meant for positions at or before Head.
func (s *Store) Records(ctx context.Context, after, to uint64, limit int) ([]eventlog.Record, error) {
	var out []eventlog.Record
	for pos := after + 1; pos <= to && len(out) < limit; pos++ {
		rec, ok := s.recent.get(pos)
		if !ok {
			break
		}
		out = append(out, rec)
	}
	if len(out) > 0 {
		return out, nil
	}
	recs, _, err := s.log.Read(ctx, eventlog.Query{After: after, Limit: min(limit, int(to-after))})
	if err != nil {
		return nil, err
	}
	for len(recs) > 0 && recs[len(recs)-1].Position > to {
		recs = recs[:len(recs)-1]
	}
	return recs, nil
}

// remember keeps appended records for Records.
func (s *Store) remember(ns string, pos uint64, stream string, version uint64, data []byte, at time.Time) {
	s.recent.put(eventlog.Record{Position: pos, Namespace: ns, Stream: stream, Version: version, RecordedAt: at, Data: data})
}
