// Package eventlog owns Ensue's source of truth: the ordered, durable log of
// events, kept in NATS JetStream.
//
// The Log interface is the seam every other package appends through and reads
// from. It knows about namespaces, streams and dense stream versions, and it
// enforces expected versions with JetStream's per-subject expected sequence,
// so it stays correct with several writers on several nodes. It knows nothing
// about CloudEvents beyond the bytes it stores: parsing, identity and dedupe
// live above it. One conformance suite (logtest.Exercise) is run against every
// way of reaching JetStream: embedded, and an external 3-node cluster
// (cluster_test.go runs real nats-server processes and kills one under load).
//
// Layout of the log: one JetStream stream; each event is one message on the
// subject <prefix>.<namespace>.<stream token>, one subject per event stream
// (never per event). The stream's dense version travels in the Ensue-Version
// header; the message sequence is the event's position.
//
// It may import nats.go, nats-server (for the embedded server) and the
// standard library only.
package eventlog
