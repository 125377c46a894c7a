package embtable

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/internal/topk"
)

// dataDir returns ../shared/data from the repository root, or skips.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present at %s: %v", dir, err)
	}
	return dir
}

// realSet is a base/query pair from ../shared/data, cut to a size that keeps
// tests fast.
type realSet struct {
	name          string
	base, queries []float32
	dim           int
	metric        Metric
}

func loadSets(t testing.TB) []realSet {
	t.Helper()
	dir := dataDir(t)
	var sets []realSet
	gb, dim, err := dataset.ReadFvecs(filepath.Join(dir, "glove", "glove100k_base.fvecs"))
	if err != nil {
		t.Fatal(err)
	}
	gq, _, err := dataset.ReadFvecs(filepath.Join(dir, "glove", "glove1k_query.fvecs"))
	if err != nil {
		t.Fatal(err)
	}
	sets = append(sets, realSet{"glove", gb[:8000*dim], gq[:50*dim], dim, Cosine})
	bb, bdim, err := dataset.ReadBvecs(filepath.Join(dir, "ann", "bigann10k_base.bvecs"))
	if err != nil {
		t.Fatal(err)
	}
	bq, _, err := dataset.ReadBvecs(filepath.Join(dir, "ann", "bigann10k_query.bvecs"))
	if err != nil {
		t.Fatal(err)
	}
	sets = append(sets, realSet{"bigann", dataset.BytesToFloat32(bb), dataset.BytesToFloat32(bq[:50*bdim]), bdim, L2})
	fb, fdim, err := dataset.ReadFvecs(filepath.Join(dir, "ann", "fmnist1k_base.fvecs"))
	if err != nil {
		t.Fatal(err)
	}
	fq, _, err := dataset.ReadFvecs(filepath.Join(dir, "ann", "fmnist1k_query.fvecs"))
	if err != nil {
		t.Fatal(err)
	}
	sets = append(sets, realSet{"fmnist", fb, fq[:50*fdim], fdim, L2})
	return sets
}

// meanRecall returns the mean recall@k of tab against the exact f32 table.
func meanRecall(t testing.TB, exact, tab *Table, qs []float32, k int, p SearchParams) float64 {
	t.Helper()
	dim := exact.Dim()
	var sum float64
	nq := len(qs) / dim
	for i := 0; i < nq; i++ {
		q := qs[i*dim : (i+1)*dim]
		want := ids(exact.Search(q, k, SearchParams{}, nil, nil))
		got := ids(tab.Search(q, k, p, nil, nil))
		sum += eval.Recall(got, want)
	}
	return sum / float64(nq)
}

func ids(items []topk.Item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestRecallEveryCodec(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 3×9 tables on real data")
	}
	sets := loadSets(t)
	cases := []struct {
		codec Codec
		nlist int
		p     SearchParams
		want  float64
	}{
		{F16, 0, SearchParams{}, 0.97},
		{SQ8, 0, SearchParams{Oversample: 4, Rescore: true}, 0.97},
		{SQ4, 0, SearchParams{Oversample: 8, Rescore: true}, 0.93},
		{PQ, 0, SearchParams{Oversample: 10, Rescore: true}, 0.9},
		{Binary, 0, SearchParams{Oversample: 40, Rescore: true}, 0.7},
		{RaBitQ, 0, SearchParams{Oversample: 20, Rescore: true}, 0.9},
		{RaBitQ, 16, SearchParams{NProbe: 8, Oversample: 20, Rescore: true}, 0.85},
		{PQ, 16, SearchParams{NProbe: 8, Oversample: 10, Rescore: true}, 0.85},
		{SQ8, 16, SearchParams{NProbe: 8, Oversample: 4, Rescore: true}, 0.85},
	}
	for _, set := range sets {
		ecfg := DefaultConfig()
		ecfg.Codec, ecfg.Metric = F32, set.metric
		exact, err := Build(set.base, set.dim, ecfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			cfg := DefaultConfig()
			cfg.Codec, cfg.Metric, cfg.NList = c.codec, set.metric, c.nlist
			cfg.TrainSample = 2048
			cfg.KMeansIters = 5
			cfg.PQM = min(set.dim/4, 32)
			tab, err := Build(set.base, set.dim, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := meanRecall(t, exact, tab, set.queries, 10, c.p)
			t.Logf("%s %s nlist=%d: recall@10 %.3f, %.1f bytes/vector", set.name, c.codec, c.nlist, r, tab.BytesPerVector())
			if r < c.want {
				t.Errorf("%s %s nlist=%d: recall@10 %.3f, want ≥ %.2f", set.name, c.codec, c.nlist, r, c.want)
			}
		}
	}
}

// synth returns n random vectors of dimension dim with a few clusters.
func synth(n, dim int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]float32, n*dim)
	for i := range out {
		out[i] = float32(rng.NormFloat64()) + float32((i/dim)%4)
	}
	return out
}

func TestFilterAndMetrics(t *testing.T) {
	const n, dim = 2000, 16
	data := synth(n, dim, 1)
	filter := roaring.New()
	for r := uint32(0); r < n; r += 3 {
		filter.Add(r)
	}
	for _, m := range []Metric{L2, IP, Cosine} {
		for codec := F32; codec < numCodecs; codec++ {
			cfg := DefaultConfig()
			cfg.Codec, cfg.Metric, cfg.NList, cfg.TrainSample = codec, m, 4, 1024
			tab, err := Build(data, dim, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := tab.Search(data[:dim], 10, SearchParams{NProbe: 4, Oversample: 4, Rescore: true}, filter, nil)
			if len(got) != 10 {
				t.Fatalf("%s %s: got %d results, want 10", m, codec, len(got))
			}
			for i, it := range got {
				if !filter.Contains(it.ID) {
					t.Fatalf("%s %s: row %d is not in the filter", m, codec, it.ID)
				}
				if i > 0 && it.Score > got[i-1].Score {
					t.Fatalf("%s %s: results not sorted", m, codec)
				}
			}
			if m != IP && got[0].ID != 0 {
				t.Errorf("%s %s: best row %d, want 0 (the query itself)", m, codec, got[0].ID)
			}
		}
	}
}

func TestDeterministicBuild(t *testing.T) {
	data := synth(3000, 24, 5)
	for _, codec := range []Codec{PQ, RaBitQ, SQ4} {
		cfg := DefaultConfig()
		cfg.Codec, cfg.NList, cfg.TrainSample = codec, 8, 2000
		cfg.Workers = 1
		a, err := Build(data, 24, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Workers = 3
		b, err := Build(data, 24, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if string(a.AppendBinary(nil)) != string(b.AppendBinary(nil)) {
			t.Errorf("%s: builds with 1 and 3 workers differ", codec)
		}
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Build([]float32{1, 2, 3}, 2, DefaultConfig()); err == nil {
		t.Error("ragged input: got nil error")
	}
	nan := float32(0)
	nan = nan / nan
	if _, err := Build([]float32{1, nan}, 2, DefaultConfig()); err == nil {
		t.Error("NaN input: got nil error")
	}
	cfg := DefaultConfig()
	cfg.Codec = PQ
	cfg.PQM = 5
	if _, err := Build(synth(300, 4, 1), 4, cfg); err == nil {
		t.Error("pq m > dim: got nil error")
	}
	tab, err := Build(synth(100, 4, 1), 4, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Search([]float32{1, 2}, 3, SearchParams{}, nil, nil); len(got) != 0 {
		t.Errorf("wrong query dim: got %d results, want 0", len(got))
	}
}
