package multivec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func randVecs(rng *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// BenchmarkMaxSim reports documents per second at nq query × nd document
// vectors of dimension 128 (one core); vector pairs/s is docs/s · nq · nd.
func BenchmarkMaxSim(b *testing.B) {
	for _, sz := range []struct{ nq, nd int }{{32, 80}, {32, 32}, {12, 200}} {
		b.Run(fmt.Sprintf("q%dxd%d", sz.nq, sz.nd), func(b *testing.B) {
			const dim, docs = 128, 64
			rng := rand.New(rand.NewPCG(1, 2))
			q := randVecs(rng, sz.nq, dim)
			d := randVecs(rng, sz.nd*docs, dim)
			maxes := make([]float32, sz.nq)
			b.ReportAllocs()
			b.SetBytes(int64(sz.nd * dim * 4))
			b.ResetTimer()
			var sink float32
			for i := 0; i < b.N; i++ {
				j := i % docs
				sink += MaxSim(q, d[j*sz.nd*dim:(j+1)*sz.nd*dim], dim, maxes)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			_ = sink
		})
	}
}
