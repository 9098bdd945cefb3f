package clock_test

import (
	"testing"
	"time"

	"github.com/ensue-dev/ensue/internal/clock"
)

func TestFakeFiresWaitsWhenDue(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	f := clock.NewFake(start)
	changed := f.Changed()
	late := f.After(2 * time.Second)
	soon := f.After(time.Second)
	<-changed // a wait was added
	if f.Waiters() != 2 {
		t.Fatalf("%d waiters, want 2", f.Waiters())
	}
	select {
	case <-f.After(0):
	default:
		t.Fatal("a wait of 0 is due at once")
	}
	f.Advance(time.Second)
	if got := <-soon; !got.Equal(start.Add(time.Second)) {
		t.Fatalf("fired at %v", got)
	}
	select {
	case <-late:
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Second)
	<-late
	if f.Waiters() != 0 || !f.Now().Equal(start.Add(2*time.Second)) {
		t.Fatalf("after both: %d waiters, now %v", f.Waiters(), f.Now())
	}
}
