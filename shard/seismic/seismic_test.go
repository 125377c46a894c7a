package seismic

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/internal/topk"
)

// synth returns a small synthetic collection and its queries.
func synth(t testing.TB, docs, queries int) (Forward, *dataset.Sparse) {
	t.Helper()
	c := dataset.DefaultSparseSynthConfig()
	c.Docs, c.Queries = docs, queries
	d, q, err := dataset.GenerateSparse(c)
	if err != nil {
		t.Fatal(err)
	}
	return Forward{Offsets: d.Offsets, Indices: d.Indices, Values: d.Values, Dim: d.Dim}, q
}

func ids(items []topk.Item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func qrow(q *dataset.Sparse, i int) Vector {
	ti, tv := q.Row(i)
	return Vector{Indices: ti, Values: tv}
}

// meanRecall returns recall@k of ix against ex over the queries.
func meanRecall(t testing.TB, ix *Index, ex *Exact, q *dataset.Sparse, k int, p SearchParams) float64 {
	t.Helper()
	var sum float64
	var got, want []topk.Item
	for i := 0; i < q.Len(); i++ {
		got = ix.Search(qrow(q, i), k, p, nil, got)
		want = ex.Search(qrow(q, i), k, want)
		sum += eval.Recall(ids(got), ids(want))
	}
	return sum / float64(q.Len())
}

func TestExactBaselinesAgree(t *testing.T) {
	fwd, q := synth(t, 3000, 30)
	ex, err := NewExact(fwd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < q.Len(); i++ {
		a := ex.Search(qrow(q, i), 10, nil)
		b := ScanSearch(fwd, qrow(q, i), 10, nil)
		if !slices.Equal(ids(a), ids(b)) {
			t.Fatalf("query %d: exact-taat %v, exact-scan %v", i, ids(a), ids(b))
		}
	}
}

func TestRecallSynthetic(t *testing.T) {
	fwd, q := synth(t, 5000, 60)
	ex, _ := NewExact(fwd)
	ix, err := Build(fwd, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultSearchParams()
	p.QueryCut = 20
	if r := meanRecall(t, ix, ex, q, 10, p); r < 0.9 {
		t.Errorf("recall@10 = %.3f, want >= 0.9", r)
	}
}

func TestUnprunedIsExact(t *testing.T) {
	fwd, q := synth(t, 1500, 40)
	ex, _ := NewExact(fwd)
	p := DefaultSearchParams()
	// With every posting kept and no block skipping the search is exact.
	cfg := DefaultConfig()
	cfg.Pruning = PruneGlobal
	cfg.AutoKeep = 1
	cfg.MaxFraction = 1e6
	cfg.Alpha = 1 // full summaries bound every block from above
	full, err := Build(fwd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.QueryCut, p.HeapFactor = 1000, 1e-9
	if r := meanRecall(t, full, ex, q, 10, p); r < 0.99 {
		t.Errorf("unpruned recall@10 = %.4f, want >= 0.99 (float summation order only)", r)
	}
}

func TestBuildDeterministic(t *testing.T) {
	fwd, q := synth(t, 2500, 20)
	cfg := DefaultConfig()
	cfg.Workers = 1
	a, err := Build(fwd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 3
	b, err := Build(fwd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.post, b.post) || !slices.Equal(a.sCode, b.sCode) || !slices.Equal(a.sT16, b.sT16) {
		t.Fatal("builds with 1 and 3 workers differ")
	}
	// The files, adaptive parameters and calibration table included, are
	// byte for byte the same.
	var fa, fb bytes.Buffer
	if _, err := a.WriteTo(&fa); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(&fb); err != nil {
		t.Fatal(err)
	}
	if a.Calibration() == nil || !bytes.Equal(fa.Bytes(), fb.Bytes()) {
		t.Fatalf("index files differ (calibrated: %v)", a.Calibration() != nil)
	}
	for i := 0; i < q.Len(); i++ {
		x := a.Search(qrow(q, i), 10, DefaultSearchParams(), nil, nil)
		y := b.Search(qrow(q, i), 10, DefaultSearchParams(), nil, nil)
		if !slices.Equal(x, y) {
			t.Fatalf("query %d: results differ", i)
		}
	}
}

func TestLayouts(t *testing.T) {
	fwd, q := synth(t, 2000, 30)
	ex, _ := NewExact(fwd)
	// Shift ids above 2^16 to force the remapped (and, with enough terms,
	// wide) layout, and try half-float values.
	wide := fwd
	wide.Indices = make([]uint32, len(fwd.Indices))
	for i, t := range fwd.Indices {
		wide.Indices[i] = t*3 + 70000
	}
	wide.Dim = 0
	for _, half := range []bool{false, true} {
		for _, w := range []bool{false, true} {
			cfg := DefaultConfig()
			cfg.Values = ValueF32
			if half {
				cfg.Values = ValueF16
			}
			in := fwd
			if w {
				in = wide
			}
			ix, err := Build(in, cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := DefaultSearchParams()
			p.QueryCut = 20
			var sum float64
			for i := 0; i < q.Len(); i++ {
				qv := qrow(q, i)
				if w {
					qi := make([]uint32, len(qv.Indices))
					for j, t := range qv.Indices {
						qi[j] = t*3 + 70000
					}
					qv.Indices = qi
				}
				got := ix.Search(qv, 10, p, nil, nil)
				sum += eval.Recall(ids(got), ids(ex.Search(qrow(q, i), 10, nil)))
			}
			if r := sum / float64(q.Len()); r < 0.8 {
				t.Errorf("half=%v remapped=%v: recall %.3f, want >= 0.8", half, w, r)
			}
		}
	}
}

func TestFilter(t *testing.T) {
	fwd, q := synth(t, 2500, 20)
	ix, err := Build(fwd, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	allowed := roaring.New()
	for d := uint32(0); d < 5000; d += 3 {
		allowed.Add(d)
	}
	for _, below := range []int{0, 1 << 30} {
		p := DefaultSearchParams()
		p.FilterExactBelow = below
		for i := 0; i < q.Len(); i++ {
			for _, it := range ix.Search(qrow(q, i), 10, p, allowed, nil) {
				if !allowed.Contains(it.ID) {
					t.Fatalf("result %d not in filter", it.ID)
				}
			}
		}
	}
	// The exact filtered path returns the true filtered top-k.
	p := DefaultSearchParams()
	p.FilterExactBelow = 1 << 30
	got := ix.Search(qrow(q, 0), 5, p, allowed, nil)
	want := topk.New(5)
	for _, it := range ScanSearch(fwd, qrow(q, 0), 5000, nil) {
		if allowed.Contains(it.ID) {
			want.Push(it.ID, it.Score)
		}
	}
	if w := want.Sorted(nil); !slices.Equal(ids(got), ids(w)) {
		t.Errorf("filtered exact: got %v, want %v", ids(got), ids(w))
	}
}

// TestKNNRefinement builds the kNN graph both ways (block co-membership,
// the default, and one search per document) and checks that the
// neighbours are valid, ordered by similarity and mostly the true nearest
// documents, and that expansion does not lower recall.
func TestKNNRefinement(t *testing.T) {
	fwd, q := synth(t, 3000, 30)
	ex, _ := NewExact(fwd)
	for _, blocks := range []int{3, 0} {
		cfg := DefaultConfig()
		cfg.KNN, cfg.KNNBlocks = 5, blocks
		ix, err := Build(fwd, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Neighbours in input rows, against the exact 5 nearest of a sample.
		hit, total := 0, 0
		for row := 0; row < fwd.Len(); row += 10 {
			pos := uint32(row)
			if ix.inv != nil {
				pos = ix.inv[row]
			}
			qv := fwdRow(fwd, row)
			score := map[uint32]float32{}
			var truth []uint32
			for _, it := range ScanSearch(fwd, qv, 6, nil) {
				if it.ID != uint32(row) && len(truth) < 5 {
					truth = append(truth, it.ID)
				}
			}
			for _, it := range ScanSearch(fwd, qv, fwd.Len(), nil) {
				score[it.ID] = it.Score
			}
			prev := float32(math.Inf(1))
			for _, nb := range ix.knn[int(pos)*5 : int(pos+1)*5] {
				if int(nb) >= fwd.Len() {
					t.Fatalf("blocks=%d: neighbour %d out of range", blocks, nb)
				}
				r := ix.rowOf(nb)
				if s := score[r]; s > prev*(1+1e-3)+1e-3 {
					t.Errorf("blocks=%d row %d: neighbours not by decreasing similarity", blocks, row)
				} else {
					prev = s
				}
				if slices.Contains(truth, r) {
					hit++
				}
			}
			total += len(truth)
		}
		overlap := float64(hit) / float64(total)
		t.Logf("knn_blocks %d: %.3f of the exact 5 nearest found", blocks, overlap)
		if overlap < 0.4 {
			t.Errorf("knn_blocks %d: only %.3f of the exact neighbours found", blocks, overlap)
		}
		p := DefaultSearchParams()
		p.QueryCut, p.KNN = 3, false
		base := meanRecall(t, ix, ex, q, 10, p)
		p.KNN = true
		with := meanRecall(t, ix, ex, q, 10, p)
		if with+1e-9 < base {
			t.Errorf("knn_blocks %d: kNN expansion lowered recall: %.3f -> %.3f", blocks, base, with)
		}
		t.Logf("knn_blocks %d, query_cut 3: recall %.3f without kNN, %.3f with", blocks, base, with)
	}
}

// fwdRow returns row i of f as a query vector.
func fwdRow(f Forward, i int) Vector {
	a, e := f.Offsets[i], f.Offsets[i+1]
	return Vector{Indices: f.Indices[a:e], Values: f.Values[a:e]}
}

func TestEmptyAndEdgeCases(t *testing.T) {
	ix, err := Build(Forward{}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Search(Vector{Indices: []uint32{1}, Values: []float32{1}}, 10, DefaultSearchParams(), nil, nil); len(got) != 0 {
		t.Errorf("empty index returned %v", got)
	}
	// One empty document, one document, unknown query terms.
	f := Forward{Offsets: []int64{0, 0, 2}, Indices: []uint32{3, 9}, Values: []float32{1, 2}}
	ix, err = Build(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	got := ix.Search(Vector{Indices: []uint32{9, 12345}, Values: []float32{1, 5}}, 3, DefaultSearchParams(), nil, nil)
	if len(got) != 1 || got[0].ID != 1 || got[0].Score != 2 {
		t.Errorf("got %v, want [{1 2}]", got)
	}
	bad := Forward{Offsets: []int64{0, 2}, Indices: []uint32{5, 5}, Values: []float32{1, 1}}
	if _, err := Build(bad, DefaultConfig()); err == nil {
		t.Error("duplicate indices accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Alpha = 1.5
	if err := c.Validate(); err == nil {
		t.Error("alpha 1.5 accepted")
	}
	c = DefaultConfig()
	c.Beta = -0.1
	if err := c.Validate(); err == nil {
		t.Error("beta -0.1 accepted")
	}
	p := DefaultSearchParams()
	p.QueryCut = 0
	if err := p.Validate(); err == nil {
		t.Error("query_cut 0 accepted")
	}
}

func TestSearchAllocs(t *testing.T) {
	fwd, q := synth(t, 3000, 10)
	ix, _ := Build(fwd, DefaultConfig())
	dst := make([]topk.Item, 0, 10)
	qv := qrow(q, 0)
	ix.Search(qv, 10, DefaultSearchParams(), nil, dst)
	// sort.Slice inside topk's Sorted costs a few small allocations; the
	// search itself must add none that grow with the index.
	a := testing.AllocsPerRun(50, func() { dst = ix.Search(qv, 10, DefaultSearchParams(), nil, dst) })
	if a > 3 {
		t.Errorf("Search allocates %.1f times per query", a)
	}
}

func TestConcurrentSearch(t *testing.T) {
	// The small format fixture keeps this fast under -race.
	cfg := DefaultConfig()
	cfg.KNN = 2
	ix, err := Build(fixtureForward(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultSearchParams()
	p.KNN = true
	const nq = 8
	want := make([][]topk.Item, nq)
	for i := range want {
		want[i] = ix.Search(fixtureQuery(i), 10, p, nil, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var dst []topk.Item
			for n := 0; n < 25; n++ {
				i := r.IntN(nq)
				dst = ix.Search(fixtureQuery(i), 10, p, nil, dst)
				if !slices.Equal(dst, want[i]) {
					errs <- "concurrent result differs"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestRecallSciFact(t *testing.T) {
	if testing.Short() {
		t.Skip("builds over the real SciFact collection")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "scifact")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present at %s", dir)
	}
	d, err := dataset.ReadSparseJSONL(filepath.Join(dir, "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := dataset.ReadSparseJSONL(filepath.Join(dir, "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	qrels, err := eval.ReadQrels(filepath.Join(dir, "qrels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	fwd := Forward{Offsets: d.Offsets, Indices: d.Indices, Values: d.Values, Dim: d.Dim}
	ex, _ := NewExact(fwd)
	ix, err := Build(fwd, scifactConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultSearchParams()
	p.QueryCut, p.HeapFactor = 64, 0.5
	exactRuns, runs := map[string][]eval.Scored{}, map[string][]eval.Scored{}
	var rec float64
	for i := 0; i < q.Len(); i++ {
		want := ex.Search(qrow(q, i), 10, nil)
		got := ix.Search(qrow(q, i), 10, p, nil, nil)
		rec += eval.Recall(ids(got), ids(want))
		for _, it := range want {
			exactRuns[q.IDs[i]] = append(exactRuns[q.IDs[i]], eval.Scored{ID: d.IDs[it.ID], Score: it.Score})
		}
		for _, it := range got {
			runs[q.IDs[i]] = append(runs[q.IDs[i]], eval.Scored{ID: d.IDs[it.ID], Score: it.Score})
		}
	}
	exact, approx := eval.MeanNDCG(qrels, exactRuns, 10), eval.MeanNDCG(qrels, runs, 10)
	t.Logf("recall@10 %.3f, nDCG@10 exact %.4f seismic %.4f", rec/float64(q.Len()), exact, approx)
	if exact < 0.6705 || exact > 0.6715 {
		t.Errorf("exact nDCG@10 = %.4f, want 0.671", exact)
	}
	if approx < exact-0.005 {
		t.Errorf("seismic nDCG@10 = %.4f, want within 0.005 of %.4f", approx, exact)
	}
}

// TestSciFactDefaults builds SciFact BM25 with the default (adaptive,
// calibrated) configuration and searches with the calibrated settings for
// recall 0.95, as a collection created with defaults does: nDCG@10 must stay
// within 0.005 of exact.
func TestSciFactDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds over the real SciFact collection")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "scifact")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present at %s", dir)
	}
	d, err := dataset.ReadSparseJSONL(filepath.Join(dir, "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := dataset.ReadSparseJSONL(filepath.Join(dir, "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	qrels, err := eval.ReadQrels(filepath.Join(dir, "qrels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	fwd := Forward{Offsets: d.Offsets, Indices: d.Indices, Values: d.Values, Dim: d.Dim}
	ex, _ := NewExact(fwd)
	ix, err := Build(fwd, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p, e, ok := ix.ParamsFor(0.95, DefaultSearchParams())
	if !ok {
		t.Fatal("not calibrated")
	}
	exactRuns, runs := map[string][]eval.Scored{}, map[string][]eval.Scored{}
	var rec float64
	for i := 0; i < q.Len(); i++ {
		want := ex.Search(qrow(q, i), 10, nil)
		got := want
		if e.Reached {
			got = ix.Search(qrow(q, i), 10, p, nil, nil)
		}
		rec += eval.Recall(ids(got), ids(want))
		for _, it := range want {
			exactRuns[q.IDs[i]] = append(exactRuns[q.IDs[i]], eval.Scored{ID: d.IDs[it.ID], Score: it.Score})
		}
		for _, it := range got {
			runs[q.IDs[i]] = append(runs[q.IDs[i]], eval.Scored{ID: d.IDs[it.ID], Score: it.Score})
		}
	}
	exact, approx := eval.MeanNDCG(qrels, exactRuns, 10), eval.MeanNDCG(qrels, runs, 10)
	st := ix.Stats()
	t.Logf("entry %+v adaptive %+v: recall@10 %.3f, nDCG@10 exact %.4f seismic %.4f; index %.2fx forward",
		e, ix.Adaptive(), rec/float64(q.Len()), exact, approx, float64(st.TotalBytes)/float64(st.ForwardBytes))
	if approx < exact-0.005 {
		t.Errorf("seismic nDCG@10 = %.4f, want within 0.005 of %.4f", approx, exact)
	}
}

// scifactConfig keeps more postings than the default: BM25 queries weigh
// terms by count, so query_cut cannot pick the important lists.
func scifactConfig() Config {
	c := DefaultConfig()
	c.Pruning = PruneGlobal
	c.AutoKeep = 1
	c.Alpha = 0.8
	return c
}

// TestMassCut checks both mass cuts against sorting: the kept entries are
// the largest, their sum reaches the target, and one fewer would not.
func TestMassCut(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 2000; trial++ {
		n := r.IntN(300) + 1
		p := make([]termVal, n)
		var total float32
		for i := range p {
			v := float32(math.Exp(r.NormFloat64() * 2))
			if trial%3 == 0 {
				v = float32(1 + r.IntN(8)) // many ties
			}
			if trial%7 == 0 {
				v = float32(math.Ldexp(1, r.IntN(120)-60)) // too wide for the buckets
			}
			p[i] = termVal{uint32(i), v}
			total += v
		}
		target := total * r.Float32()
		for name, cut := range map[string]func([]termVal, float32) int{"massCut": massCut, "massCutSelect": massCutSelect} {
			q := slices.Clone(p)
			k := cut(q, target)
			if k < 1 || k > n {
				t.Fatalf("%s: k = %d of %d", name, k, n)
			}
			var sum, minKept float32 = 0, float32(math.Inf(1))
			for _, x := range q[:k] {
				sum += x.v
				minKept = min(minKept, x.v)
			}
			for _, x := range q[k:] {
				if x.v > minKept {
					t.Fatalf("%s trial %d: dropped %v above kept %v", name, trial, x.v, minKept)
				}
			}
			if k < n && sum < target*(1-1e-5) {
				t.Fatalf("%s trial %d: kept mass %v < target %v", name, trial, sum, target)
			}
			if k > 1 && sum-minKept >= target*(1+1e-5) {
				t.Fatalf("%s trial %d: %d entries kept, %d would do", name, trial, k, k-1)
			}
		}
	}
}
