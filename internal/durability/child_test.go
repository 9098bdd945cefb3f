package durability_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ensue-dev/ensue/internal/server"
)

// The child's environment: it runs a server instead of the tests.
const (
	envChild = "ENSUE_DURABILITY_CHILD"
	envData  = "ENSUE_DURABILITY_DATA"
	envAddr  = "ENSUE_DURABILITY_ADDR"
	envSync  = "ENSUE_DURABILITY_SYNC"
)

// Exit codes of the child, so that a failed start is told apart from a
// failed stop.
const (
	exitStopped    = 0
	exitBadConfig  = 2
	exitStartFail  = 3
	exitServeFail  = 4
	exitStopFail   = 5
	exitParentGone = 6
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild runs an Ensue server until SIGTERM or SIGINT (graceful stop, exit
// 0), until its parent goes away (stdin closes), or until it is killed.
func runChild() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := server.New(server.Config{
		DataDir: os.Getenv(envData),
		Addr:    os.Getenv(envAddr),
		Sync:    os.Getenv(envSync),
		Logger:  logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: config:", err)
		return exitBadConfig
	}
	if err := srv.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child: start:", err)
		return exitStartFail
	}
	fmt.Printf("URL=%s\n", srv.URL())
	// A parent that dies without killing its child closes our stdin: do
	// not outlive it as an orphan holding a port and a data directory.
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()
	select {
	case <-ctx.Done():
	case err := <-srv.Done():
		fmt.Fprintln(os.Stderr, "child: HTTP server stopped on its own:", err)
		return exitServeFail
	case <-parentGone:
		fmt.Fprintln(os.Stderr, "child: parent went away")
		return exitParentGone
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "child: stop:", err)
		return exitStopFail
	}
	return exitStopped
}

// child is an Ensue server running in another process.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	URL    string
	stderr *lockedBuffer
	exited chan struct{}
	state  *os.ProcessState // set once exited is closed
}

// childConfig is what a child server is started with.
type childConfig struct {
	DataDir string
	Sync    string // "" for the default
}

// startChild starts a server process on cfg.DataDir and returns once it has
// printed its URL; it does not wait for readiness. The process is killed
// when the test ends if it is still running.
func startChild(t *testing.T, cfg childConfig) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChild+"=1",
		envData+"="+cfg.DataDir,
		envAddr+"=127.0.0.1:0",
		envSync+"="+cfg.Sync,
	)
	urls := make(chan string, 1)
	c := &child{t: t, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout = &urlWatcher{found: urls}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatalf("child stdin: %v", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("child %d stderr:\n%s", c.cmd.Process.Pid, c.stderr.String())
		}
	})
	select {
	case c.URL = <-urls:
	case <-c.exited:
		t.Fatalf("child exited before printing its URL (%v); stderr:\n%s", c.state, c.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("child printed no URL within 30s; stderr:\n%s", c.stderr.String())
	}
	t.Logf("child %d on %s (%s sync) started in %v", cmd.Process.Pid, c.URL, orDefault(cfg.Sync, "default"), time.Since(start).Round(time.Millisecond))
	return c
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// kill sends SIGKILL to this child (by its PID) and waits for it to be gone.
func (c *child) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill child %d: %v", c.cmd.Process.Pid, err)
	}
	<-c.exited
}

// terminate sends SIGTERM and waits up to limit for the child to exit; it
// returns the exit code.
func (c *child) terminate(limit time.Duration) int {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("SIGTERM child %d: %v", c.cmd.Process.Pid, err)
	}
	select {
	case <-c.exited:
	case <-time.After(limit):
		c.t.Fatalf("child %d still running %v after SIGTERM; stderr:\n%s", c.cmd.Process.Pid, limit, c.stderr.String())
	}
	return c.state.ExitCode()
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(limit time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	var last string
	for {
		resp, err := httpClient.Get(c.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-c.exited:
			c.t.Fatalf("child exited while waiting for /readyz (%v); stderr:\n%s", c.state, c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s/readyz not 200 after %v; last answer: %s", c.URL, limit, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// urlWatcher is the child's stdout: it reports the first URL= line.
type urlWatcher struct {
	mu    sync.Mutex
	line  []byte
	found chan<- string
	done  bool
}

func (w *urlWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if w.done {
			break
		}
		if b != '\n' {
			w.line = append(w.line, b)
			continue
		}
		if u, ok := strings.CutPrefix(string(w.line), "URL="); ok {
			w.found <- u
			w.done = true
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of exec and
// a reading test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
