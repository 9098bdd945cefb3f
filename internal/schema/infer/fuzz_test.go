package infer_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema/infer"
)

// FuzzAdd checks that no input makes Add panic, that Add rejects exactly
// what is not JSON, and that a JSON sample is valid under the schema
// inferred from it (seeds in testdata/fuzz/FuzzAdd).
func FuzzAdd(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,"x",null,{"b":true}],"c":"2024-05-06"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small enum thresholds, and the sample added twice, so that enums
		// are inferred too.
		in := infer.New(infer.Options{MaxEnum: 3, MinEnumSamples: 2, Title: "fuzz"})
		err := in.Add(data)
		if !json.Valid(data) {
			require.Error(t, err)
			require.True(t, errors.Is(err, infer.ErrInvalidJSON), "%v", err)
			require.Zero(t, in.Samples())
			require.Equal(t, string(infer.New(infer.Options{Title: "fuzz"}).Schema()), string(in.Schema()))
			return
		}
		require.NoError(t, err)
		require.NoError(t, in.Add(data))
		require.Equal(t, 2, in.Samples())

		schema := in.Schema()
		require.True(t, json.Valid(schema), "%s", schema)
		require.NoError(t, validate(t, compile(t, schema), data), "sample %q\nschema:\n%s", data, schema)
	})
}
