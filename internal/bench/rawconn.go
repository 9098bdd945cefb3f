package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection that posts requests one at
// a time, as a load generator such as wrk does. It costs the machine a
// fraction of what net/http's client does (which on a small machine
// competes with the server it measures), and sends the same bytes.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	host string
	ns   string
}

func dialRaw(ctx context.Context, base, ns string) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("the bench's append client speaks plain http, not %s", u.Scheme)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10), host: u.Host, ns: ns}, nil
}

func (c *rawConn) close() error { return c.conn.Close() }

// post sends body to path and reads the answer into buf; it returns the
// status code.
func (c *rawConn) post(ctx context.Context, path, contentType string, body []byte, buf *bytes.Buffer) (int, error) {
	return c.request(ctx, "POST", path, contentType, body, buf)
}

// request sends one request (method GET or POST) and reads the answer into
// buf; it returns the status code.
func (c *rawConn) request(ctx context.Context, method, path, contentType string, body []byte, buf *bytes.Buffer) (int, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(d)
	} else {
		_ = c.conn.SetDeadline(time.Now().Add(time.Minute))
	}
	w := c.w
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(c.host)
	w.WriteString("\r\nContent-Type: ")
	w.WriteString(contentType)
	w.WriteString("\r\nEnsue-Namespace: ")
	w.WriteString(c.ns)
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return c.readResponse(buf)
}

var errBadResponse = errors.New("malformed HTTP response")

func (c *rawConn) readResponse(buf *bytes.Buffer) (int, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	length, chunked := -1, false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("%w: header %q", errBadResponse, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("%w: Content-Length %q", errBadResponse, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	buf.Reset()
	switch {
	case chunked:
		for {
			line, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			size, err := strconv.ParseUint(string(bytes.TrimRight(line, "\r\n")), 16, 32)
			if err != nil {
				return 0, fmt.Errorf("%w: chunk size %q", errBadResponse, line)
			}
			if size == 0 {
				if _, err := c.r.Discard(2); err != nil {
					return 0, err
				}
				return status, nil
			}
			if _, err := io.CopyN(buf, c.r, int64(size)); err != nil {
				return 0, err
			}
			if _, err := c.r.Discard(2); err != nil {
				return 0, err
			}
		}
	case length >= 0:
		if _, err := io.CopyN(buf, c.r, int64(length)); err != nil {
			return 0, err
		}
		return status, nil
	default:
		return 0, fmt.Errorf("%w: neither Content-Length nor chunked", errBadResponse)
	}
}
