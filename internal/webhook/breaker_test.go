package webhook

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// acquireAsync acquires a permit in the background.
func acquireAsync(ctx context.Context, b *breakers, host string) <-chan *permit {
	ch := make(chan *permit, 1)
	go func() {
		p, _ := b.acquire(ctx, host)
		ch <- p
	}()
	return ch
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(signalTimeout):
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}

func TestBreakerHalfOpenLetsOneTrialThrough(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	b := newBreakers(BreakerConfig{Failures: 2, OpenFor: 10 * time.Second}, tb.clock)
	ctx := t.Context()

	// Two concurrent attempts fail: the circuit opens once, on the second.
	p1, err := b.acquire(ctx, "h:80")
	require.NoError(t, err)
	p2, err := b.acquire(ctx, "h:80")
	require.NoError(t, err)
	b.release(p1, hostFailing)
	other, err := b.acquire(ctx, "other:80")
	require.NoError(t, err, "other hosts are not affected")
	b.release(other, hostHealthy)
	b.release(p2, hostFailing)

	first := acquireAsync(ctx, b, "h:80")
	require.Equal(t, 10*time.Second, tb.nextWait(t))
	tb.clock.Advance(10 * time.Second)
	trial := receive(t, first)
	require.True(t, trial.trial)

	// While the trial is out, another waits; the trial fails and reopens
	// the circuit for the full period.
	second := acquireAsync(ctx, b, "h:80")
	b.release(trial, hostFailing)
	require.Equal(t, 10*time.Second, tb.nextWait(t))
	require.Empty(t, second)
	tb.clock.Advance(10 * time.Second)
	trial = receive(t, second)
	require.True(t, trial.trial)

	// A third waits for the trial, whose success closes the circuit for all.
	third := acquireAsync(ctx, b, "h:80")
	b.release(trial, hostHealthy)
	p := receive(t, third)
	require.False(t, p.trial)
	b.release(p, hostHealthy)

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.byHost)
}

func TestBreakerWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	b := newBreakers(BreakerConfig{Failures: 1, OpenFor: time.Minute}, tb.clock)
	p, err := b.acquire(t.Context(), "h:80")
	require.NoError(t, err)
	b.release(p, hostFailing)

	ctx, cancel := context.WithCancel(t.Context())
	got := acquireAsync(ctx, b, "h:80")
	tb.nextWait(t)
	cancel()
	require.Nil(t, receive(t, got))

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Equal(t, 0, b.byHost["h:80"].users, "a waiter that gave up lets go")
}
