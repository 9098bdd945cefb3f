package durability_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestIndexRebuild deletes the derived index of a stopped server: on
// restart it is rebuilt from the log, and lookups, dedupe and reads answer
// for every event stored before.
func TestIndexRebuild(t *testing.T) {
	t.Parallel()
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 0))
	dir := t.TempDir()
	c1 := startChild(t, childConfig{DataDir: dir})
	c1.waitReady(30 * time.Second)

	w := newWorkload(fmt.Sprintf("rebuild-%d", s))
	l := newLedger()
	stop := make(chan struct{})
	loadStart := time.Now()
	wait := runLoad(newTarget(c1.URL), w, 8, s, stop, l)
	loadFor(t, l, loadStart, 500*time.Millisecond, 1000, 30*time.Second)
	close(stop)
	wait()
	if code := c1.terminate(30 * time.Second); code != 0 {
		t.Fatalf("after SIGTERM the server exited %d, want 0", code)
	}

	index := filepath.Join(dir, "index")
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("the index is not where this test expects it: %v", err)
	}
	if err := os.RemoveAll(index); err != nil {
		t.Fatal(err)
	}
	restart := time.Now()
	c2 := startChild(t, childConfig{DataDir: dir})
	c2.waitReady(30 * time.Second)
	t.Logf("%d events acknowledged; index deleted; rebuilt and ready in %v", l.ackedCount(), time.Since(restart).Round(time.Millisecond))
	if _, err := os.Stat(index); err != nil {
		t.Errorf("no index after the restart: %v", err)
	}
	t.Log(verify(t, c2.URL, w, l, rng))
}
