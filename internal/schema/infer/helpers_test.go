package infer_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema/infer"
)

// compile compiles a schema written by Schema with a real draft 2020-12
// validator that asserts formats, as the registry will.
func compile(t testing.TB, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	require.NoError(t, err, "schema is not JSON:\n%s", schema)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	require.NoError(t, c.AddResource("inferred.json", doc))
	sch, err := c.Compile("inferred.json")
	require.NoError(t, err, "schema does not compile:\n%s", schema)
	return sch
}

// validate returns the validator's verdict on one sample.
func validate(t testing.TB, sch *jsonschema.Schema, sample []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(sample))
	require.NoError(t, err, "sample is not JSON: %s", sample)
	return sch.Validate(inst)
}

// inferAll feeds every sample to a new Inferrer, none of which may fail.
func inferAll(t testing.TB, opts infer.Options, samples ...string) *infer.Inferrer {
	t.Helper()
	in := infer.New(opts)
	for _, s := range samples {
		require.NoError(t, in.Add([]byte(s)), "sample %s", s)
	}
	return in
}

// body returns a schema without the root's $schema, title and description,
// as indented JSON, for comparing with what a test expects.
func body(t testing.TB, schema []byte) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(schema, &m))
	require.Equal(t, infer.Draft, m["$schema"])
	delete(m, "$schema")
	delete(m, "title")
	delete(m, "description")
	out, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	return string(out)
}

// repeat returns n copies of each sample, in turn.
func repeat(n int, samples ...string) []string {
	var out []string
	for range n {
		out = append(out, samples...)
	}
	return out
}
