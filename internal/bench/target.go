package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/ensue-dev/ensue/internal/server"
)

// target is the Ensue server under test: one started in this process, a
// child process, or an external one reached by URL.
type target struct {
	url   string
	srv   *server.Server // in this process
	child *child         // a child process
	cl    *client
}

// startInProcess starts a server on 127.0.0.1:0 with its data in dir, as
// `ensue serve` does by default (embedded JetStream, fsync every second),
// and waits until it is ready.
func startInProcess(ctx context.Context, dir, ns string, conns int) (*target, error) {
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: dir, Sync: server.SyncInterval})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the in-process server: %w", err)
	}
	t := &target{url: srv.URL(), srv: srv, cl: newClient(srv.URL(), ns, conns)}
	if err := t.cl.waitReady(ctx, time.Minute); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// startChildTarget runs the server as a child process (see
// IngestConfig.ServerCommand) and waits until it is ready.
func startChildTarget(ctx context.Context, command []string, dir, ns string, conns int) (*target, error) {
	c, url, err := startChild(ctx, command, dir)
	if err != nil {
		return nil, err
	}
	t := &target{url: url, child: c, cl: newClient(url, ns, conns)}
	t.cl.ownProcs = 1
	if err := t.cl.waitReady(ctx, time.Minute); err != nil {
		_ = t.stop()
		return nil, err
	}
	return t, nil
}

func external(ctx context.Context, url, ns string, conns int) (*target, error) {
	t := &target{url: url, cl: newClient(url, ns, conns)}
	t.cl.ownProcs = 1
	if err := t.cl.waitReady(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *target) inProcess() bool { return t.srv != nil }

func (t *target) stop() error {
	t.cl.close()
	if t.child != nil {
		return t.child.stop()
	}
	if t.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return t.srv.Stop(ctx)
}

// cpuTime is the CPU time the server has used so far: this process's when
// the server runs in it, the server's own otherwise.
func (t *target) cpuTime(ctx context.Context) (time.Duration, error) {
	if t.inProcess() {
		return selfCPU()
	}
	if t.child != nil {
		return t.child.cpu()
	}
	s, err := t.cl.metric(ctx, "process_cpu_seconds_total")
	return time.Duration(s * float64(time.Second)), err
}

func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// Settling between phases: the server's background work (the indexer
// catching up, JetStream's flushes) must not be billed to the next phase.
const (
	settleWindow = 250 * time.Millisecond
	settleIdle   = 0.10 // of one CPU, over a window
	settleMax    = 60 * time.Second
)

// settle waits at least least, then until the server's CPU use over a
// window falls below settleIdle (or settleMax passes). It returns how long
// it waited and whether the server went idle.
func (t *target) settle(ctx context.Context, least time.Duration) (time.Duration, bool, error) {
	start := time.Now()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(max(least-settleWindow, 0)); err != nil {
		return 0, false, err
	}
	prev, err := t.cpuTime(ctx)
	if err != nil {
		return 0, false, err
	}
	for time.Since(start) < settleMax {
		if err := sleep(settleWindow); err != nil {
			return 0, false, err
		}
		cur, err := t.cpuTime(ctx)
		if err != nil {
			return 0, false, err
		}
		if float64(cur-prev) < settleIdle*float64(settleWindow) {
			return time.Since(start), true, nil
		}
		prev = cur
	}
	return time.Since(start), false, nil
}

// rss is the server's resident memory in bytes: VmRSS of this process for
// an in-process server, of the child for a child process,
// process_resident_memory_bytes of its /metrics otherwise.
func (t *target) rss(ctx context.Context) (uint64, error) {
	if t.inProcess() {
		return procStatus("self", "VmRSS")
	}
	if t.child != nil {
		return t.child.rss()
	}
	v, err := t.cl.metric(ctx, "process_resident_memory_bytes")
	return uint64(v), err
}

// procStatus reads a "kB" field of /proc/PID/status, in bytes.
func procStatus(pid, field string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the resident memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(field+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%s/status has no %s in kB", pid, field)
}
