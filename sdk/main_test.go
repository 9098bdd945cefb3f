package sdk_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// serverURL is the base URL of the server the Example functions talk to,
// started once by TestMain; empty when it could not start, which makes the
// examples fail with the reason.
var serverURL string

func TestMain(m *testing.M) {
	tb := &mainTB{}
	var srv *servertest.Server
	done := make(chan struct{})
	go func() {
		// Fatal ends this goroutine (runtime.Goexit), as it ends a test's.
		defer close(done)
		srv = servertest.Start(tb)
	}()
	<-done
	if srv != nil && !tb.Failed() {
		serverURL = srv.URL
	} else {
		fmt.Fprintf(os.Stderr, "sdk examples: no server: %s\n", tb.log())
	}
	code := m.Run()
	tb.cleanup()
	if tb.Failed() && code == 0 {
		fmt.Fprintf(os.Stderr, "sdk examples: %s\n", tb.log())
		code = 1
	}
	os.Exit(code)
}

// mainTB is the testing.TB that servertest.Start needs, for use outside any
// test: TestMain has none. Methods it does not define panic (the embedded
// interface is nil), so a servertest that starts using one shows up at once.
type mainTB struct {
	testing.TB

	mu       sync.Mutex
	failed   bool
	skipped  bool
	msgs     []string
	cleanups []func()
	ctx      context.Context
	cancel   context.CancelFunc
}

func (tb *mainTB) Helper()      {}
func (tb *mainTB) Name() string { return "TestMain" }

func (tb *mainTB) Log(args ...any) { tb.addMsg(fmt.Sprint(args...)) }
func (tb *mainTB) Logf(format string, args ...any) {
	tb.addMsg(fmt.Sprintf(format, args...))
}
func (tb *mainTB) Error(args ...any) { tb.Log(args...); tb.Fail() }
func (tb *mainTB) Errorf(format string, args ...any) {
	tb.Logf(format, args...)
	tb.Fail()
}
func (tb *mainTB) Fatal(args ...any) { tb.Log(args...); tb.FailNow() }
func (tb *mainTB) Fatalf(format string, args ...any) {
	tb.Logf(format, args...)
	tb.FailNow()
}
func (tb *mainTB) Skip(args ...any) { tb.Log(args...); tb.SkipNow() }
func (tb *mainTB) Skipf(format string, args ...any) {
	tb.Logf(format, args...)
	tb.SkipNow()
}

func (tb *mainTB) Fail() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failed = true
}

func (tb *mainTB) FailNow() {
	tb.Fail()
	runtime.Goexit()
}

func (tb *mainTB) SkipNow() {
	tb.mu.Lock()
	tb.skipped = true
	tb.failed = true // a skipped start still leaves no server
	tb.mu.Unlock()
	runtime.Goexit()
}

func (tb *mainTB) Failed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.failed
}

func (tb *mainTB) Skipped() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.skipped
}

func (tb *mainTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}

func (tb *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "ensue-sdk-example-")
	if err != nil {
		tb.Fatalf("TempDir: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (tb *mainTB) Context() context.Context {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.ctx == nil {
		tb.ctx, tb.cancel = context.WithCancel(context.Background())
	}
	return tb.ctx
}

func (tb *mainTB) Output() io.Writer    { return os.Stderr }
func (tb *mainTB) Setenv(k, v string)   { _ = os.Setenv(k, v) }
func (tb *mainTB) Chdir(dir string)     { _ = os.Chdir(dir) }
func (tb *mainTB) Attr(key, val string) {}

func (tb *mainTB) addMsg(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.msgs = append(tb.msgs, s)
}

func (tb *mainTB) log() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return fmt.Sprint(tb.msgs)
}

// cleanup runs the registered functions in reverse order, as testing does.
func (tb *mainTB) cleanup() {
	tb.mu.Lock()
	if tb.cancel != nil {
		tb.cancel()
	}
	fs := tb.cleanups
	tb.cleanups = nil
	tb.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
