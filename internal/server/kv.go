package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ensue-dev/ensue/internal/api"
)

// Buckets of the API's small state, beside the log: streams' snapshots and
// durable consumers' checkpoints. One entry per key (History 1): writers
// compare and set on the entry's revision.
const (
	snapshotsBucket = "ensue-snapshots"
	consumersBucket = "ensue-consumers"
)

// kvBucket adapts a JetStream KV bucket to api.KV.
type kvBucket struct{ kv jetstream.KeyValue }

var _ api.KV = (*kvBucket)(nil)

// openKV opens (creating it if needed) one of the API's buckets. Its
// values are bounded by the connection's max payload, which the embedded
// server sets from the event size limit.
func openKV(ctx context.Context, nc *nats.Conn, replicas int, bucket, description string) (*kvBucket, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: description,
		History: 1, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return &kvBucket{kv: kv}, nil
}

// openAPIBuckets opens the snapshot and consumer buckets.
func openAPIBuckets(ctx context.Context, nc *nats.Conn, replicas int) (snapshots, consumers *kvBucket, err error) {
	if snapshots, err = openKV(ctx, nc, replicas, snapshotsBucket, "Ensue stream snapshots: one per stream, the newest version wins"); err != nil {
		return nil, nil, err
	}
	if consumers, err = openKV(ctx, nc, replicas, consumersBucket, "Ensue durable consumers: filter and checkpoint"); err != nil {
		return nil, nil, err
	}
	return snapshots, consumers, nil
}

func (b *kvBucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, api.ErrKeyNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

func (b *kvBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%w: %w", api.ErrRevisionConflict, err)
	}
	return rev, err
}

func (b *kvBucket) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	rev, err := b.kv.Update(ctx, key, value, revision)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%w: %w", api.ErrRevisionConflict, err)
	}
	return rev, err
}

func (b *kvBucket) Delete(ctx context.Context, key string) error {
	err := b.kv.Delete(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}
