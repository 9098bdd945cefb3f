package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"
)

// Event sourcing: an aggregate's state is the fold of its stream's records.
// Load folds them (from a snapshot when asked), Aggregate.Append writes new
// events stating the version the decision was made at, and Execute runs
// load, decide and append again on a conflict, so that concurrent commands
// on one stream never lose an update.

// Folder folds one record of a stream into the state. It must be a pure
// function of its arguments: Load and Execute call it again on every retry.
// A state whose fold keeps maps or slices must copy them before changing
// them if it uses snapshots or retries (the initial state is reused).
type Folder[S any] func(state S, rec Record) (S, error)

// Aggregate is a stream's state as of Version, built by Load or Execute.
type Aggregate[S any] struct {
	// Stream is the stream's name (the events' subject).
	Stream string
	// State is the fold of the stream's records up to Version.
	State S
	// Version is the stream's version State includes; 0 for a stream with
	// no events.
	Version int64
	// Replayed is how many records Load folded: those after the snapshot
	// when one was used, else the whole stream.
	Replayed int

	c    *Client
	fold Folder[S]
}

// AggregateOption configures Load and Execute.
type AggregateOption func(*aggregateConfig)

type aggregateConfig struct {
	snapshots     bool
	snapshotEvery int64
	maxAttempts   int
}

// WithSnapshots makes Load start from the stream's snapshot when there is
// one, folding only the records after it. A snapshot is a cache, never the
// source of truth: one whose state does not decode into S (the state's type
// changed) is ignored, and the stream is folded from version 1. When the
// meaning of the state changes but its JSON does not, delete the snapshots
// (Client.DeleteSnapshot).
func WithSnapshots() AggregateOption { return func(c *aggregateConfig) { c.snapshots = true } }

// SnapshotEvery makes Execute store a snapshot after an append that
// crosses a multiple of n versions (and implies WithSnapshots). The state
// is stored as JSON: S must round-trip through encoding/json. A snapshot
// that cannot be stored is skipped; the next crossing tries again.
func SnapshotEvery(n int) AggregateOption {
	return func(c *aggregateConfig) {
		if n > 0 {
			c.snapshotEvery = int64(n)
			c.snapshots = true
		}
	}
}

// MaxAttempts bounds how many times Execute loads, decides and appends
// when other writers keep changing the stream (default 10).
func MaxAttempts(n int) AggregateOption {
	return func(c *aggregateConfig) {
		if n > 0 {
			c.maxAttempts = n
		}
	}
}

func aggregateOptions(opts []AggregateOption) aggregateConfig {
	cfg := aggregateConfig{maxAttempts: 10}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// ErrTooManyConflicts is returned by Execute when every attempt met a
// concurrent write to the stream. Nothing of the command was appended.
var ErrTooManyConflicts = errors.New("sdk: the stream kept changing; the command was not applied")

// streamPage is the largest page Load reads.
const streamPage = 1000

// Load reads the stream and folds its records into initial, page after
// page. With WithSnapshots it starts from the stream's snapshot.
func Load[S any](ctx context.Context, c *Client, stream string, initial S, fold Folder[S], opts ...AggregateOption) (*Aggregate[S], error) {
	return load(ctx, c, stream, initial, fold, aggregateOptions(opts))
}

func load[S any](ctx context.Context, c *Client, stream string, initial S, fold Folder[S], cfg aggregateConfig) (*Aggregate[S], error) {
	if stream == "" {
		return nil, errors.New("sdk: Load needs a stream name")
	}
	a := &Aggregate[S]{Stream: stream, State: initial, c: c, fold: fold}
	if cfg.snapshots {
		snap, err := c.Snapshot(ctx, stream)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		default:
			var s S
			if json.Unmarshal(snap.State, &s) == nil {
				a.State, a.Version = s, snap.Version
			}
		}
	}
	for {
		page, err := c.Stream(ctx, stream, StreamQuery{From: a.Version + 1, Limit: streamPage})
		if err != nil {
			return nil, err
		}
		for _, rec := range page.Records {
			if err := a.apply(rec); err != nil {
				return nil, err
			}
			a.Replayed++
		}
		if len(page.Records) == 0 || a.Version >= page.Version {
			return a, nil
		}
	}
}

// apply folds the record that follows a.Version.
func (a *Aggregate[S]) apply(rec Record) error {
	if rec.Version != a.Version+1 {
		return fmt.Errorf("sdk: stream %q: expected version %d, read %d", a.Stream, a.Version+1, rec.Version)
	}
	s, err := a.fold(a.State, rec)
	if err != nil {
		return fmt.Errorf("sdk: stream %q: fold version %d (%s): %w", a.Stream, rec.Version, rec.Event.Type, err)
	}
	a.State, a.Version = s, rec.Version
	return nil
}

