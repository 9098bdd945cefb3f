package infer_test

import (
	"math/rand/v2"
	"testing"

	"github.com/ensue-dev/ensue/internal/schema/infer"
)

// BenchmarkAdd measures inference over varied order events (about 600 bytes
// each), the cost per stored event of inferring a type's schema.
func BenchmarkAdd(b *testing.B) {
	g := orderGen{rand.New(rand.NewPCG(1, 2))}
	samples := make([][]byte, 1000)
	size := 0
	for i := range samples {
		samples[i] = marshal(b, g.event())
		size += len(samples[i])
	}
	b.SetBytes(int64(size / len(samples)))
	b.ReportAllocs()
	in := infer.New(infer.Options{})
	i := 0
	for b.Loop() {
		if err := in.Add(samples[i%len(samples)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSchema measures writing the schema of those events.
func BenchmarkSchema(b *testing.B) {
	g := orderGen{rand.New(rand.NewPCG(1, 2))}
	in := infer.New(infer.Options{})
	for range 1000 {
		if err := in.Add(marshal(b, g.event())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = in.Schema()
	}
}
