package webhook

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff names.
const (
	BackoffExponential = "exponential"
	BackoffFixed       = "fixed"
)

// Policy defaults, applied to zero fields.
const (
	DefaultAttempts = 5
	DefaultInitial  = time.Second
	DefaultMax      = 5 * time.Minute
)

// MaxRetryAfter caps a server's Retry-After: a misconfigured or hostile
// server must not park a run for days.
const MaxRetryAfter = time.Hour

// ErrInvalid is wrapped by errors about a Request or Policy that cannot be
// delivered as given; retrying will not help, fix the flow.
var ErrInvalid = errors.New("webhook: invalid")

// Policy says how often and how patiently to retry. Zero fields take the
// defaults noted on each.
type Policy struct {
	// Attempts is the total number of attempts, the first included
	// (default DefaultAttempts; 1 means no retry).
	Attempts int
	// Backoff is BackoffExponential (default) or BackoffFixed.
	Backoff string
	// Initial is the fixed delay, or the exponential delay's first cap
	// (default DefaultInitial).
	Initial time.Duration
	// Max caps the exponential delay (default DefaultMax, or Initial when
	// that is larger).
	Max time.Duration
}

// Validate reports, with the field's name, what makes p unusable. Flow
// definitions can call it when they are applied rather than at the first
// delivery.
func (p Policy) Validate() error {
	switch {
	case p.Attempts < 0:
		return fmt.Errorf("%w retry policy: attempts is %d, want 1 or more (0 for the default %d)", ErrInvalid, p.Attempts, DefaultAttempts)
	case p.Backoff != "" && p.Backoff != BackoffExponential && p.Backoff != BackoffFixed:
		return fmt.Errorf("%w retry policy: backoff %q, want %q or %q", ErrInvalid, p.Backoff, BackoffExponential, BackoffFixed)
	case p.Initial < 0:
		return fmt.Errorf("%w retry policy: initial delay %s is negative", ErrInvalid, p.Initial)
	case p.Max < 0:
		return fmt.Errorf("%w retry policy: max delay %s is negative", ErrInvalid, p.Max)
	case p.Max > 0 && p.Initial > p.Max:
		return fmt.Errorf("%w retry policy: initial delay %s exceeds max delay %s", ErrInvalid, p.Initial, p.Max)
	}
	return nil
}

func (p Policy) withDefaults() Policy {
	if p.Attempts == 0 {
		p.Attempts = DefaultAttempts
	}
	if p.Backoff == "" {
		p.Backoff = BackoffExponential
	}
	if p.Initial == 0 {
		p.Initial = DefaultInitial
	}
	if p.Max == 0 {
		p.Max = max(DefaultMax, p.Initial)
	}
	return p
}

// Delay is the wait after attempt number attempt (1 after the first) failed
// and before the next one. A positive retryAfter (the server's Retry-After)
// wins over the computed delay, capped at MaxRetryAfter. Otherwise exponential
// backoff uses full jitter, a uniform pick in [0, min(Max, Initial·2^(attempt-1))),
// which spreads the retries of many runs hitting one recovering host; fixed
// backoff waits Initial each time. rnd nil means math/rand/v2's global source.
func (p Policy) Delay(attempt int, retryAfter time.Duration, rnd *rand.Rand) time.Duration {
	f := rand.Float64
	if rnd != nil {
		f = rnd.Float64
	}
	return p.withDefaults().delay(attempt, retryAfter, f())
}

// delay is Delay with the jitter fraction drawn, so the Deliverer can use
// its own (injectable, concurrency-safe) source.
func (p Policy) delay(attempt int, retryAfter time.Duration, jitter float64) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, MaxRetryAfter)
	}
	if p.Backoff == BackoffFixed {
		return p.Initial
	}
	ceiling := p.Initial
	// Doubling step by step rather than shifting keeps large attempt numbers
	// from overflowing.
	for i := 1; i < attempt && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.Max)
	return time.Duration(jitter * float64(ceiling))
}
