package multivec

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoal-search/shoal/shard/embtable"
)

func unitVecs(rng *rand.Rand, n, dim int) []float32 {
	return normalizedCopy(randVecs(rng, n, dim), dim)
}

// TestFDEWithoutProjectionBoundsChamfer checks the deterministic side of
// MUVERA's bound: without the random projection, every repetition gives
// Σ_q <q, mean of its bucket> ≤ Σ_q max_d <q, d> = Chamfer.
func TestFDEWithoutProjectionBoundsChamfer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cfg := FDEConfig{KSim: 3, DProj: 0, Reps: 10, FillEmpty: true, Seed: 3}
	e, err := NewFDE(16, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for trial := 0; trial < 50; trial++ {
		q, d := unitVecs(rng, 8, 16), unitVecs(rng, 30, 16)
		fq, fd := e.EncodeQuery(nil, q), e.EncodeDoc(nil, d)
		got := float64(dot(fq, fd)) / float64(cfg.Reps)
		want := maxSimNaive(q, d, 16)
		if got > want+1e-4 {
			t.Fatalf("trial %d: fde/R %v exceeds chamfer %v", trial, got, want)
		}
	}
}

// TestFDEApproximatesChamfer checks the additive error bound on sets with
// near-duplicate matches: |FDE/R − Chamfer| ≤ ε·|Q| with ε = 0.2 once
// 2^KSim is large against the document size, as the paper's theorem
// requires (k_sim = O(log(m)/ε)).
func TestFDEApproximatesChamfer(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const dim, eps = 32, 0.2
	cfg := FDEConfig{KSim: 7, DProj: 0, Reps: 20, FillEmpty: true, Seed: 5}
	e, err := NewFDE(dim, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sumErr float64
	for trial := 0; trial < 30; trial++ {
		q := unitVecs(rng, 8, dim)
		d := unitVecs(rng, 16, dim)
		// Plant a perturbed copy of each query vector in the document.
		for i := 0; i < 8; i++ {
			for j := 0; j < dim; j++ {
				d[i*2*dim+j] = q[i*dim+j] + 0.1*float32(rng.NormFloat64())/float32(math.Sqrt(dim))
			}
		}
		d = normalizedCopy(d, dim)
		got := float64(dot(e.EncodeQuery(nil, q), e.EncodeDoc(nil, d))) / float64(cfg.Reps)
		want := maxSimNaive(q, d, dim)
		if math.Abs(got-want) > eps*8 {
			t.Fatalf("trial %d: fde/R %v, chamfer %v: error beyond ε|Q| = %v", trial, got, want, eps*8)
		}
		sumErr += math.Abs(got - want)
	}
	t.Logf("mean |fde/R − chamfer| = %.3f over |Q| = 8", sumErr/30)
}

// TestFDEProjectionUnbiased checks that the ±1 inner projection keeps inner
// products on average over seeds.
func TestFDEProjectionUnbiased(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const dim = 16
	q, d := unitVecs(rng, 4, dim), unitVecs(rng, 10, dim)
	ref, _ := NewFDE(dim, FDEConfig{KSim: 2, DProj: 0, Reps: 1, FillEmpty: true, Seed: 1})
	want := float64(dot(ref.EncodeQuery(nil, q), ref.EncodeDoc(nil, d)))
	var sum float64
	const seeds = 400
	for s := uint64(0); s < seeds; s++ {
		e, _ := NewFDE(dim, FDEConfig{KSim: 2, DProj: 8, Reps: 1, FillEmpty: true, Seed: 1})
		// Same hyperplanes (seed 1) would give the same projection; vary the
		// projection by re-drawing it.
		r := rand.New(rand.NewPCG(s, 99))
		for i := range e.proj {
			e.proj[i] = float32(1 / math.Sqrt(8))
			if r.Uint64()&1 == 1 {
				e.proj[i] = -e.proj[i]
			}
		}
		sum += float64(dot(e.EncodeQuery(nil, q), e.EncodeDoc(nil, d)))
	}
	if got := sum / seeds; math.Abs(got-want) > 0.1*math.Max(1, math.Abs(want)) {
		t.Fatalf("mean projected inner product %v, want about %v", got, want)
	}
}

func TestFDEDimAndFinalProjection(t *testing.T) {
	e, err := NewFDE(8, FDEConfig{KSim: 2, DProj: 4, Reps: 3, FinalDim: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 10 {
		t.Fatalf("dim: got %d, want 10", e.Dim())
	}
	if got := len(e.EncodeDoc([]float32{7}, make([]float32, 16))); got != 11 {
		t.Fatalf("appended length: got %d, want 11", got)
	}
	e2, _ := NewFDE(8, FDEConfig{KSim: 2, DProj: 4, Reps: 3, Seed: 1})
	if e2.Dim() != 3*4*4 {
		t.Fatalf("dim: got %d, want 48", e2.Dim())
	}
}

func TestDedupRows(t *testing.T) {
	d := []float32{1, 2, 3, 4, 1, 2, 5, 6, 3, 4}
	got := dedupRows(d, 2)
	want := []float32{1, 2, 3, 4, 5, 6}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if u := []float32{1, 2, 3, 4}; &dedupRows(u, 2)[0] != &u[0] {
		t.Fatal("a set without repeats was copied")
	}
}

func TestFDEOversampleRescore(t *testing.T) {
	const dim = 16
	docs, queries := topicalDocs(11, 200, 5, dim)
	cfg := testConfig(dim)
	cfg.FDETable.Codec, cfg.FDETable.PQM, cfg.FDETable.Rescore = embtable.PQ, 16, embtable.RescoreF32
	s, err := Build(docs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		want := ids(s.Search(q, 5, SearchParams{Candidates: Exhaustive}, nil, nil))
		got := ids(s.Search(q, 5, SearchParams{Candidates: ByFDE, Rerank: 200, Oversample: 4}, nil, nil))
		if overlap(got, want) != 5 {
			t.Fatalf("full rerank through PQ+rescore: got %v, want %v", got, want)
		}
	}
}
