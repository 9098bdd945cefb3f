package webhook

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPolicyDelayBounds(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	p := Policy{Initial: 100 * time.Millisecond, Max: 3 * time.Second}
	for attempt := 1; attempt <= 200; attempt++ {
		ceiling := min(p.Max, p.Initial<<min(attempt-1, 20))
		for range 50 {
			d := p.Delay(attempt, 0, rnd)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceiling, "attempt %d", attempt)
		}
	}
}

func TestPolicyDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		p          Policy
		attempt    int
		retryAfter time.Duration
		jitter     float64
		want       time.Duration
	}{
		{"first exponential", Policy{Initial: time.Second, Max: time.Minute}, 1, 0, 0.5, 500 * time.Millisecond},
		{"third exponential", Policy{Initial: time.Second, Max: time.Minute}, 3, 0, 0.5, 2 * time.Second},
		{"capped at max", Policy{Initial: time.Second, Max: 5 * time.Second}, 10, 0, 0.5, 2500 * time.Millisecond},
		{"no overflow", Policy{Initial: time.Second, Max: time.Hour}, 1 << 30, 0, 1, time.Hour},
		{"fixed", Policy{Backoff: BackoffFixed, Initial: 3 * time.Second}, 7, 0, 0.1, 3 * time.Second},
		{"retry-after wins", Policy{Initial: time.Second, Max: 5 * time.Second}, 1, 2 * time.Minute, 0.5, 2 * time.Minute},
		{"retry-after capped", Policy{}, 1, 48 * time.Hour, 0.5, MaxRetryAfter},
		{"defaults", Policy{}, 2, 0, 1, 2 * DefaultInitial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tc.p.Validate())
			require.Equal(t, tc.want, tc.p.withDefaults().delay(tc.attempt, tc.retryAfter, tc.jitter))
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{Attempts: -1}, "attempts is -1"},
		{Policy{Backoff: "linear"}, `backoff "linear"`},
		{Policy{Initial: -time.Second}, "initial delay -1s is negative"},
		{Policy{Max: -time.Second}, "max delay -1s is negative"},
		{Policy{Initial: time.Minute, Max: time.Second}, "initial delay 1m0s exceeds max delay 1s"},
	} {
		err := tc.p.Validate()
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, tc.want)
	}
}
