package blockmax_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/seismic"
)

// collection is a test distribution.
type collection struct {
	name    string
	docs    *dataset.Sparse
	queries *dataset.Sparse
}

// randomSparse draws n rows of about nnz distinct ids over dim (term
// popularity Zipf-like), with values from val.
func randomSparse(rng *rand.Rand, n, nnz, dim int, val func() float32) *dataset.Sparse {
	s := dataset.NewSparse(n, n*nnz)
	s.Dim = uint32(dim)
	seen := map[uint32]bool{}
	var ids []uint32
	for range n {
		l := 1 + rng.IntN(2*nnz)
		clear(seen)
		ids = ids[:0]
		for range l {
			// Popular ids are small: a squared uniform favours them.
			u := rng.Float64()
			t := uint32(u * u * float64(dim))
			if !seen[t] {
				seen[t] = true
				ids = append(ids, t)
			}
		}
		slices.Sort(ids)
		vs := make([]float32, len(ids))
		for i := range vs {
			vs[i] = val()
		}
		s.Append(ids, vs)
	}
	s.Dim = uint32(dim)
	return s
}

func collections(t testing.TB) []collection {
	t.Helper()
	var out []collection
	fc := dataset.DefaultFlatSparseConfig()
	fc.Docs, fc.Queries, fc.Dim = 4000, 60, 5000
	d, q, err := dataset.GenerateFlatSparse(fc)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, collection{"flat-bm25", d, q})
	fc.QueryTerms, fc.Seed = 40, 2
	d, q, err = dataset.GenerateFlatSparse(fc)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, collection{"flat-bm25-long-queries", d, q})
	sc := dataset.DefaultSparseSynthConfig()
	sc.Docs, sc.Queries, sc.Topics = 3000, 40, 50
	d, q, err = dataset.GenerateSparse(sc)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, collection{"splade-lognormal", d, q})
	rng := rand.New(rand.NewPCG(7, 7))
	logn := func() float32 { return float32(math.Exp(rng.NormFloat64())) }
	pareto := func() float32 { return float32(math.Pow(1-rng.Float64(), -1/1.2)) }
	ties := func() float32 { return float32(1 + rng.IntN(3)) }
	mixed := func() float32 { return float32(rng.NormFloat64()) }
	ones := func() float32 { return 1 }
	out = append(out,
		collection{"lognormal-short-docs", randomSparse(rng, 3000, 4, 500, logn), randomSparse(rng, 40, 6, 500, logn)},
		collection{"heavy-tailed", randomSparse(rng, 3000, 40, 3000, pareto), randomSparse(rng, 40, 20, 3000, pareto)},
		collection{"ties-small-ints", randomSparse(rng, 3000, 20, 400, ties), randomSparse(rng, 40, 8, 400, ones)},
		collection{"ties-binary", randomSparse(rng, 2000, 10, 200, ones), randomSparse(rng, 40, 5, 200, ones)},
		collection{"signed-values", randomSparse(rng, 2000, 15, 800, mixed), randomSparse(rng, 40, 10, 800, mixed)},
		collection{"long-docs", randomSparse(rng, 1500, 200, 4000, logn), randomSparse(rng, 30, 30, 4000, logn)},
	)
	return out
}

func fwdOf(d *dataset.Sparse) blockmax.Forward {
	return blockmax.Forward{Offsets: d.Offsets, Indices: d.Indices, Values: d.Values, Dim: d.Dim}
}

func sameItems(t *testing.T, what string, got, want []topk.Item) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d results, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i].ID != want[i].ID || math.Float32bits(got[i].Score) != math.Float32bits(want[i].Score) {
			t.Fatalf("%s: result %d: got %v, want %v\ngot  %v\nwant %v", what, i, got[i], want[i], got, want)
		}
	}
}

// TestEqualsExactTAAT checks that every search returns exactly what
// exact-taat returns (ids, bit-identical scores, order) on every
// distribution, for several k and block sizes.
func TestEqualsExactTAAT(t *testing.T) {
	for _, mode := range []string{"pruned", "exhaustive"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "pruned" {
				defer blockmax.SetExhaustiveBelow(0)()
			}
			equalsExactTAAT(t)
		})
	}
}

