package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AnyVersion in Entry.Expected means "append whatever the stream's version".
const AnyVersion int64 = -1

// Entry is one event to append.
type Entry struct {
	// Stream names the stream the event belongs to; "" for none.
	Stream string
	// Expected is the version the stream must have before this entry is
	// appended (0: the stream must be empty), or AnyVersion.
	Expected int64
	// Data is the stored event, as is.
	Data []byte
}

// Result is the outcome of appending one entry.
type Result struct {
	Position uint64
	// Version is the entry's version in its stream; 0 without a stream.
	Version uint64
	// Err is set when the entry was not appended.
	Err error
}

// Record is one stored event.
type Record struct {
	Position   uint64
	Namespace  string
	Stream     string
	Version    uint64
	RecordedAt time.Time
	Data       []byte
}

// Query selects records in log order.
type Query struct {
	// Namespace selects one namespace; "" selects the whole log (for
	// Ensue's own indexers, never for client reads).
	Namespace string
	// Stream, when set, selects one stream's records.
	Stream string
	// After excludes records at or before this position.
	After uint64
	// Since excludes records recorded before this time, when not zero.
	Since time.Time
	// Limit is the largest number of records returned (default 100).
	Limit int
}

// Log is the ordered, durable log. Implementations are safe for concurrent
// use by many goroutines.
type Log interface {
	// Append stores entries in order, each on its own: one failing entry
	// (e.g. a wrong expected version) does not stop the others. It returns
	// one result per entry. Entries of one stream are given consecutive
	// versions, and increasing positions, in input order. Positions follow
	// input order across streams too, except when JetStream refuses an
	// entry for a transient reason (another process appended to its stream
	// in the meantime, or a cluster was still replicating an earlier write
	// to it) after later entries of the call were already sent: the entry is
	// then stored again, after them. AppendAtomic keeps input order always.
	// A failure that is not a wrong expected version is ErrUnavailable; the
	// entry may or may not have been stored.
	Append(ctx context.Context, ns string, entries []Entry) []Result
	// AppendAtomic stores all entries or none. On failure the error is a
	// *BatchError naming the entry at fault when one is.
	AppendAtomic(ctx context.Context, ns string, entries []Entry) ([]Result, error)
	// Get returns the record at a position, ErrNotFound if there is none.
	Get(ctx context.Context, pos uint64) (Record, error)
	// LastPosition is the position of the latest record in the whole log (0 when empty).
	LastPosition(ctx context.Context) (uint64, error)
	// StreamVersion is the current version of a stream (0 when empty) and the
	// position of its latest record.
	StreamVersion(ctx context.Context, ns, stream string) (version, position uint64, err error)
	// ReadStream returns up to limit records of a stream starting at version
	// from (inclusive), forward or backward, and the stream's current version.
	ReadStream(ctx context.Context, ns, stream string, from uint64, limit int, backward bool) ([]Record, uint64, error)
	// Read returns records matching q in log order and the highest position
	// examined (q.After when none).
	Read(ctx context.Context, q Query) ([]Record, uint64, error)
	// Subscribe delivers records matching q (Since and Limit ignored) in log
	// order, from q.After+1, history then live, until ctx is done.
	Subscribe(ctx context.Context, q Query) (Subscription, error)
}

// Subscription is a live feed of records. Next blocks until a record
// arrives or ctx is done. Stop releases it; it is safe to call twice.
type Subscription interface {
	Next(ctx context.Context) (Record, error)
	Stop()
}

var (
	// ErrNotFound: no record at that position or with that key.
	ErrNotFound = errors.New("eventlog: not found")
	// ErrWrongExpectedVersion: a stream's version was not the one an append stated.
	ErrWrongExpectedVersion = errors.New("eventlog: wrong expected version")
	// ErrUnavailable: the log did not answer in time or refused for a transient reason.
	ErrUnavailable = errors.New("eventlog: unavailable")
)

// VersionError is a wrong-expected-version failure with the versions involved.
type VersionError struct {
	Stream   string
	Expected int64
	Current  uint64
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("stream %q is at version %d, not the expected %d", e.Stream, e.Current, e.Expected)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// BatchError is an atomic batch that was not stored because of one entry.
type BatchError struct {
	// Index of the entry at fault, -1 when the batch failed as a whole.
	Index int
	Err   error
}

func (e *BatchError) Error() string {
	if e.Index < 0 {
		return "atomic batch not stored: " + e.Err.Error()
	}
	return fmt.Sprintf("atomic batch not stored: entry %d: %v", e.Index, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }
