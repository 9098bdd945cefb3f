package webhook

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ensue-dev/ensue/internal/clock"
)

// Request is one HTTP action to deliver; it is the same across attempts.
type Request struct {
	// Method defaults to POST.
	Method string
	// URL must be absolute, http or https.
	URL    string
	Header http.Header
	Body   []byte
	// IdempotencyKey is sent as Idempotency-Key. The caller derives it from
	// the run and step so that it is stable across retries and restarts,
	// which is what lets a receiver drop a repeated delivery.
	IdempotencyKey string
	// MessageID is the Standard Webhooks webhook-id, derived by the caller
	// and the same across retries. Required when Secret is set.
	MessageID string
	// Secret is the decoded signing key (see ParseSecret); nil or empty
	// sends the request unsigned.
	Secret []byte
	// Timeout bounds each attempt, reading the response included
	// (default DefaultTimeout).
	Timeout time.Duration
}

// Request and response limits.
const (
	DefaultTimeout = 10 * time.Second
	// maxRedirects is how many redirects the default client follows; the
	// 3xx after that is the answer, and it is final.
	maxRedirects = 5
	// maxDiscard is how much of a body beyond MaxBody is read and thrown
	// away so the connection can be reused; past it, dropping the
	// connection is cheaper than reading on.
	maxDiscard = 1 << 20
)

