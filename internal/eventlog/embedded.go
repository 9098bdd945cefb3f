package eventlog

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig configures a NATS JetStream server run inside the process.
type EmbeddedConfig struct {
	// Dir holds JetStream's files. Required.
	Dir string
	// SyncAlways fsyncs every write before it is acknowledged. When false,
	// writes reach the OS before the acknowledgement (a process crash loses
	// nothing) and are fsynced every SyncInterval.
	SyncAlways bool
	// SyncInterval between fsyncs when SyncAlways is false. Default 1s.
	SyncInterval time.Duration
	// MaxPayload is the largest NATS message. Default 1 MiB + HeaderRoom.
	MaxPayload int
	// Listen, when set ("127.0.0.1:4222"), accepts NATS clients on that
	// address; by default the server listens on no port at all.
	Listen string
	// ServerName names the server. Default "ensue-embedded".
	ServerName string
	// Cluster joins the server to a JetStream cluster: ClusterName, the
	// address it listens on for routes and the routes to its peers.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// ReadyTimeout bounds the start. Default 30s.
	ReadyTimeout time.Duration
}

// Embedded is a running in-process NATS server.
type Embedded struct {
	Server *server.Server
}

// StartEmbedded starts a NATS server with JetStream in this process.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("eventlog: embedded server needs a data directory")
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = time.Second
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = 1<<20 + HeaderRoom
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "ensue-embedded"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		JetStream:          true,
		StoreDir:           cfg.Dir,
		MaxPayload:         int32(cfg.MaxPayload),
		SyncInterval:       cfg.SyncInterval,
		SyncAlways:         cfg.SyncAlways,
		NoSigs:             true,
		NoLog:              true,
		DontListen:         cfg.Listen == "",
		MaxControlLine:     8192,
		JetStreamMaxMemory: 256 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("eventlog: listen address: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.ClusterName != "" {
		host, port, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("eventlog: cluster address: %w", err)
		}
		opts.Cluster.Name = cfg.ClusterName
		opts.Cluster.Host, opts.Cluster.Port = host, port
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("eventlog: embedded server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(cfg.ReadyTimeout) {
		s.Shutdown()
		return nil, errors.New("eventlog: embedded server did not become ready in time")
	}
	return &Embedded{Server: s}, nil
}

// Connect opens a client connection to the embedded server, in process.
func (e *Embedded) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(bufferedProvider{e.Server}), nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("eventlog: connect to embedded server: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits for it to finish.
func (e *Embedded) Shutdown() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}
