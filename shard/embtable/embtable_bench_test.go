package embtable

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
)

// BenchmarkKernels reports ns per vector of each hot distance kernel over
// 4096 vectors of dimension 128 (PQ with m=16; binary codes of 2 words).
func BenchmarkKernels(b *testing.B) {
	const n, dim, m = 4096, 128, 16
	rng := rand.New(rand.NewPCG(1, 1))
	vecs := make([]float32, n*dim)
	for i := range vecs {
		vecs[i] = float32(rng.NormFloat64())
	}
	q := vecs[:dim]
	half := make([]uint16, n*dim)
	for i, x := range vecs {
		half[i] = uint16(vecmath.ToF16(x))
	}
	codes := make([]byte, n*m)
	for i := range codes {
		codes[i] = byte(rng.IntN(256))
	}
	lut := make([]float32, m*256)
	words := make([]uint64, n*2)
	for i := range words {
		words[i] = rng.Uint64()
	}
	planes := words[:8]
	tab := f16Lookup()
	var sink float32
	var isink int
	run := func(name string, f func(i int)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < n; i++ {
					f(i)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/vector")
		})
	}
	run("dot-f32", func(i int) { sink += vecmath.Dot(q, vecs[i*dim:(i+1)*dim]) })
	run("l2-f32", func(i int) { sink += vecmath.L2Sq(q, vecs[i*dim:(i+1)*dim]) })
	run("dot-f16", func(i int) { sink += dotF16(tab, q, half[i*dim:(i+1)*dim]) })
	run("adc-pq16", func(i int) { sink += lutScore(lut, codes[i*m:(i+1)*m]) })
	st := vecs[dim : 2*dim]
	run("sq8-dot", func(i int) { sink += sq8Dot(q, codes[(i%(n/8))*dim:(i%(n/8)+1)*dim]) })
	run("sq8-l2", func(i int) { sink += sq8L2(q, st, codes[(i%(n/8))*dim:(i%(n/8)+1)*dim]) })
	run("popcount-hamming", func(i int) { isink += hamming(q64(words, i), planes) })
	run("popcount-rabitq", func(i int) { d, o := rabitqDot(q64(words, i), planes); isink += d + o })
	_, _ = sink, isink
}

func q64(words []uint64, i int) []uint64 { return words[2*i : 2*i+2] }

// BenchmarkSearch measures one query over 20000 vectors of dimension 64.
func BenchmarkSearch(b *testing.B) {
	data := synth(20000, 64, 1)
	q := synth(1, 64, 7)
	for _, c := range []struct {
		codec Codec
		nlist int
	}{{F32, 0}, {SQ8, 0}, {PQ, 0}, {RaBitQ, 0}, {PQ, 64}, {RaBitQ, 64}} {
		cfg := DefaultConfig()
		cfg.Codec, cfg.NList, cfg.TrainSample, cfg.KMeansIters = c.codec, c.nlist, 4096, 4
		tab, err := Build(data, 64, cfg)
		if err != nil {
			b.Fatal(err)
		}
		p := SearchParams{NProbe: 8, Oversample: 10, Rescore: true}
		b.Run(fmt.Sprintf("%s/nlist=%d", c.codec, c.nlist), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]topk.Item, 0, 10)
			for b.Loop() {
				dst = tab.Search(q, 10, p, nil, dst[:0])
			}
		})
	}
}
