package schema_test

import (
	"testing"

	"github.com/ensue-dev/ensue/internal/schema"
)

func BenchmarkDecode(b *testing.B) {
	data := []byte(validOrder)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schema.DecodeJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}
