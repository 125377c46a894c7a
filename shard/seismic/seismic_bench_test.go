package seismic

import (
	"fmt"
	"testing"

	"github.com/shoal-search/shoal/internal/topk"
)

func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		fwd, q := synth(b, n, 100)
		ix, err := Build(fwd, DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		ex, _ := NewExact(fwd)
		b.Run(fmt.Sprintf("seismic/docs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]topk.Item, 0, 10)
			for i := 0; b.Loop(); i++ {
				dst = ix.Search(qrow(q, i%q.Len()), 10, DefaultSearchParams(), nil, dst)
			}
		})
		b.Run(fmt.Sprintf("exact-taat/docs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]topk.Item, 0, 10)
			for i := 0; b.Loop(); i++ {
				dst = ex.Search(qrow(q, i%q.Len()), 10, dst)
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	fwd, _ := synth(b, 10000, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(fwd.Indices) * 8))
	for b.Loop() {
		if _, err := Build(fwd, DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
}