func equalsExactTAAT(t *testing.T) {
	for _, c := range collections(t) {
		ex, err := seismic.NewExact(seismic.Forward(fwdOf(c.docs)))
		if err != nil {
			t.Fatal(err)
		}
		for _, bs := range []int{8, 64, 128} {
			cfg := blockmax.DefaultConfig()
			cfg.BlockSize = bs
			ix, err := blockmax.Build(fwdOf(c.docs), cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := blockmax.NewScratch()
			scored, total := 0, 0
			for _, k := range []int{1, 10, 100} {
				for qi := 0; qi < c.queries.Len(); qi++ {
					ids, vals := c.queries.Row(qi)
					want := ex.Search(seismic.Vector{Indices: ids, Values: vals}, k, nil)
					got := ix.Search(blockmax.Vector{Indices: ids, Values: vals}, k, nil, s, nil)
					sameItems(t, c.name, got, want)
					scored += s.Scored
					total++
				}
			}
			t.Logf("%s block %d: %.0f documents scored per query of %d", c.name, bs, float64(scored)/float64(total), c.docs.Len())
		}
	}
}

// TestQueryEdgeCases covers repeated, unknown, zero, negative and
// non-finite query components and k beyond the number of matches.
func TestQueryEdgeCases(t *testing.T) {
	t.Run("exhaustive", edgeCases)
	defer blockmax.SetExhaustiveBelow(0)()
	t.Run("pruned", edgeCases)
}

func edgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	docs := randomSparse(rng, 1000, 10, 300, func() float32 { return float32(1 + rng.IntN(4)) })
	ex, err := seismic.NewExact(seismic.Forward(fwdOf(docs)))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := blockmax.Build(fwdOf(docs), blockmax.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		q    blockmax.Vector
	}{
		{"repeated", blockmax.Vector{Indices: []uint32{5, 9, 5, 1}, Values: []float32{1, 2, 0.5, 1}}},
		{"unsorted", blockmax.Vector{Indices: []uint32{200, 3, 77}, Values: []float32{1, 1, 3}}},
		{"unknown", blockmax.Vector{Indices: []uint32{1 << 30, 4, 299, 300}, Values: []float32{9, 1, 1, 5}}},
		{"zero weight", blockmax.Vector{Indices: []uint32{4, 5}, Values: []float32{0, 1}}},
		{"negative weight", blockmax.Vector{Indices: []uint32{4, 5, 6}, Values: []float32{-1, 2, 1}}},
		{"all negative", blockmax.Vector{Indices: []uint32{4, 5}, Values: []float32{-1, -2}}},
		{"cancelling", blockmax.Vector{Indices: []uint32{8, 8}, Values: []float32{1, -1}}},
		{"empty", blockmax.Vector{}},
		{"values short", blockmax.Vector{Indices: []uint32{4, 5, 6}, Values: []float32{1}}},
	}
	for _, c := range cases {
		for _, k := range []int{1, 3, 10, 5000} {
			want := ex.Search(seismic.Vector(c.q), k, nil)
			got := ix.Search(c.q, k, nil, nil, nil)
			sameItems(t, c.name, got, want)
		}
	}
	nan := blockmax.Vector{Indices: []uint32{4, 5}, Values: []float32{float32(math.NaN()), 1}}
	got := ix.Search(nan, 10, nil, nil, nil)
	want := ex.Search(seismic.Vector{Indices: []uint32{5}, Values: []float32{1}}, 10, nil)
	sameItems(t, "nan weight ignored", got, want)
	if got := ix.Search(c0(), 0, nil, nil, nil); len(got) != 0 {
		t.Fatalf("k=0: got %d results, want 0", len(got))
	}
}

func c0() blockmax.Vector { return blockmax.Vector{Indices: []uint32{4}, Values: []float32{1}} }

// TestFilter checks filtered searches against exact scores restricted to
// the filter.
func TestFilter(t *testing.T) {
	t.Run("exhaustive", filterCheck)
	defer blockmax.SetExhaustiveBelow(0)()
	t.Run("pruned", filterCheck)
}

func filterCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	docs := randomSparse(rng, 3000, 15, 500, func() float32 { return float32(math.Exp(rng.NormFloat64())) })
	queries := randomSparse(rng, 20, 6, 500, func() float32 { return 1 })
	ex, err := seismic.NewExact(seismic.Forward(fwdOf(docs)))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := blockmax.Build(fwdOf(docs), blockmax.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []float64{0.01, 0.3, 0.9} {
		f := roaring.New()
		for d := range docs.Len() {
			if rng.Float64() < keep {
				f.Add(uint32(d))
			}
		}
		for qi := range queries.Len() {
			ids, vals := queries.Row(qi)
			all := ex.Search(seismic.Vector{Indices: ids, Values: vals}, docs.Len(), nil)
			var want []topk.Item
			for _, it := range all {
				if f.Contains(it.ID) && len(want) < 10 {
					want = append(want, it)
				}
			}
			got := ix.Search(blockmax.Vector{Indices: ids, Values: vals}, 10, f, nil, nil)
			sameItems(t, "filter", got, want)
		}
	}
}

// TestBlockBounds checks the quantized bounds: never below a block's true
// maximum, for values near float32 rounding edges.
func TestBlockBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	vals := []float32{1, 255, 1e-38, 1.4e-45, 3.4e38, 0.1, 1.0000001, 0, -2}
	for range 2000 {
		vals = append(vals, math.Float32frombits(rng.Uint32()&0x7f7fffff))
	}
	for _, hi := range vals {
		for _, v := range []float32{hi, hi * 0.5, hi * 0.99, math.Nextafter32(hi, 0), 0, -1} {
			if v > hi {
				continue
			}
			sc := blockmax.ScaleFor(hi)
			c := blockmax.CodeFor(v, sc)
			if v > 0 && float64(sc)*float64(c) < float64(v) {
				t.Fatalf("hi %g v %g: bound %g·%d below the value", hi, v, sc, c)
			}
			if c > 0 && float64(sc)*float64(c-1) >= float64(v) {
				t.Fatalf("hi %g v %g: code %d not the smallest", hi, v, c)
			}
		}
	}
}

