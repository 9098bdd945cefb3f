package durability_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestGracefulShutdownFinishesInFlight sends SIGTERM while clients append:
// the requests in flight finish, every one answered 200 is stored, and the
// server exits 0.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 0))
	dir := t.TempDir()
	c1 := startChild(t, childConfig{DataDir: dir})
	c1.waitReady(30 * time.Second)

	w := newWorkload(fmt.Sprintf("shutdown-%d", s))
	l := newLedger()
	tg := newTarget(c1.URL)
	stop := make(chan struct{})
	loadStart := time.Now()
	wait := runLoad(tg, w, 8, s, stop, l)
	loadFor(t, l, loadStart, time.Second, 600, 30*time.Second)

	sigterm := time.Now()
	code := c1.terminate(30 * time.Second)
	took := time.Since(sigterm)
	close(stop)
	wait()
	if code != 0 {
		t.Fatalf("after SIGTERM the server exited %d, want 0; stderr:\n%s", code, c1.stderr.String())
	}
	l.mu.Lock()
	inFlight := 0
	for _, a := range l.acked {
		if a.At.After(sigterm) {
			inFlight++
		}
	}
	l.mu.Unlock()
	t.Logf("SIGTERM after %v of load: exit 0 in %v; %d events were answered 200 after the signal (in flight when it came)",
		sigterm.Sub(loadStart).Round(time.Millisecond), took.Round(time.Millisecond), inFlight)

	c2 := startChild(t, childConfig{DataDir: dir})
	c2.waitReady(30 * time.Second)
	t.Log(verify(t, c2.URL, w, l, rng))
}
