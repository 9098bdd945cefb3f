package projection

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEncodeValueOrder: encoded values sort as the values do (kinds in the
// order null, false, true, numbers, strings), so index scans and order_by
// agree with value order.
func TestEncodeValueOrder(t *testing.T) {
	t.Parallel()
	values := []any{nil, false, true, math.Inf(-1), -1e9, -2.5, -1.0, 0.0, 1e-9, 1.0, 2.0, 1e300, "", "a", "a\x00", "a\x00b", "ab", "b"}
	var enc [][]byte
	for _, v := range values {
		b, ok := encodeValue(nil, v)
		require.True(t, ok, "%v", v)
		enc = append(enc, b)
	}
	require.True(t, slices.IsSortedFunc(enc, bytes.Compare))
	for i := 1; i < len(enc); i++ {
		require.NotEqual(t, enc[i-1], enc[i])
	}
	neg, _ := encodeValue(nil, math.Copysign(0, -1))
	pos, _ := encodeValue(nil, 0.0)
	require.Equal(t, pos, neg, "-0 and 0 are one value")
	_, ok := encodeValue(nil, map[string]any{})
	require.False(t, ok, "objects are not indexed")
}

// TestEscPrefixFree: no escaped string is a prefix of another's, so a
// history or index prefix selects one key's or field's entries only.
func TestEscPrefixFree(t *testing.T) {
	t.Parallel()
	ss := []string{"", "a", "a\x00", "a\x00\x01", "a\x01", "ab", "\x00"}
	for _, a := range ss {
		for _, b := range ss {
			if a != b {
				require.False(t, bytes.HasPrefix(esc(nil, b), esc(nil, a)), "%q vs %q", a, b)
			}
		}
	}
}

func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(&item{sort: []byte("es\x00\x01"), doc: Document{Key: "k1"}}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		it, err := decodeCursor(s)
		if err != nil {
			return
		}
		back, err := decodeCursor(encodeCursor(it))
		require.NoError(t, err)
		require.Equal(t, it.sort, back.sort)
		require.Equal(t, it.doc.Key, back.doc.Key)
	})
}

// FuzzFilter: any filter text compiles or is a *QueryError; none panics,
// and evaluating one on a document never panics either.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`doc.status == "a"`, `doc.n == 4 && key > "x"`, `{b"a": 1} == {}`, `doc.a.b == null`, `"x" == doc.s`, `doc`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := compileFilter(s)
		if err != nil {
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			return
		}
		flt.match([]byte(`{"status":"a","n":4,"a":{"b":null},"s":"x"}`), "k")
	})
}
