package eventlog

import (
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// The embedded server's in-process connection is a net.Pipe, which has no
// buffer: a write waits until the server has read it. nats.go writes while
// holding its connection lock, so while the server parses one buffer of
// publishes, every goroutine publishing the next waits. bufferedConn gives
// the client's side of the pipe a write buffer drained by a goroutine of
// its own, as a socket's kernel buffer would: publishers are held back only
// when maxBuffered bytes are waiting.

// maxBuffered bounds the bytes written but not yet read by the server.
const maxBuffered = 8 << 20

type bufferedProvider struct{ srv nats.InProcessConnProvider }

func (p bufferedProvider) InProcessConn() (net.Conn, error) {
	c, err := p.srv.InProcessConn()
	if err != nil {
		return nil, err
	}
	b := &bufferedConn{Conn: c}
	b.cond = sync.NewCond(&b.mu)
	go b.pump()
	return b, nil
}

type bufferedConn struct {
	net.Conn
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte // written, not yet handed to the pipe
	spare   []byte
	err     error // the pipe's write error, or net.ErrClosed
	writing bool  // pump holds bytes taken from buf
}

func (b *bufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.buf) > 0 && len(b.buf)+len(p) > maxBuffered {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return len(p), nil
}

// pump hands buffered bytes to the pipe, in order, until the connection
// closes or a write fails.
func (b *bufferedConn) pump() {
	for {
		b.mu.Lock()
		for b.err == nil && len(b.buf) == 0 {
			b.cond.Wait()
		}
		if b.err != nil && len(b.buf) == 0 {
			b.mu.Unlock()
			return
		}
		out := b.buf
		b.buf, b.spare = b.spare[:0], nil
		b.writing = true
		b.mu.Unlock()

		_, err := b.Conn.Write(out)

		b.mu.Lock()
		b.writing = false
		if err != nil && b.err == nil {
			b.err = err
		}
		if b.spare == nil && cap(out) <= maxBuffered {
			b.spare = out[:0]
		}
		b.cond.Broadcast()
		stop := b.err != nil
		b.mu.Unlock()
		if stop {
			return
		}
	}
}

// Close hands what is buffered to the server (for at most a second: the
// server may be gone) and closes the pipe.
func (b *bufferedConn) Close() error {
	drained := make(chan struct{})
	go func() {
		b.mu.Lock()
		for b.err == nil && (len(b.buf) > 0 || b.writing) {
			b.cond.Wait()
		}
		b.mu.Unlock()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(time.Second):
	}
	b.mu.Lock()
	if b.err == nil {
		b.err = net.ErrClosed
	}
	b.cond.Broadcast()
	b.mu.Unlock()
	return b.Conn.Close()
}
