package durability_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestCrashUnderLoad kills the server with SIGKILL while 8 clients append
// (single events, batches, atomic batches, expected versions on hot
// streams), restarts it on the same data directory while the clients keep
// going, and checks that every acknowledged event survived exactly once, in
// both sync modes: a process crash loses nothing acknowledged either way.
func TestCrashUnderLoad(t *testing.T) {
	t.Parallel()
	for _, syncMode := range []string{"interval", "always"} {
		t.Run("sync="+syncMode, func(t *testing.T) {
			t.Parallel()
			s := seed(t)
			rng := rand.New(rand.NewPCG(s, 0))
			dir := t.TempDir()
			c1 := startChild(t, childConfig{DataDir: dir, Sync: syncMode})
			c1.waitReady(30 * time.Second)

			w := newWorkload(fmt.Sprintf("crash-%s-%d", syncMode, s))
			l := newLedger()
			tg := newTarget(c1.URL)
			stop := make(chan struct{})
			loadStart := time.Now()
			wait := runLoad(tg, w, 8, s, stop, l)

			// Let the load run, then kill the server in the middle of it
			// (once enough is acknowledged to re-send a sample of 500).
			killAt := 700*time.Millisecond + time.Duration(rng.IntN(700))*time.Millisecond
			loadFor(t, l, loadStart, killAt, 600, 30*time.Second)
			before := l.ackedCount()
			c1.kill()
			t.Logf("SIGKILL after %v of load, %d events acknowledged so far", time.Since(loadStart).Round(time.Millisecond), before)

			// Restart on the same data; the clients carry on against it,
			// answered 503 until its index has caught up.
			restart := time.Now()
			c2 := startChild(t, childConfig{DataDir: dir, Sync: syncMode})
			tg.set(c2.URL)
			c2.waitReady(30 * time.Second)
			t.Logf("restarted and ready in %v", time.Since(restart).Round(time.Millisecond))
			// Some load on the restarted server, to about 2s in all.
			loadFor(t, l, time.Now(), max(300*time.Millisecond, 2*time.Second-time.Since(loadStart)), 0, 30*time.Second)
			close(stop)
			wait()
			t.Logf("load: %d requests in %v", l.requests, time.Since(loadStart).Round(time.Millisecond))

			st := verify(t, c2.URL, w, l, rng)
			t.Log(st)
		})
	}
}