// Attempt is the outcome of one try, for the caller to record.
type Attempt struct {
	N        int           `json:"attempt"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Status   int           `json:"status,omitempty"`
	// Error is the transport error, the timeout, or "HTTP 503". It never
	// contains the URL, which may carry credentials (many webhook URLs are
	// themselves secrets).
	Error string `json:"error,omitempty"`
	// RetryAfter is the server's Retry-After, capped at MaxRetryAfter.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
	// Delay is the backoff chosen before the next attempt, when one will
	// follow. An open circuit may hold the next attempt back longer.
	Delay time.Duration `json:"delay_ns,omitempty"`
	// Final says no retry will follow: success, or a final failure.
	Final    bool      `json:"final"`
	Response *Response `json:"response,omitempty"`
}

// Failure is the error Deliver returns when retries are exhausted or an
// answer is final.
type Failure struct {
	// Attempts is the number of attempts made, earlier ones (done) included.
	Attempts int
	// Last is the last attempt of this call; zero when the budget was
	// already spent before it (the caller has the last one recorded).
	Last Attempt
	// Reason is "retries exhausted" or "HTTP 404 is final".
	Reason string
}

func (f *Failure) Error() string {
	plural := "s"
	if f.Attempts == 1 {
		plural = ""
	}
	msg := fmt.Sprintf("webhook: delivery failed after %d attempt%s: %s", f.Attempts, plural, f.Reason)
	if f.Last.Error != "" && !strings.HasPrefix(f.Reason, f.Last.Error) {
		msg += " (last: " + f.Last.Error + ")"
	}
	return msg
}

// Config configures a Deliverer. Zero fields take the defaults noted on each.
type Config struct {
	// Client sends the requests (default: a client that keeps up to 16 idle
	// connections per host and follows at most 5 redirects). Its CheckRedirect
	// should return http.ErrUseLastResponse rather than an error when it stops
	// following, or a redirect loop is retried as a transport error.
	Client *http.Client
	// Clock is used for every wait and timestamp (default clock.Real{}).
	Clock clock.Clock
	// Rand returns the jitter fraction in [0, 1) (default math/rand/v2's
	// Float64). It must be safe for concurrent use if Deliver is.
	Rand func() float64
	// Breaker configures the circuit breaker kept per host.
	Breaker BreakerConfig
	// UserAgent is sent unless the request sets its own (default "Ensue").
	UserAgent string
}

// Validate reports what makes c unusable, for callers building a Config
// from user input; New panics on the same mistakes.
func (c Config) Validate() error {
	switch {
	case c.Breaker.Failures < 0:
		return fmt.Errorf("webhook config: breaker failures is %d, want 1 or more (0 for the default 5)", c.Breaker.Failures)
	case c.Breaker.OpenFor < 0:
		return fmt.Errorf("webhook config: breaker open-for %s is negative", c.Breaker.OpenFor)
	}
	return nil
}

// Deliverer sends HTTP actions. It is safe for concurrent use; deliveries to
// one host share its circuit breaker.
type Deliverer struct {
	client    *http.Client
	clock     clock.Clock
	rand      func() float64
	userAgent string
	breakers  *breakers
}

// New returns a Deliverer. It panics if cfg is invalid (see Config.Validate):
// the Config is written in code, and a negative breaker setting is a bug.
func New(cfg Config) *Deliverer {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.Client == nil {
		cfg.Client = defaultClient()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Breaker.Failures == 0 {
		cfg.Breaker.Failures = 5
	}
	if cfg.Breaker.OpenFor == 0 {
		cfg.Breaker.OpenFor = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Ensue"
	}
	return &Deliverer{
		client:    cfg.Client,
		clock:     cfg.Clock,
		rand:      cfg.Rand,
		userAgent: cfg.UserAgent,
		breakers:  newBreakers(cfg.Breaker, cfg.Clock),
	}
}

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Many runs calling one endpoint should reuse connections rather than
	// churn through ephemeral ports; the default keeps only 2 idle per host.
	t.MaxIdleConnsPerHost = 16
	t.MaxResponseHeaderBytes = 1 << 20
	return &http.Client{
		Transport: t,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// Deliver sends req until it succeeds, fails finally, or ctx is done.
//
// done is how many attempts were made before (recorded by the caller before a
// restart): numbering continues from it and p.Attempts counts them. A resumed
// delivery attempts at once; whether to wait out a backoff first is the
// caller's call, since only it knows when the last attempt was.
//
// onAttempt (may be nil) is called after each attempt, before any wait for the
// next; if it returns an error, Deliver stops and returns that error, since an
// attempt the caller could not record must not be followed by another.
//
// It returns the successful Response; or a *Failure when retries are
// exhausted or an answer is final; or ctx.Err() when ctx ends, without
// reporting an attempt it interrupted (that attempt says nothing about the
// server, and the caller resumes later with the same done); or an error
// wrapping ErrInvalid when req or p cannot be delivered as given.
func (d *Deliverer) Deliver(ctx context.Context, req Request, p Policy, done int, onAttempt func(Attempt) error) (*Response, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	if done < 0 {
		return nil, fmt.Errorf("%w delivery: %d attempts already made", ErrInvalid, done)
	}
	req, host, err := prepare(req)
	if err != nil {
		return nil, err
	}
	if done >= p.Attempts {
		return nil, &Failure{Attempts: done, Reason: "retries exhausted"}
	}
	for n := done + 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		permit, err := d.breakers.acquire(ctx, host)
		if err != nil {
			return nil, err
		}
		a, v := d.attempt(ctx, req, n)
		d.breakers.release(permit, v)
		if err := ctx.Err(); err != nil && v == hostUnknown {
			return nil, err
		}
		var reason string
		switch {
		case a.Error == "":
			a.Final = true
		case v == hostUnknown: // not sent: it could not be built
			a.Final, reason = true, a.Error
		case v == hostHealthy:
			a.Final, reason = true, a.Error+" is final"
		case n >= p.Attempts:
			a.Final, reason = true, "retries exhausted"
		default:
			a.Delay = p.delay(n, a.RetryAfter, d.rand())
		}
		if onAttempt != nil {
			if err := onAttempt(a); err != nil {
				return nil, err
			}
		}
		if a.Error == "" {
			return a.Response, nil
		}
		if a.Final {
			return nil, &Failure{Attempts: n, Last: a, Reason: reason}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.clock.After(a.Delay):
		}
	}
}

// errAttemptTimeout is the cause an attempt's context is cancelled with when
// its Timeout passes, telling a timeout from the caller's cancellation.
var errAttemptTimeout = errors.New("attempt timed out")

// attempt makes attempt number n and says what it shows about the host.
// hostUnknown means ctx ended during it.
func (d *Deliverer) attempt(ctx context.Context, req Request, n int) (a Attempt, v verdict) {
	start := d.clock.Now()
	a = Attempt{N: n, Start: start}
	defer func() { a.Duration = d.clock.Now().Sub(start) }()

	// The timeout runs on the injected clock (context.WithTimeout would use
	// the real one). The timer is asked for before the request goes out, so
	// a fake clock sees the waits in a fixed order.
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := d.clock.After(req.Timeout)
	go func() {
		select {
		case <-timer:
			cancel(errAttemptTimeout)
		case <-actx.Done():
		}
	}()

	hreq, err := http.NewRequestWithContext(actx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil { // prepare checked method and URL, so this is not expected
		a.Error = "cannot build the request: " + err.Error()
		return a, hostUnknown
	}
	hreq.Header = d.headers(req, start)
	if host := req.Header.Get("Host"); host != "" {
		hreq.Host = host
	}

	resp, err := d.client.Do(hreq)
	if err != nil {
		return d.failed(ctx, actx, a, req, err, "")
	}
	defer resp.Body.Close()
	// Read only what the output keeps (one byte more tells it was cut),
	// then discard a bounded rest so the connection can be reused; closing
	// with more unread drops the connection instead.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	a.Status = resp.StatusCode
	if err != nil {
		return d.failed(ctx, actx, a, req, err, "reading response: ")
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDiscard)
	a.Response = newResponse(resp.StatusCode, resp.Header, raw)

	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return a, hostHealthy
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		a.Error = "HTTP " + strconv.Itoa(s)
		a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), d.clock.Now())
		return a, hostFailing
	default:
		// 1xx, 3xx once redirects are exhausted, and 4xx: the host answered
		// and asking again will get the same answer.
		a.Error = "HTTP " + strconv.Itoa(s)
		return a, hostHealthy
	}
}

// failed classifies an error from sending or reading: the caller's
// cancellation, the attempt's timeout, or a transport error (all but the
// first retryable).
func (d *Deliverer) failed(ctx, actx context.Context, a Attempt, req Request, err error, prefix string) (Attempt, verdict) {
	if ctx.Err() != nil {
		a.Error = ctx.Err().Error()
		return a, hostUnknown
	}
	if errors.Is(context.Cause(actx), errAttemptTimeout) {
		a.Error = prefix + "timeout after " + req.Timeout.String()
		return a, hostFailing
	}
	// url.Error repeats the URL, which may be a secret; keep what went wrong.
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	a.Error = prefix + err.Error()
	return a, hostFailing
}

// headers builds one attempt's headers. The timestamp is the attempt's, so a
// retry long after the first try still passes receivers' replay windows.
func (d *Deliverer) headers(req Request, at time.Time) http.Header {
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if len(req.Body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", d.userAgent)
	}
	if req.IdempotencyKey != "" {
		h.Set("Idempotency-Key", req.IdempotencyKey)
	}
	if len(req.Secret) > 0 {
		h.Set(HeaderID, req.MessageID)
		h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		h.Set(HeaderSignature, Sign(req.Secret, req.MessageID, at, req.Body))
	}
	return h
}

// prepare applies req's defaults and checks what would otherwise fail the
// same way on every attempt, returning the breaker's key for its host.
func prepare(req Request) (Request, string, error) {
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	if !isToken(req.Method) {
		return req, "", fmt.Errorf("%w request: method %q is not an HTTP method", ErrInvalid, req.Method)
	}
	if req.Timeout < 0 {
		return req, "", fmt.Errorf("%w request: timeout %s is negative", ErrInvalid, req.Timeout)
	}
	if req.Timeout == 0 {
		req.Timeout = DefaultTimeout
	}
	if len(req.Secret) > 0 && req.MessageID == "" {
		return req, "", fmt.Errorf("%w request: a signed request needs a message id (webhook-id)", ErrInvalid)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		// Not wrapped: url.Error would print the URL, which may be a secret.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return req, "", fmt.Errorf("%w request: url: %v", ErrInvalid, err)
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		port = cmp.Or(port, "80")
	case "https":
		port = cmp.Or(port, "443")
	default:
		return req, "", fmt.Errorf("%w request: url scheme %q, want http or https", ErrInvalid, u.Scheme)
	}
	if u.Hostname() == "" {
		return req, "", fmt.Errorf("%w request: url has no host", ErrInvalid)
	}
	for name, values := range req.Header {
		if !isToken(name) {
			return req, "", fmt.Errorf("%w request: header name %q", ErrInvalid, name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return req, "", fmt.Errorf("%w request: header %s has a line break or NUL in its value", ErrInvalid, name)
			}
		}
	}
	return req, net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

// isToken reports whether s is an RFC 9110 token, as methods and header
// names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date; zero
// when absent, unreadable or already past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(secs) * time.Second
	} else if errors.Is(err, strconv.ErrRange) {
		return MaxRetryAfter
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}
