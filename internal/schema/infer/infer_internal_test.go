package infer

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryBoundedByShape feeds many samples whose strings are all distinct
// and checks that what is kept per field does not grow with them.
func TestMemoryBoundedByShape(t *testing.T) {
	t.Parallel()
	in := New(Options{MaxEnum: 5})
	for i := range 10_000 {
		require.NoError(t, in.Add(fmt.Appendf(nil, `{"id":"user-%d","tags":["t%d"],"kind":"k%d"}`, i, i, i%3)))
		for _, name := range []string{"id", "kind"} {
			require.LessOrEqual(t, len(in.root.props[name].values), 5)
		}
		require.LessOrEqual(t, len(in.root.props["tags"].items.values), 5)
	}
	require.True(t, in.root.props["id"].enumLost)
	require.Nil(t, in.root.props["id"].values)
	require.Len(t, in.root.props["kind"].values, 3)
	require.Len(t, in.root.props, 3)
}
