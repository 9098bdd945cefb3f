// Package schema owns compiling and validating event schemas: the JSON Schema
// documents that a namespace registers for an event type, and the check of an
// event's data against one of them at ingest.
//
// A document is compiled once (Compile; the registry keeps each version's
// compiled Schema on the version) into a Schema that is safe for concurrent
// use. Compile accepts draft 2020-12 (the default when $schema is
// absent) and draft-07, asserts formats (a registry that lets "not-an-email"
// through under "format": "email" surprises its users), refuses format names it
// does not know (a typo would otherwise silently assert nothing), and never
// fetches anything: a $ref must point into the same document. Its errors are
// *CompileError values that name a JSON pointer into the schema and say what
// to change.
//
// Validate is on the ingest hot path. It decodes the data with its own strict
// single-pass decoder straight into the values jsonschema/v6 expects
// (map[string]any, []any, json.Number, string, bool, nil), then asks a
// non-allocating plan built from the compiled schema whether the data is
// certainly valid (fast.go); only when it is not sure — or the data is
// invalid — does the library validate, and its nested error tree becomes a
// flat list of Violations, each a pointer into the event (/data/...), the
// failing keyword and a short message in our own words. BenchmarkValidate
// measures it; FuzzValidate holds the plan to the library's verdict.
//
// Canonical gives a document's compact, key-sorted form: documents that differ
// only in whitespace or key order are the same schema to the registry.
//
// The registry itself — storage, compatibility modes, versions, the HTTP and
// CLI surfaces — lives elsewhere and calls this package. Its siblings are
// internal/schema/compat (compatibility between schema versions) and
// internal/schema/infer (inferring a schema from sample events); this package
// does not import them.
//
// It may import the standard library, github.com/santhosh-tekuri/jsonschema/v6
// and github.com/valyala/fastjson (today it needs no fastjson: see decode.go),
// and nothing else in Ensue.
package schema
