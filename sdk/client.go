package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds each request that is not a subscription when the
// caller's context has no deadline of its own. Change it with WithTimeout.
const DefaultTimeout = 30 * time.Second

// Client talks to one Ensue server, in one namespace. It is safe for
// concurrent use by several goroutines; build one and reuse it.
type Client struct {
	base      *url.URL
	baseErr   error
	http      *http.Client
	namespace string
	header    http.Header
	timeout   time.Duration
	reconnect ReconnectPolicy
}

// Option configures a Client built by New.
type Option func(*Client)

// WithHTTPClient sends requests with hc instead of a client of the SDK's own.
// Its Timeout, if any, also cuts Subscribe connections, so leave it zero and
// rely on contexts (and WithTimeout) instead.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithNamespace makes every request act in namespace ns (sent as the
// Ensue-Namespace header). The server uses "default" when none is set; a
// name must match ^[a-z0-9][a-z0-9-]{0,62}$, which the server checks.
func WithNamespace(ns string) Option {
	return func(c *Client) { c.namespace = ns }
}

// WithHeader adds a header to every request, for example an Authorization
// header required by a proxy in front of the server. It may be given several
// times; values for the same key accumulate.
func WithHeader(key, value string) Option {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithTimeout changes the per-request timeout applied when a call's context
// has no deadline (DefaultTimeout unless set). Zero or negative disables it.
// Subscribe is never cut by it.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// New returns a client for the server at baseURL, such as
// "http://127.0.0.1:7600". A baseURL with a path prefix ("https://host/ensue")
// is kept as a prefix of every /v1 path. An invalid baseURL is reported by
// every call the client makes.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		http:      &http.Client{},
		header:    make(http.Header),
		timeout:   DefaultTimeout,
		reconnect: defaultReconnect,
	}
	c.base, c.baseErr = parseBaseURL(baseURL)
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("sdk: invalid server URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sdk: invalid server URL %q: want http://host:port or https://host:port", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	u.RawQuery = ""
	u.Fragment = ""
	return u, nil
}

// Namespace reports the namespace the client sends, "" meaning the server's
// default.
func (c *Client) Namespace() string { return c.namespace }

// endpoint joins the base URL with an already escaped path and a query.
func (c *Client) endpoint(escapedPath string, q url.Values) (string, error) {
	if c.baseErr != nil {
		return "", c.baseErr
	}
	s := c.base.String() + escapedPath
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s, nil
}

// newRequest builds a request carrying the client's namespace and headers.
func (c *Client) newRequest(ctx context.Context, method, escapedPath string, q url.Values, body []byte, contentType string) (*http.Request, error) {
	target, err := c.endpoint(escapedPath, q)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("sdk: build request: %w", err)
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.namespace != "" {
		req.Header.Set("Ensue-Namespace", c.namespace)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ensue-sdk-go")
	}
	return req, nil
}

// do sends one request and decodes a 2xx JSON answer into out (when out is
// not nil). Any other status becomes a *Problem.
func (c *Client) do(ctx context.Context, method, escapedPath string, q url.Values, body []byte, contentType string, out any) error {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, escapedPath, q, body, contentType)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeProblem(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("sdk: %s %s: decode response: %w", method, req.URL.Path, err)
	}
	return nil
}
