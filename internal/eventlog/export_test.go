package eventlog

import (
	"sync"
	"time"
)

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

// ForceShared makes the log append per stream (shared.go) from now on.
func (l *JetStream) ForceShared() {
	l.ch.mu.Lock()
	defer l.ch.mu.Unlock()
	l.ch.shared, l.ch.sharedUntil = true, time.Now().Add(time.Hour)
}

// Shared reports whether the log appends per stream.
func (l *JetStream) Shared() bool {
	l.ch.mu.Lock()
	defer l.ch.mu.Unlock()
	return l.ch.shared
}
