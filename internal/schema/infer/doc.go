// Package infer derives a first JSON Schema (draft 2020-12) for an event type
// from the data of the events already stored for it, so a user starts the
// type's schema from what producers actually send instead of a blank page.
//
// It owns the inference rules and nothing else: an Inferrer is fed one
// event's data at a time and produces a schema's JSON, ready to edit and push
// to the registry. It does not read the log, store schemas, validate events
// or judge compatibility; internal/schema and internal/schema/compat do that.
//
// The schema it writes describes every sample it was fed: each one validates
// against it, formats and enums included (the package's tests check this
// with a real validator). It is a starting point, not a contract, so it never
// sets additionalProperties and leaves out what a few samples cannot tell
// (lengths, ranges, patterns).
//
// Memory is bounded by the shape of the data, not by the number of samples:
// per field it keeps counts per JSON type, which string formats still hold,
// and at most MaxEnum distinct strings of up to 64 bytes (the first value
// past that settles that the field is no enum, and the set is dropped).
//
// Samples are decoded with encoding/json (numbers kept as text), not fastjson:
// it rejects text that is not JSON, and it reads strings the way the
// validator does (invalid UTF-8 and lone surrogates become U+FFFD, the last of
// duplicate keys wins), so an enum or format inferred here holds for the
// values the validator sees. Inference runs over stored events once per
// request, off the ingest path (BenchmarkAdd measures it).
//
// It imports only the standard library, and nothing else in Ensue.
package infer
