package shard

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoal-search/shoal/shard/seismic"
)

// sealedShard opens a shard with cfg and seals 600 skewed documents into one
// indexed segment.
func sealedShard(t *testing.T, cfg Config) *Shard {
	t.Helper()
	s, err := Open(testSchema(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sealSegments(rand.New(rand.NewPCG(5, 5)), "d", 1, 600, applier(t, s))
	waitBuilt(t, s)
	return s
}

// TestSparseTargetRecall checks how a segment picks its Seismic settings:
// from its calibration for the collection's target by default, for the
// query's target when given, fixed knobs when asked, and exact scoring for
// target 1; and that the collection's default reaches its recall.
func TestSparseTargetRecall(t *testing.T) {
	s := sealedShard(t, segConfig())
	infos := s.Segments()
	if len(infos) != 2 || infos[1].State != "ready" || infos[1].Sparse == nil || !infos[1].Sparse.Calibrated {
		t.Fatalf("segments: %+v", infos)
	}
	info := infos[1].Sparse
	if info.Entry.Target != 0.95 || info.Adaptive.Flatness <= 0 {
		t.Errorf("calibration at the default target: %+v", info)
	}
	ix := s.segs[0].idx.Load().sparse
	want, _, _ := ix.ParamsFor(0.95, seismic.DefaultSearchParams())
	if got, exact := s.sparseParams(ix, QueryParams{}); got != want || exact == info.Entry.Reached {
		t.Errorf("default: got %+v (exact %v), want %+v (reached %v)", got, exact, want, info.Entry.Reached)
	}
	want8, _, _ := ix.ParamsFor(0.8, seismic.DefaultSearchParams())
	if got, _ := s.sparseParams(ix, QueryParams{TargetRecall: 0.8}); got != want8 {
		t.Errorf("target 0.8: got %+v, want %+v", got, want8)
	}
	if _, exact := s.sparseParams(ix, QueryParams{TargetRecall: 1}); !exact {
		t.Error("target 1 is not scored exactly")
	}
	if got, exact := s.sparseParams(ix, QueryParams{QueryCut: 7}); exact || got.QueryCut != 7 || got.HeapFactor != seismic.DefaultSearchParams().HeapFactor {
		t.Errorf("query_cut 7: got %+v (exact %v)", got, exact)
	}
	s.cfg.Sparse.QueryCut, s.cfg.Sparse.HeapFactor = 5, 0.9
	if got, _ := s.sparseParams(ix, QueryParams{}); got.QueryCut != 5 || got.HeapFactor != 0.9 {
		t.Errorf("collection knobs: got %+v", got)
	}
	if got, _ := s.sparseParams(ix, QueryParams{TargetRecall: 0.8}); got != want8 {
		t.Errorf("a query's target wins over the collection's knobs: got %+v, want %+v", got, want8)
	}
	s.cfg.Sparse = DefaultSparseDefaults()

	r := rand.New(rand.NewPCG(6, 6))
	var rec float64
	const nq = 60
	for i := 0; i < nq; i++ {
		q := skewedDoc(r, "q")
		got, err := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse})
		if err != nil {
			t.Fatal(err)
		}
		exact, _ := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse, Exact: true})
		rec += recallOf(got.Sparse, exact.Sparse)
		one, _ := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse, Params: QueryParams{TargetRecall: 1}})
		if !slices.Equal(hitIDs(one.Sparse), hitIDs(exact.Sparse)) {
			t.Fatalf("query %d: target 1 gave %v, exact %v", i, hitIDs(one.Sparse), hitIDs(exact.Sparse))
		}
	}
	t.Logf("recall@10 at the default target: %.3f (%+v)", rec/nq, info.Entry)
	if rec/nq < 0.95 {
		t.Errorf("recall@10 %.3f at the default target 0.95", rec/nq)
	}
}

// TestSparseKindExact checks that kind "exact" builds no Seismic index and
// answers exactly.
func TestSparseKindExact(t *testing.T) {
	cfg := segConfig()
	cfg.Sparse.Kind = SparseExact
	s := sealedShard(t, cfg)
	infos := s.Segments()
	if len(infos) != 2 || infos[1].State != "ready" || infos[1].Sparse != nil {
		t.Fatalf("segments: %+v", infos)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 10; i++ {
		q := skewedDoc(r, "q")
		got, _ := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse})
		exact, _ := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse, Exact: true})
		if !slices.Equal(hitIDs(got.Sparse), hitIDs(exact.Sparse)) {
			t.Fatalf("query %d: got %v, exact %v", i, hitIDs(got.Sparse), hitIDs(exact.Sparse))
		}
	}
	bad := DefaultConfig()
	bad.Sparse.Kind = "bm25"
	if err := bad.Validate(); err == nil {
		t.Error("sparse kind bm25 accepted")
	}
}

func hitIDs(hs []Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}
