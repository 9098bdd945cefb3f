// Package servertest starts a real Ensue server (embedded NATS JetStream,
// real HTTP listener on 127.0.0.1) for tests in other packages.
package servertest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ensue-dev/ensue/internal/server"
)

// Server is a running Ensue server for one test.
type Server struct {
	// URL is the base URL of the HTTP API, e.g. http://127.0.0.1:41234.
	URL string
	// DataDir is the server's data directory.
	DataDir string
	// Server is the running server.
	Server *server.Server
}

// Options adjust the test server; the zero value is the default server.
type Options struct {
	// Config is the base configuration; Addr and DataDir are filled in
	// when empty.
	Config server.Config
}

// Start runs a server with a fresh data directory and stops it when the test
// ends. It returns once the server is ready (its index caught up).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	cfg := o.Config
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("servertest: start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("servertest: stop: %v", err)
		}
	})
	ts := &Server{URL: s.URL(), DataDir: cfg.DataDir, Server: s}
	WaitReady(t, ts.URL)
	return ts
}

// WaitReady polls /readyz until it answers 200, failing the test after 30s.
func WaitReady(t testing.TB, baseURL string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("servertest: %s not ready after 30s (last error: %v)", baseURL, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
