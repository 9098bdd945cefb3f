package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ensue-dev/ensue/internal/registry"
	"github.com/ensue-dev/ensue/internal/runtime"
)

// secretsBucket keeps the signing secrets Ensue generates for flows: a KV
// bucket beside the log, never the log itself, so that a secret is not
// replicated into every reader's hands.
const secretsBucket = "ensue-secrets"

type kvSecrets struct{ kv jetstream.KeyValue }

func openSecrets(ctx context.Context, nc *nats.Conn, replicas int) (*kvSecrets, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: secretsBucket, Description: "Signing secrets generated for Ensue flows",
		History: 1, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("secrets bucket %s: %w", secretsBucket, err)
	}
	return &kvSecrets{kv: kv}, nil
}

func (s *kvSecrets) Get(ctx context.Context, key string) (string, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", runtime.ErrNoSecret
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

func (s *kvSecrets) Put(ctx context.Context, key, secret string) error {
	_, err := s.kv.Put(ctx, key, []byte(secret))
	return err
}

// openSchemaBucket opens the schema registry's bucket: one entry per
// schema version, kept for ever.
func openSchemaBucket(ctx context.Context, nc *nats.Conn, replicas int) (jetstream.KeyValue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: registry.Bucket, Description: "Ensue's event schemas: one entry per version",
		History: 1, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("schema bucket %s: %w", registry.Bucket, err)
	}
	return kv, nil
}
