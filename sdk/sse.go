package sdk

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxSSELine bounds one line of an event stream, far above any record the
// server sends, so that a broken peer cannot grow memory without end.
const maxSSELine = 16 << 20

var errSSELineTooLong = errors.New("sdk: event stream line too long")

// sseMessage is one dispatched Server-Sent Events message.
type sseMessage struct {
	Event string
	Data  string
	// HasData reports at least one data line, even an empty one.
	HasData bool
	ID      string
	HasID   bool
	// Retry is the reconnection time in milliseconds, or -1 when not sent.
	Retry int
}

// sseReader parses a text/event-stream body as the HTML Living Standard
// describes: lines end in CRLF, LF or CR; a blank line dispatches; lines
// starting with ':' are comments.
type sseReader struct {
	br *bufio.Reader
	// skipLF is set after a CR, whose LF (if any) belongs to the same line end.
	skipLF bool
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// readLine returns the next line without its terminator. A last line cut off
// by the end of the body is dropped with the error, as the standard says an
// incomplete event is not dispatched.
func (r *sseReader) readLine() ([]byte, error) {
	var line []byte
	for {
		if r.skipLF {
			b, err := r.br.ReadByte()
			if err != nil {
				return nil, err
			}
			r.skipLF = false
			if b != '\n' {
				_ = r.br.UnreadByte()
			}
		}
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if i := bytes.IndexAny(buf, "\r\n"); i >= 0 {
			line = append(line, buf[:i]...)
			r.skipLF = buf[i] == '\r'
			_, _ = r.br.Discard(i + 1)
			return line, nil
		}
		line = append(line, buf...)
		_, _ = r.br.Discard(len(buf))
		if len(line) > maxSSELine {
			return nil, errSSELineTooLong
		}
	}
}

// next returns the next message that carries data, an id or a retry time.
func (r *sseReader) next() (sseMessage, error) {
	msg := sseMessage{Retry: -1}
	var data strings.Builder
	pending := false
	for {
		line, err := r.readLine()
		if err != nil {
			return sseMessage{}, err
		}
		if len(line) == 0 {
			if !pending {
				continue
			}
			msg.Data = strings.TrimSuffix(data.String(), "\n")
			return msg, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			msg.HasData = true
			pending = true
		case "event":
			msg.Event = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				msg.ID = string(value)
				msg.HasID = true
				pending = true
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
				msg.Retry = n
				pending = true
			}
		}
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
