package embtable

import (
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
)

func TestSearchAllocs(t *testing.T) {
	data := synth(3000, 32, 2)
	filter := roaring.New()
	filter.AddRange(0, 2000)
	for _, codec := range []Codec{F32, F16, SQ8, SQ4, PQ, Binary, RaBitQ} {
		for _, nlist := range []int{0, 8} {
			cfg := DefaultConfig()
			cfg.Codec, cfg.NList, cfg.TrainSample, cfg.KMeansIters = codec, nlist, 2000, 4
			tab, err := Build(data, 32, cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := data[:32]
			dst := make([]topk.Item, 0, 10)
			p := SearchParams{NProbe: 4, Oversample: 5, Rescore: true}
			tab.Search(q, 10, p, filter, dst)
			allocs := testing.AllocsPerRun(50, func() {
				dst = tab.Search(q, 10, p, filter, dst[:0])
			})
			if allocs > 0 {
				t.Errorf("%s nlist=%d: %.1f allocations per search, want 0", codec, nlist, allocs)
			}
		}
	}
}

func TestKernelAllocs(t *testing.T) {
	lut := make([]float32, 16*256)
	code := make([]byte, 16)
	a, b := make([]uint64, 2), make([]uint64, 8)
	if n := testing.AllocsPerRun(100, func() {
		lutScore(lut, code)
		sq8Dot(lut[:16], code)
		sq8L2(lut[:16], lut[16:32], code)
		sq4Dot(lut[:32], code)
		hamming(a, b)
		rabitqDot(a, b)
	}); n != 0 {
		t.Errorf("kernels: %.1f allocations, want 0", n)
	}
}

func TestConcurrentSearch(t *testing.T) {
	data := synth(2000, 16, 3)
	for _, codec := range []Codec{PQ, RaBitQ} {
		cfg := DefaultConfig()
		cfg.Codec, cfg.NList, cfg.TrainSample, cfg.KMeansIters = codec, 4, 1000, 3
		tab, err := Build(data, 16, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := SearchParams{NProbe: 2, Oversample: 4, Rescore: true}
		want := make([][]topk.Item, 20)
		for i := range want {
			want[i] = tab.Search(data[i*16:(i+1)*16], 5, p, nil, nil)
		}
		var wg sync.WaitGroup
		errs := make(chan string, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var dst []topk.Item
				for rep := 0; rep < 5; rep++ {
					for i := range want {
						dst = tab.Search(data[i*16:(i+1)*16], 5, p, nil, dst[:0])
						for j := range dst {
							if dst[j] != want[i][j] {
								errs <- "concurrent result differs from the sequential one"
								return
							}
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("%s: %s", codec, e)
		}
	}
}

func TestRaBitQBoundHolds(t *testing.T) {
	// The estimate ± its bound must contain the true score for nearly every
	// row (the paper's bound holds with high probability).
	data := synth(2000, 64, 8)
	cfg := DefaultConfig()
	cfg.Codec = RaBitQ
	tab, err := Build(data, 64, cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := synth(1, 64, 99)
	est := tab.Search(q, 2000, SearchParams{}, nil, nil)
	s := tab.getScratch()
	copy(s.q, q)
	tab.prepare(s)
	s.cand.reset(2000)
	tab.scan(s, 0, tab.n, 0, nil, true)
	upper := map[uint32]float32{}
	for _, it := range s.cand.sorted(nil) {
		upper[it.ID] = it.Score
	}
	misses := 0
	for _, it := range est {
		exact := tab.exact(s.q, it.ID)
		if exact > upper[it.ID]+1e-3 {
			misses++
		}
	}
	t.Logf("true score above the upper bound for %d of 2000 rows", misses)
	if misses > 2000/100 {
		t.Errorf("true score above the upper bound for %d of 2000 rows", misses)
	}
}

// TestRaBitQEarlyStop checks that bound-guided rescoring returns exactly what
// re-scoring every candidate would, while reading fewer of them.
func TestRaBitQEarlyStop(t *testing.T) {
	data := synth(4000, 256, 12)
	for _, m := range []Metric{L2, IP, Cosine} {
		cfg := DefaultConfig()
		cfg.Codec, cfg.Metric, cfg.NList, cfg.TrainSample = RaBitQ, m, 8, 2000
		tab, err := Build(data, 256, cfg)
		if err != nil {
			t.Fatal(err)
		}
		const k, over = 10, 50
		total, read := 0, 0
		for i := 0; i < 20; i++ {
			q := synth(1, 256, uint64(100+i))
			s := tab.getScratch()
			copy(s.q, q)
			if m == Cosine {
				vecmath.Normalize(s.q)
			}
			tab.prepare(s)
			s.cand.reset(k * over)
			for l := 0; l < tab.nlist; l++ {
				tab.scan(s, int(tab.offsets[l]), int(tab.offsets[l+1]), l, nil, true)
			}
			cands := append([]topk.Item(nil), s.cand.items...)
			got := tab.rescoreCandidates(s, k, true, nil)
			read += s.rescored
			total += len(cands)
			var all heap
			all.reset(k)
			for _, it := range cands {
				all.push(it.ID, tab.exact(s.q, it.ID))
			}
			want := all.sorted(nil)
			if len(got) != len(want) {
				t.Fatalf("%s query %d: %d results, want %d", m, i, len(got), len(want))
			}
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("%s query %d rank %d: early stop gave %+v, full rescoring %+v", m, i, j, got[j], want[j])
				}
			}
		}
		t.Logf("%s: re-scored %d of %d candidates", m, read, total)
		// How many candidates the bound prunes depends on the data; on this
		// set only the L2 bound is tight enough to prune.
		if m == L2 && read >= total {
			t.Errorf("%s: early stop re-scored all %d candidates", m, total)
		}
	}
}
