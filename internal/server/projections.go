package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ensue-dev/ensue/internal/projection"
)

// projectionsBucket keeps projection definitions: they say which read
// models exist; the documents are derived from them and the log.
const projectionsBucket = "ensue-projections"

type kvDefinitions struct{ kv jetstream.KeyValue }

var _ projection.Definitions = (*kvDefinitions)(nil)

func openDefinitions(ctx context.Context, nc *nats.Conn, replicas int) (*kvDefinitions, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: projectionsBucket, Description: "Ensue's projection definitions",
		History: 1, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("projection bucket %s: %w", projectionsBucket, err)
	}
	return &kvDefinitions{kv: kv}, nil
}

// Keys are <namespace>.<base64url name>: names are already safe, but the
// encoding keeps the key rule in one place should names grow.
func defKey(ns, name string) string {
	return ns + "." + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func (d *kvDefinitions) Put(ctx context.Context, ns, name string, canonical []byte) error {
	_, err := d.kv.Put(ctx, defKey(ns, name), canonical)
	return err
}

func (d *kvDefinitions) Delete(ctx context.Context, ns, name string) error {
	err := d.kv.Delete(ctx, defKey(ns, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

func (d *kvDefinitions) All(ctx context.Context) ([]projection.StoredDefinition, error) {
	keys, err := d.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []projection.StoredDefinition
	for k := range keys.Keys() {
		ns, enc, ok := strings.Cut(k, ".")
		name, derr := base64.RawURLEncoding.DecodeString(enc)
		if !ok || derr != nil {
			continue
		}
		e, err := d.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, projection.StoredDefinition{Namespace: ns, Name: string(name), Canonical: e.Value()})
	}
	return out, nil
}
