package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The lead to run flows' steps is a key in a KV bucket whose entries
// expire: the leader renews it well within the expiry, and a node that
// dies loses it when it expires. A restarted node that finds its own id
// there takes it back at once.
const (
	leaseBucket = "ensue-leases"
	leaseKey    = "runtime"
	leaseTTL    = 10 * time.Second
	leaseRenew  = 3 * time.Second
)

type kvLeader struct {
	kv   jetstream.KeyValue
	node string
	log  *slog.Logger
}

func openLeader(ctx context.Context, nc *nats.Conn, replicas int, node string, log *slog.Logger) (*kvLeader, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: leaseBucket, Description: "Which Ensue node runs the flows' steps",
		History: 1, TTL: leaseTTL, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", leaseBucket, err)
	}
	return &kvLeader{kv: kv, node: node, log: log}, nil
}

// Lead campaigns until this node holds the lease, then keeps renewing it
// in the background until it fails to or ctx ends.
func (l *kvLeader) Lead(ctx context.Context) (context.Context, error) {
	for {
		rev, err := l.acquire(ctx)
		if err == nil {
			lctx, cancel := context.WithCancel(ctx)
			go l.renew(lctx, cancel, rev)
			return lctx, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(leaseRenew):
		}
	}
}

func (l *kvLeader) acquire(ctx context.Context) (uint64, error) {
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.node))
	if err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
		return rev, err
	}
	e, gerr := l.kv.Get(ctx, leaseKey)
	switch {
	case errors.Is(gerr, jetstream.ErrKeyNotFound):
		return 0, err // expired meanwhile: campaign again
	case gerr != nil:
		return 0, gerr
	case string(e.Value()) == l.node:
		// Ours, from before a restart.
		return l.kv.Update(ctx, leaseKey, []byte(l.node), e.Revision())
	}
	return 0, err
}

func (l *kvLeader) renew(ctx context.Context, cancel context.CancelFunc, rev uint64) {
	defer cancel()
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Stepping down (the server stops): let another node lead now
			// rather than after the lease expires.
			dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.kv.Delete(dctx, leaseKey, jetstream.LastRevision(rev))
			dcancel()
			return
		case <-t.C:
			rctx, rcancel := context.WithTimeout(ctx, leaseRenew)
			next, err := l.kv.Update(rctx, leaseKey, []byte(l.node), rev)
			rcancel()
			if err != nil {
				if ctx.Err() == nil {
					l.log.Warn("lost the lease to run flows", "err", err)
				}
				return
			}
			rev = next
		}
	}
}

// nodeID is this node's stable name, kept in its data directory.
func nodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s-%s", host, hex.EncodeToString(raw[:]))
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}
