package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/ensue-dev/ensue/internal/server"
)

// child is an Ensue server run as a child process, so that its resident
// memory and CPU are its own and not shared with the bench client.
type child struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{}
	err    error // the exit status, once exited is closed
	stderr *bytes.Buffer
}

var urlRE = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)

// startChild runs command with `--addr 127.0.0.1:0 --data dir` appended
// and waits for the first line of its standard output that names its URL
// (`ensue serve` prints "Ensue is running at http://...").
func startChild(ctx context.Context, command []string, dir string) (*child, string, error) {
	args := append(append([]string(nil), command[1:]...), "--addr", "127.0.0.1:0", "--data", dir)
	cmd := exec.Command(command[0], args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	c := &child{cmd: cmd, exited: make(chan struct{}), stderr: new(bytes.Buffer)}
	cmd.Stderr = &headWriter{buf: c.stderr}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start the server %q: %w", command[0], err)
	}
	c.pid = cmd.Process.Pid
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if u := urlRE.Find(sc.Bytes()); u != nil && !found {
				found = true
				urls <- string(u)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		c.err = cmd.Wait()
		close(c.exited)
	}()
	select {
	case u := <-urls:
		return c, u, nil
	case <-c.exited:
		return nil, "", fmt.Errorf("the server %q exited before printing its URL: %v; its stderr: %s", command[0], c.err, clip(c.stderr.String(), 500))
	case <-time.After(time.Minute):
		err = errors.New("it printed no http://127.0.0.1:PORT URL within a minute")
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = c.stop()
	return nil, "", fmt.Errorf("start the server %q: %w", command[0], err)
}

// stop asks the server to shut down (SIGTERM) and kills it after 30s.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("the server did not stop within 30s of SIGTERM; killed")
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) && !ee.Exited() {
		return nil // ended by our signal
	}
	return c.err
}

// cpu is the child's CPU time so far (utime + stime of /proc/PID/stat).
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return 0, fmt.Errorf("read the server's CPU time: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	var total uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/PID/stat: %w", err)
		}
		total += n
	}
	return time.Duration(total) * clockTick, nil
}

func (c *child) rss() (uint64, error) { return procStatus(strconv.Itoa(c.pid), "VmRSS") }

// headWriter keeps the first 64 KiB written to it (a child's stderr);
// exec.Cmd writes to it from one goroutine, done when Wait returns.
type headWriter struct {
	buf *bytes.Buffer
}

func (l *headWriter) Write(p []byte) (int, error) {
	if room := 64<<10 - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Serve runs a bare Ensue server with the defaults of `ensue serve`,
// taking `--addr` and `--data` from args, printing its URL on out, until
// ctx is done; then it stops gracefully. It is the child process of
// IngestConfig.ServerCommand for programs without the CLI's serve command
// (bench/ingest, this package's tests).
func Serve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7600", "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data", "ensue-data", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ensue is running at %s\n", s.URL())
	select {
	case <-ctx.Done():
	case err := <-s.Done():
		_ = s.Stop(context.Background())
		return fmt.Errorf("the HTTP server stopped: %w", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Stop(stopCtx)
}
