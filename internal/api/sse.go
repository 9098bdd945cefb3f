package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/store"
)

// subscribe streams records as Server-Sent Events: history after the start
// position, then live, with each record's position as the event id so that
// a client resumes with Last-Event-ID and sees no gap and no duplicate.
func (a *API) subscribe(w http.ResponseWriter, r *http.Request) {
	ns, p := namespace(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	qp := &queryParser{q: r.URL.Query()}
	f := qp.filter(ns)
	after := qp.uint("after", 0)
	hasStart := qp.q.Get("after") != ""
	if last := strings.TrimSpace(r.Header.Get("Last-Event-ID")); last != "" {
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			qp.errs = append(qp.errs, event.FieldError{Pointer: "Last-Event-ID", Message: fmt.Sprintf("%q is not a position", clip(last, 40))})
		}
		after, hasStart = n, true
	}
	if p := qp.problem(); p != nil {
		writeProblem(w, p)
		return
	}
	a.watchShutdown(r)
	select {
	case <-a.shutdown:
		writeProblem(w, &Problem{Type: typeUnavailable, Title: "Shutting down", Status: http.StatusServiceUnavailable, RetryAfter: 1,
			Detail: "the server is shutting down; subscribe again, to this server once it is back or to another one"})
		return
	default:
	}
	if _, ok := w.(http.Flusher); !ok {
		writeProblem(w, &Problem{Type: typeInternal, Title: "Streaming unsupported", Status: http.StatusInternalServerError, Detail: "this connection cannot stream"})
		return
	}
	ctx := r.Context()
	if !hasStart {
		last, err := a.store.LastPosition(ctx)
		if err != nil {
			writeProblem(w, problemOf(err))
			return
		}
		after = last
	}
	sub, err := a.store.Subscribe(ctx, f, after)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	defer sub.Stop()
	a.metrics.subscribers.Inc()
	defer a.metrics.subscribers.Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// Every write has a deadline: a client that stops reading would
	// otherwise hold this handler in Write for ever, and with it a graceful
	// stop. A client cut off resumes with Last-Event-ID.
	rc := http.NewResponseController(w)
	send := func(b []byte) error {
		timeout := a.cfg.SSEWriteTimeout
		select {
		case <-a.shutdown:
			timeout = shutdownWriteTimeout
		default:
		}
		_ = rc.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	handlerDone, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-a.shutdown:
			// Cut short a write already waiting on a client.
			_ = rc.SetWriteDeadline(time.Now().Add(shutdownWriteTimeout))
		case <-handlerDone:
		}
	}()
	defer func() {
		close(handlerDone)
		<-watchDone
		// The connection may serve further requests.
		_ = rc.SetWriteDeadline(time.Time{})
	}()
	// The id line makes the start position the client's last event id, so
	// a reconnect before the first record resumes from there, not from the
	// end of the log as it is then.
	if send([]byte(fmt.Sprintf(": subscribed after position %d\nretry: 1000\nid: %d\n\n", after, after))) != nil {
		return
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan store.Record, 256)
	errc := make(chan error, 1)
	go func() {
		defer close(recs)
		for {
			rec, err := sub.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
				// The loop below reads errc once recs is closed: it must
				// hold an error whichever way this goroutine ends.
				errc <- ctx.Err()
				return
			}
		}
	}()
	keepAlive := time.NewTicker(a.cfg.SSEKeepAlive)
	defer keepAlive.Stop()
	var b []byte
	for {
		select {
		case rec, ok := <-recs:
			if !ok {
				if err := <-errc; err != nil && ctx.Err() == nil {
					_ = send([]byte(fmt.Sprintf("event: error\ndata: %s\n\n", quote(err.Error()))))
				}
				return
			}
			b = appendEvent(b[:0], rec)
			// Write what is queued before flushing, so a burst costs one flush.
		drain:
			for len(b) < 64<<10 {
				select {
				case rec, ok := <-recs:
					if !ok {
						break drain
					}
					b = appendEvent(b, rec)
				default:
					break drain
				}
			}
			if send(b) != nil {
				return
			}
		case <-keepAlive.C:
			if send([]byte(": ping\n\n")) != nil {
				return
			}
		case <-a.shutdown:
			// The client reconnects (retry: above) with Last-Event-ID
			// and misses nothing.
			_ = send([]byte(": the server is shutting down\n\n"))
			return
		case <-ctx.Done():
			return
		}
	}
}

// shutdownWriteTimeout is how long a subscriber still gets to accept a
// write once the server is shutting down.
const shutdownWriteTimeout = time.Second

// watchShutdown makes sure that the http.Server serving r ends the open
// subscriptions when it shuts down: Shutdown waits for every handler to
// return, and a subscription returns only when its client goes away, so
// that without this a graceful stop would wait for every subscriber.
func (a *API) watchShutdown(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	a.shutdownOnce.Do(func() { srv.RegisterOnShutdown(func() { close(a.shutdown) }) })
}

func appendEvent(b []byte, rec store.Record) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, rec.Position, 10)
	b = append(b, "\ndata: "...)
	b = appendRecord(b, rec)
	return append(b, "\n\n"...)
}
