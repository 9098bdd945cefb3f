package eventlog

import "sync"

// StaleReads is the number of reads whose direct answer missed records the
// stream leader then supplied.
func (l *JetStream) StaleReads() uint64 { return l.staleReads.Load() }

// InProcessRetries is the number of publishes refused with 10164 and retried.
func (l *JetStream) InProcessRetries() uint64 { return l.inProcessRetries.Load() }

// ConflictRetries is the number of publishes refused with 10071 and retried.
func (l *JetStream) ConflictRetries() uint64 { return l.conflictRetries.Load() }

// PublishAsyncPending is the number of asynchronous publishes awaiting
// their acknowledgement.
func (l *JetStream) PublishAsyncPending() int { return l.js.PublishAsyncPending() }

// HoldStream takes a stream's append lock as an append in progress would,
// until release is called (once or more).
func (l *JetStream) HoldStream(ns, stream string) (release func()) {
	st := l.state(l.subj.stream(ns, stream))
	st.lock <- struct{}{}
	return sync.OnceFunc(func() { <-st.lock })
}
