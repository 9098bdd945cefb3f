package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/index"
)

// Record is one stored event.
type Record = eventlog.Record

// Filter selects events in a namespace's log. Empty fields select all.
type Filter struct {
	Namespace string
	// Type is exact, or a prefix when it ends with '*'.
	Type          string
	Source        string
	Subject       string
	CorrelationID string
	// Since and Until bound recorded_at (inclusive) when not zero.
	Since, Until time.Time
}

// Query is a filtered page of the log.
type Query struct {
	Filter
	After uint64
	Limit int
}

// scanBudget bounds the records one filtered read examines; the answer's
// next position lets the client continue from where the scan stopped.
const scanBudget = 20_000

// Get returns the record at pos if it belongs to namespace ns.
func (s *Store) Get(ctx context.Context, ns string, pos uint64) (Record, error) {
	r, err := s.log.Get(ctx, pos)
	if errors.Is(err, eventlog.ErrNotFound) || err == nil && r.Namespace != ns {
		return Record{}, ErrNotFound
	}
	return r, err
}

// Lookup returns the event with identity (ns, source, id).
func (s *Store) Lookup(ctx context.Context, ns, source, id string) (Record, error) {
	if !s.Ready() {
		return Record{}, ErrNotReady
	}
	e, err := s.ix.LookupIdentity(ns, source, id)
	if err != nil {
		if errors.Is(err, index.ErrNotFound) {
			return Record{}, ErrNotFound
		}
		return Record{}, err
	}
	return s.Get(ctx, ns, e.Position)
}

// Stream reads a stream forward from version from (default 1) or backward
// from it (default the current version).
func (s *Store) Stream(ctx context.Context, ns, stream string, from uint64, limit int, backward bool) ([]Record, uint64, error) {
	return s.log.ReadStream(ctx, ns, stream, from, limit, backward)
}

// Events answers a filtered page of the log and the highest position examined.
func (s *Store) Events(ctx context.Context, q Query) ([]Record, uint64, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.CorrelationID != "" {
		return s.eventsByCorrelation(ctx, q, false)
	}
	out := make([]Record, 0, min(q.Limit, 128))
	next := q.After
	examined := 0
	m := newMatcher(q.Filter)
	defer m.release()
	for len(out) < q.Limit && examined < scanBudget {
		page := 1000
		if m.trivial() {
			page = q.Limit - len(out)
		}
		recs, _, err := s.log.Read(ctx, eventlog.Query{Namespace: q.Namespace, Stream: q.Subject, After: next, Since: q.Since, Limit: page})
		if err != nil {
			return nil, 0, err
		}
		for _, r := range recs {
			if !q.Until.IsZero() && r.RecordedAt.After(q.Until) {
				return out, next, nil
			}
			next = r.Position
			examined++
			if m.match(r) {
				out = append(out, r)
				if len(out) == q.Limit {
					return out, next, nil
				}
			}
		}
		if len(recs) < page {
			break
		}
	}
	return out, next, nil
}

// indexLagWait bounds how long an index-backed read waits for the index to
// apply the appends answered before it.
const indexLagWait = time.Second

