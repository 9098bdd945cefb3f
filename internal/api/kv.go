package api

import (
	"context"
	"errors"
	"net/http"
)

// KV is the narrow key-value seam the snapshot and consumer routes keep their
// state in: a JetStream KV bucket in the server (internal/server/kv.go), kept
// behind this interface so that the API does not import the NATS client.
// Revisions grow with every write of a key; a key's writers compare and set
// on them, so concurrent requests on several nodes never lose an update.
type KV interface {
	// Get returns a key's value and revision, or ErrKeyNotFound.
	Get(ctx context.Context, key string) (value []byte, revision uint64, err error)
	// Create writes a key that does not exist (or was deleted), or fails with
	// ErrRevisionConflict.
	Create(ctx context.Context, key string, value []byte) (revision uint64, err error)
	// Update writes a key whose current revision is revision, or fails with
	// ErrRevisionConflict.
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
	// Delete removes a key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// Errors a KV returns.
var (
	ErrKeyNotFound      = errors.New("key not found")
	ErrRevisionConflict = errors.New("the key changed since it was read")
)

// casAttempts bounds the read-modify-write rounds of one request: each
// failed round means another writer succeeded, so running out of them
// takes a pathological contention on one key.
const casAttempts = 32

func kvUnavailable(what string) *Problem {
	return &Problem{Type: typeUnavailable, Title: "Not available", Status: http.StatusServiceUnavailable,
		Detail: "this server keeps no " + what + " (no key-value bucket configured)"}
}

func contended(what string) *Problem {
	return &Problem{Type: typeUnavailable, Title: "Contended", Status: http.StatusServiceUnavailable, RetryAfter: 1,
		Detail: what + " was changed by other requests at every attempt; retry the request"}
}
