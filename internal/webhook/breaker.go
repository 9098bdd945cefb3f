package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/ensue-dev/ensue/internal/clock"
)

// BreakerConfig configures the circuit breaker kept per host. Zero fields
// take the defaults noted on each.
type BreakerConfig struct {
	// Failures is how many consecutive retryable failures (5xx, 408, 429,
	// timeouts, transport errors) open the circuit (default 5).
	Failures int
	// OpenFor is how long an open circuit holds attempts back before it
	// half-opens and lets one trial attempt through (default 30s).
	OpenFor time.Duration
}

// verdict is what an attempt says about its host's health.
type verdict int

const (
	// hostUnknown: the attempt was cut short by its caller and says nothing.
	hostUnknown verdict = iota
	// hostHealthy: the host answered, even if with a final 4xx.
	hostHealthy
	// hostFailing: a retryable failure.
	hostFailing
)

// breakers holds one circuit per host. A single mutex guards them all: the
// work under it is a few assignments per attempt, far below an HTTP round trip.
type breakers struct {
	cfg   BreakerConfig
	clock clock.Clock

	mu     sync.Mutex
	byHost map[string]*circuit
}

type circuit struct {
	// users counts deliveries holding or waiting for this circuit, so an idle
	// healthy one can be dropped: hosts may come from event data, and the map
	// must not grow with every host ever called.
	users    int
	failures int       // consecutive retryable failures
	until    time.Time // open until then, half-open after; zero when closed
	trial    bool      // a half-open trial attempt is in flight
	// changed is closed and replaced when the circuit closes, reopens or its
	// trial ends, waking deliveries waiting on it.
	changed chan struct{}
}

// permit is the right to make one attempt; release it with the verdict.
type permit struct {
	host  string
	c     *circuit
	trial bool
}

func newBreakers(cfg BreakerConfig, clk clock.Clock) *breakers {
	return &breakers{cfg: cfg, clock: clk, byHost: make(map[string]*circuit)}
}

// acquire waits, on the clock, until host's circuit lets an attempt through:
// at once when closed; when open, until it half-opens; when half-open, for
// the trial attempt to end unless this one becomes the trial. Waiting costs no
// attempt: an attempt against a host known to be down would only burn the
// budget. It returns ctx's error if ctx ends first.
func (b *breakers) acquire(ctx context.Context, host string) (*permit, error) {
	b.mu.Lock()
	c := b.byHost[host]
	if c == nil {
		c = &circuit{changed: make(chan struct{})}
		b.byHost[host] = c
	}
	c.users++
	for {
		now := b.clock.Now()
		var timer <-chan time.Time
		switch {
		case c.until.IsZero():
			b.mu.Unlock()
			return &permit{host: host, c: c}, nil
		case now.Before(c.until):
			timer = b.clock.After(c.until.Sub(now))
		case !c.trial:
			c.trial = true
			b.mu.Unlock()
			return &permit{host: host, c: c, trial: true}, nil
		}
		changed := c.changed
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.leave(host, c)
			b.mu.Unlock()
			return nil, ctx.Err()
		case <-timer:
		case <-changed:
		}
		b.mu.Lock()
	}
}

// release records an attempt's verdict on its host.
func (b *breakers) release(p *permit, v verdict) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := p.c
	wasOpen := !c.until.IsZero()
	switch v {
	case hostHealthy:
		c.failures = 0
		c.until = time.Time{}
	case hostFailing:
		c.failures++
		// A failed trial reopens at once; a closed circuit opens on the
		// threshold. Failures of attempts that started before the circuit
		// opened leave its schedule alone.
		if p.trial || (!wasOpen && c.failures >= b.cfg.Failures) {
			c.until = b.clock.Now().Add(b.cfg.OpenFor)
		}
	}
	if p.trial {
		c.trial = false
	}
	if p.trial || wasOpen != !c.until.IsZero() {
		close(c.changed)
		c.changed = make(chan struct{})
	}
	b.leave(p.host, c)
}

// leave drops a delivery's hold on c, forgetting c when nobody uses it and
// it holds no history worth keeping. b.mu must be held.
func (b *breakers) leave(host string, c *circuit) {
	c.users--
	if c.users == 0 && c.failures == 0 && c.until.IsZero() {
		delete(b.byHost, host)
	}
}