// Append writes events to the aggregate's stream, all or none, on the
// condition that the stream is still at a.Version; otherwise it fails
// with an error matching ErrWrongExpectedVersion and changes nothing.
// Events get the stream as Subject (one naming another stream is an error)
// and their expected versions.
//
// On success a.Version advances and the events are folded into a.State as
// records built from what was sent and answered (their RecordedAt is
// zero: an append does not answer it). Events answered as duplicates
// (same Source and ID as stored ones) were recorded before, are not folded
// again, and leave a.State behind the stream: Load it again.
//
// An aggregate must be built by Load or Execute.
func (a *Aggregate[S]) Append(ctx context.Context, events ...Event) ([]AppendResult, error) {
	if a.c == nil || a.fold == nil {
		return nil, errors.New("sdk: Aggregate.Append on an aggregate not built by Load or Execute")
	}
	if len(events) == 0 {
		return nil, nil
	}
	evs := make([]Event, len(events))
	for i, ev := range events {
		if ev.Subject != "" && ev.Subject != a.Stream {
			return nil, fmt.Errorf("sdk: event %d has subject %q, not the aggregate's stream %q", i, ev.Subject, a.Stream)
		}
		ev.Subject = a.Stream
		ev.ExpectedVersion = ExpectVersion(a.Version + int64(i))
		evs[i] = ev.withID()
	}
	res, err := a.c.AppendAtomic(ctx, evs)
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		if r.Duplicate {
			a.Version = max(a.Version, r.Version)
			continue
		}
		rec, err := recordOf(evs[i], r)
		if err == nil {
			err = a.apply(rec)
		}
		if err != nil {
			a.Version = max(a.Version, res[len(res)-1].Version)
			return res, fmt.Errorf("sdk: the events were appended but the state is stale, load it again: %w", err)
		}
	}
	return res, nil
}

// recordOf is the record the server keeps for an appended event.
func recordOf(ev Event, r AppendResult) (Record, error) {
	b, err := ev.MarshalJSON()
	if err != nil {
		return Record{}, err
	}
	rec := Record{Position: r.Position, Stream: r.Stream, Version: r.Version}
	if err := json.Unmarshal(b, &rec.Event); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// Execute runs a command on a stream: it loads the aggregate, asks decide
// for the events the command causes, and appends them with the version it
// decided at. When another writer got there first it loads again and
// decides again (after a short random wait), up to MaxAttempts times, then
// fails with ErrTooManyConflicts. So a command is applied to the state it
// was decided on, and no concurrent update is lost.
//
// An error from decide (a business rule refusing the command) is returned
// as is, with nothing appended; no events means nothing to do. It returns
// the aggregate with the command's events folded in.
func Execute[S any](ctx context.Context, c *Client, stream string, initial S, fold Folder[S], decide func(S) ([]Event, error), opts ...AggregateOption) (*Aggregate[S], error) {
	cfg := aggregateOptions(opts)
	for attempt := 1; ; attempt++ {
		a, err := load(ctx, c, stream, initial, fold, cfg)
		if err != nil {
			return nil, err
		}
		events, err := decide(a.State)
		if err != nil || len(events) == 0 {
			return a, err
		}
		from := a.Version
		_, err = a.Append(ctx, events...)
		if err == nil {
			if n := cfg.snapshotEvery; n > 0 && a.Version/n > from/n {
				_, _ = c.PutSnapshot(ctx, stream, a.Version, a.State)
			}
			return a, nil
		}
		if !errors.Is(err, ErrWrongExpectedVersion) {
			return nil, err
		}
		if attempt >= cfg.maxAttempts {
			return nil, fmt.Errorf("%w (%d attempts on stream %q)", ErrTooManyConflicts, attempt, stream)
		}
		if !sleep(ctx, conflictBackoff(attempt)) {
			return nil, ctx.Err()
		}
	}
}

// conflictBackoff spreads the writers that conflicted: a random wait up to
// 2ms doubled per attempt, capped at 100ms.
func conflictBackoff(attempt int) time.Duration {
	d := min(2*time.Millisecond<<min(attempt, 10), 100*time.Millisecond)
	return rand.N(d) + time.Millisecond
}

// Snapshot is a stream's state stored by PutSnapshot.
type Snapshot struct {
	Stream string `json:"stream"`
	// Version is the stream version the state folds up to.
	Version int64 `json:"version"`
	// State is the state as stored.
	State json.RawMessage `json:"state"`
	// StoredAt is when the server stored it.
	StoredAt time.Time `json:"stored_at"`
}

func snapshotPath(stream string) string { return "/v1/streams/" + url.PathEscape(stream) + "/snapshot" }

// Snapshot returns the stream's snapshot, or an error matching ErrNotFound.
func (c *Client) Snapshot(ctx context.Context, stream string) (Snapshot, error) {
	var s Snapshot
	err := c.do(ctx, "GET", snapshotPath(stream), nil, nil, "", &s)
	return s, err
}

// PutSnapshot stores state (encoded as JSON) as the stream's state at
// version, which the stream must have reached (else a 409 *Problem). The
// server keeps the snapshot of the highest version: stored is false when
// it already held a later one, which it kept.
func (c *Client) PutSnapshot(ctx context.Context, stream string, version int64, state any) (stored bool, err error) {
	st, err := json.Marshal(state)
	if err != nil {
		return false, fmt.Errorf("sdk: snapshot state: %w", err)
	}
	body, err := json.Marshal(struct {
		Version int64           `json:"version"`
		State   json.RawMessage `json:"state"`
	}{version, st})
	if err != nil {
		return false, err
	}
	var out struct {
		Stored bool `json:"stored"`
	}
	err = c.do(ctx, "PUT", snapshotPath(stream), nil, body, "application/json", &out)
	return out.Stored, err
}

// DeleteSnapshot removes the stream's snapshot, if any: loads fold the
// stream from version 1 until the next snapshot is stored.
func (c *Client) DeleteSnapshot(ctx context.Context, stream string) error {
	return c.do(ctx, "DELETE", snapshotPath(stream), nil, nil, "", nil)
}
