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
// vectors of dimension 128 (one core) for each kernel in the same run: simd
// (AVX2/FMA, skipped without it or under -tags purego), purego (the 4×2
// pure-Go kernel) and purego-old (the previous pure-Go kernel). docs/s is
// wall time, cpu-docs/s process CPU time (steadier on a shared machine);
// pairs/s is docs/s · nq · nd.
func BenchmarkMaxSim(b *testing.B) {
	kernels := []struct {
		name   string
		simd   bool
		update func(q, d []float32, dim int, maxes []float32)
	}{{"simd", true, nil}, {"purego", false, nil}, {"purego-old", false, maxSimUpdateOld}}
	for _, sz := range []struct{ nq, nd int }{{32, 80}, {32, 32}, {12, 200}} {
		for _, k := range kernels {
			b.Run(fmt.Sprintf("q%dxd%d/%s", sz.nq, sz.nd, k.name), func(b *testing.B) {
				if k.simd && !hasSIMD {
					b.Skip("no AVX2/FMA kernel in this build")
				}
				const dim, docs = 128, 64
				rng := rand.New(rand.NewPCG(1, 2))
				q := randVecs(rng, sz.nq, dim)
				d := randVecs(rng, sz.nd*docs, dim)
				maxes := make([]float32, sz.nq)
				useSIMD = k.simd
				defer func() { useSIMD = hasSIMD }()
				b.ReportAllocs()
				b.SetBytes(int64(sz.nd * dim * 4))
				c0 := cpuSeconds()
				b.ResetTimer()
				var sink float32
				for i := 0; i < b.N; i++ {
					j := i % docs
					dj := d[j*sz.nd*dim : (j+1)*sz.nd*dim]
					if k.update != nil {
						sink += maxSimWith(k.update, q, dj, dim, maxes)
					} else {
						sink += MaxSim(q, dj, dim, maxes)
					}
				}
				b.StopTimer()
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "docs/s")
				b.ReportMetric(rate*float64(sz.nq*sz.nd), "pairs/s")
				if c1 := cpuSeconds(); c0 >= 0 && c1 > c0 {
					b.ReportMetric(float64(b.N)/(c1-c0), "cpu-docs/s")
				}
				_ = sink
			})
		}
	}
}