// eventsByCorrelation reads through the correlation index. withRoot keeps
// the correlation's root (the event whose own id is the correlation id and
// which has none): the correlation view shows it, the correlationid filter
// of a list does not.
func (s *Store) eventsByCorrelation(ctx context.Context, q Query, withRoot bool) ([]Record, uint64, error) {
	// Read your writes: let the index apply what the log holds now (it
	// usually lags by milliseconds); past indexLagWait, answer with what
	// it has — the contract allows a second of lag.
	if last, err := s.log.LastPosition(ctx); err == nil {
		wctx, cancel := context.WithTimeout(ctx, indexLagWait)
		_ = s.ix.WaitApplied(wctx, last)
		cancel()
	}
	positions, err := s.ix.Correlation(q.Namespace, q.CorrelationID, q.After, scanBudget)
	if err != nil {
		return nil, 0, err
	}
	m := newMatcher(q.Filter)
	defer m.release()
	// The correlation view shows the whole chain, Ensue's records of
	// the runs it caused included.
	m.reserved = m.reserved || withRoot
	var out []Record
	next := q.After
	for _, pos := range positions {
		r, err := s.Get(ctx, q.Namespace, pos)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if !q.Until.IsZero() && r.RecordedAt.After(q.Until) {
			break
		}
		next = pos
		if !withRoot && m.attr(r, "correlationid") != q.CorrelationID {
			continue
		}
		if (q.Since.IsZero() || !r.RecordedAt.Before(q.Since)) && (q.Subject == "" || r.Stream == q.Subject) && m.match(r) {
			out = append(out, r)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, next, nil
}

// Correlation returns every event of a correlation, in log order.
func (s *Store) Correlation(ctx context.Context, ns, id string) ([]Record, error) {
	recs, _, err := s.eventsByCorrelation(ctx, Query{Filter: Filter{Namespace: ns, CorrelationID: id}, Limit: scanBudget}, true)
	return recs, err
}

// Subscription is a filtered live feed.
type Subscription struct {
	sub eventlog.Subscription
	m   *matcher
	f   Filter
}

// Subscribe follows the namespace's log after position after, history then live.
func (s *Store) Subscribe(ctx context.Context, f Filter, after uint64) (*Subscription, error) {
	sub, err := s.log.Subscribe(ctx, eventlog.Query{Namespace: f.Namespace, Stream: f.Subject, After: after})
	if err != nil {
		return nil, err
	}
	return &Subscription{sub: sub, m: newMatcher(f), f: f}, nil
}

// LastPosition is the log's latest position.
func (s *Store) LastPosition(ctx context.Context) (uint64, error) { return s.log.LastPosition(ctx) }

// Next blocks until the next matching record.
func (sub *Subscription) Next(ctx context.Context) (Record, error) {
	for {
		r, err := sub.sub.Next(ctx)
		if err != nil {
			return Record{}, err
		}
		if !sub.f.Since.IsZero() && r.RecordedAt.Before(sub.f.Since) {
			continue
		}
		if !sub.f.Until.IsZero() && r.RecordedAt.After(sub.f.Until) {
			continue
		}
		if sub.f.CorrelationID != "" && sub.m.attr(r, "correlationid") != sub.f.CorrelationID {
			continue
		}
		if sub.m.match(r) {
			return r, nil
		}
	}
}

// Stop ends the subscription.
func (sub *Subscription) Stop() {
	sub.sub.Stop()
	sub.m.release()
}

// matcher applies the attribute filters that the log cannot.
type matcher struct {
	f Filter
	p *fastjson.Parser
	// reserved keeps Ensue's own events (type ensue.*), which reads leave
	// out unless a type filter asks for them.
	reserved bool
}

var parsers sync.Pool

func newMatcher(f Filter) *matcher {
	p, _ := parsers.Get().(*fastjson.Parser)
	if p == nil {
		p = new(fastjson.Parser)
	}
	return &matcher{f: f, p: p, reserved: strings.HasPrefix(f.Type, event.ReservedTypePrefix)}
}

func (m *matcher) release() {
	if m.p != nil {
		parsers.Put(m.p)
		m.p = nil
	}
}

// trivial: every record the log returns matches.
func (m *matcher) trivial() bool { return m.f.Type == "" && m.f.Source == "" }

func (m *matcher) attr(r Record, name string) string {
	v, err := m.p.ParseBytes(r.Data)
	if err != nil {
		return ""
	}
	return string(v.GetStringBytes(name))
}

func (m *matcher) match(r Record) bool {
	if !m.reserved && event.IsReserved(r.Data) {
		return false
	}
	if m.trivial() {
		return true
	}
	v, err := m.p.ParseBytes(r.Data)
	if err != nil {
		return false
	}
	if m.f.Type != "" {
		t := string(v.GetStringBytes("type"))
		if prefix, ok := strings.CutSuffix(m.f.Type, "*"); ok {
			if !strings.HasPrefix(t, prefix) {
				return false
			}
		} else if t != m.f.Type {
			return false
		}
	}
	if m.f.Source != "" && string(v.GetStringBytes("source")) != m.f.Source {
		return false
	}
	return true
}
