package blockmax_test

import (
	"fmt"
	"testing"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/seismic"
)

// BenchmarkSearch times block-max search against exact-taat on flat
// BM25-like data (one op = one pass over the queries).
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{20_000, 50_000} {
		c := dataset.DefaultFlatSparseConfig()
		c.Docs, c.Queries = n, 100
		docs, queries, err := dataset.GenerateFlatSparse(c)
		if err != nil {
			b.Fatal(err)
		}
		qs := make([]blockmax.Vector, queries.Len())
		for i := range qs {
			ids, vals := queries.Row(i)
			qs[i] = blockmax.Vector{Indices: ids, Values: vals}
		}
		ix, err := blockmax.Build(fwdOf(docs), blockmax.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		ex, err := seismic.NewExact(seismic.Forward(fwdOf(docs)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("blockmax/docs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			s := blockmax.NewScratch()
			var dst []topk.Item
			for b.Loop() {
				for _, q := range qs {
					dst = ix.Search(q, 10, nil, s, dst)
				}
			}
		})
		b.Run(fmt.Sprintf("exact-taat/docs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var dst []topk.Item
			for b.Loop() {
				for _, q := range qs {
					dst = ex.Search(seismic.Vector(q), 10, dst)
				}
			}
		})
	}
}