// TestDeterministic checks that two builds of the same input write the
// same bytes, and that a written index reads back (Load and Open) with the
// same answers.
func TestDeterministic(t *testing.T) {
	c := collections(t)[0]
	var files [2][]byte
	for i := range files {
		ix, err := blockmax.Build(fwdOf(c.docs), blockmax.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := ix.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		files[i] = b.Bytes()
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two builds of the same input wrote different files")
	}
	ix, _ := blockmax.Build(fwdOf(c.docs), blockmax.DefaultConfig())
	ld, err := blockmax.Load(bytes.NewReader(files[0]))
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/x.blockmax"
	if err := writeFile(path, files[0]); err != nil {
		t.Fatal(err)
	}
	op, err := blockmax.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if ld.Stats() != ix.Stats() || op.Stats() != ix.Stats() {
		t.Fatalf("stats: loaded %+v, opened %+v, want %+v", ld.Stats(), op.Stats(), ix.Stats())
	}
	for qi := range c.queries.Len() {
		ids, vals := c.queries.Row(qi)
		q := blockmax.Vector{Indices: ids, Values: vals}
		want := ix.Search(q, 10, nil, nil, nil)
		sameItems(t, "load", ld.Search(q, 10, nil, nil, nil), want)
		sameItems(t, "open", op.Search(q, 10, nil, nil, nil), want)
	}
}

func TestBuildErrors(t *testing.T) {
	bad := []blockmax.Forward{
		{Offsets: []int64{0, 2}, Indices: []uint32{3, 1}, Values: []float32{1, 1}},
		{Offsets: []int64{0, 2}, Indices: []uint32{1, 1}, Values: []float32{1, 1}},
		{Offsets: []int64{0, 1}, Indices: []uint32{1}, Values: []float32{float32(math.Inf(1))}},
		{Offsets: []int64{0, 3}, Indices: []uint32{1}, Values: []float32{1}},
		{Offsets: []int64{0, 1}, Indices: []uint32{9}, Values: []float32{1}, Dim: 5},
	}
	for i, f := range bad {
		if _, err := blockmax.Build(f, blockmax.DefaultConfig()); err == nil {
			t.Errorf("input %d: built, want an error", i)
		}
	}
	for _, bs := range []int{0, 7, 48, 1 << 17} {
		if _, err := blockmax.Build(blockmax.Forward{}, blockmax.Config{BlockSize: bs}); err == nil {
			t.Errorf("block size %d: built, want an error", bs)
		}
	}
	ix, err := blockmax.Build(blockmax.Forward{}, blockmax.DefaultConfig())
	if err != nil || ix.Len() != 0 || len(ix.Search(c0(), 10, nil, nil, nil)) != 0 {
		t.Fatalf("empty: %v, %d docs", err, ix.Len())
	}
}

// TestZeroAllocs checks that a search with a caller scratch does not
// allocate once the scratch has grown.
func TestZeroAllocs(t *testing.T) {
	c := collections(t)[0]
	ix, err := blockmax.Build(fwdOf(c.docs), blockmax.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := blockmax.NewScratch()
	dst := make([]topk.Item, 0, 10)
	ids, vals := c.queries.Row(0)
	q := blockmax.Vector{Indices: ids, Values: vals}
	ix.Search(q, 10, nil, s, dst)
	if a := testing.AllocsPerRun(50, func() { dst = ix.Search(q, 10, nil, s, dst) }); a != 0 {
		t.Fatalf("got %v allocations per search, want 0", a)
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

// TestConcurrentSearch runs searches from several goroutines with pooled
// scratches (run under -race by CI) and checks every answer.
func TestConcurrentSearch(t *testing.T) {
	c := collections(t)[0]
	ex, err := seismic.NewExact(seismic.Forward(fwdOf(c.docs)))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := blockmax.Build(fwdOf(c.docs), blockmax.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]topk.Item, c.queries.Len())
	for qi := range want {
		ids, vals := c.queries.Row(qi)
		want[qi] = ex.Search(seismic.Vector{Indices: ids, Values: vals}, 10, nil)
	}
	defer blockmax.SetExhaustiveBelow(0)()
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []topk.Item
			for qi := g; qi < c.queries.Len(); qi += 2 {
				ids, vals := c.queries.Row(qi)
				dst = ix.Search(blockmax.Vector{Indices: ids, Values: vals}, 10, nil, nil, dst)
				if len(dst) != len(want[qi]) || len(dst) > 0 && dst[0] != want[qi][0] {
					errs <- fmt.Sprintf("query %d: got %v, want %v", qi, dst, want[qi])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
