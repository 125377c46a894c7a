package dataset

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestSparseSuiteList(t *testing.T) {
	suite := SparseSuite()
	if len(suite) < 8 {
		t.Fatalf("got %d distributions, want at least 8", len(suite))
	}
	names := map[string]bool{}
	shapes := map[WeightShape]bool{}
	var noTopics, wide bool
	for _, s := range suite {
		if s.Name == "" || names[s.Name] || s.About == "" {
			t.Errorf("distribution %q: empty or duplicate name, or no description", s.Name)
		}
		names[s.Name] = true
		if err := s.Dist.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		shapes[s.Dist.Weights] = true
		noTopics = noTopics || s.Dist.TopicShare == 0
		wide = wide || s.Dist.Dim > 1<<16
	}
	if len(shapes) != 4 || !noTopics || !wide {
		t.Errorf("suite covers %d weight shapes (want 4), topic-free %v (want true), 32-bit ids %v (want true)", len(shapes), noTopics, wide)
	}
}

// TestSparseSuiteStats checks, at a small size, the statistics every
// distribution promises: row lengths within their bounds and around their
// medians, the longest list near HeadDF·N, ids inside the vocabulary (and
// beyond 16 bits for the wide one), positive finite values.
func TestSparseSuiteStats(t *testing.T) {
	const n, nq = 3000, 300
	for _, s := range SparseSuite() {
		t.Run(s.Name, func(t *testing.T) {
			d := s.Dist
			docs, queries, err := s.Generate(n, nq, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []*Sparse{docs, queries} {
				if err := x.Validate(); err != nil {
					t.Fatal(err)
				}
				if x.Dim != uint32(d.Dim) {
					t.Errorf("dim %d, want %d", x.Dim, d.Dim)
				}
			}
			if docs.Len() != n || queries.Len() != nq {
				t.Fatalf("got %d docs %d queries, want %d %d", docs.Len(), queries.Len(), n, nq)
			}
			ds, qs := ComputeSparseStats(docs), ComputeSparseStats(queries)
			checkNNZ(t, "document", ds, d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax)
			checkNNZ(t, "query", qs, d.QueryNNZMin, d.QueryNNZMedian, d.QueryNNZMax)
			if got := ds.TopDF[0]; got < 0.8*d.HeadDF || got > min(1.2*d.HeadDF, 0.97) {
				t.Errorf("longest list %.3f N, want about %.3f N", got, d.HeadDF)
			}
			if ds.ValueMin <= 0 || qs.ValueMin <= 0 || math.IsInf(ds.ValueMax, 0) {
				t.Errorf("values [%v, %v], queries from %v; want positive and finite", ds.ValueMin, ds.ValueMax, qs.ValueMin)
			}
			maxID := slices.Max(docs.Indices)
			if int(maxID) >= d.Dim {
				t.Errorf("max id %d, want < %d", maxID, d.Dim)
			}
			if d.Dim > 1<<16 && maxID < 1<<16 {
				t.Errorf("max id %d: want ids beyond 16 bits in a %d-term vocabulary", maxID, d.Dim)
			}
			if d.Weights == WeightBM25 {
				for _, v := range queries.Values {
					if v != float32(math.Round(float64(v))) || v < 1 {
						t.Fatalf("BM25 query value %v, want a term count", v)
					}
				}
			}
		})
	}
}

func checkNNZ(t *testing.T, what string, st SparseStats, lo, med, hi int) {
	t.Helper()
	if st.NNZMin < lo || st.NNZMax > hi {
		t.Errorf("%s nnz in [%d, %d], want within [%d, %d]", what, st.NNZMin, st.NNZMax, lo, hi)
	}
	if p := float64(st.NNZP50); p < 0.85*float64(med) || p > 1.15*float64(med) {
		t.Errorf("%s nnz median %d, want about %d", what, st.NNZP50, med)
	}
}

func TestSparseSuiteDeterministic(t *testing.T) {
	for _, s := range SparseSuite() {
		t.Run(s.Name, func(t *testing.T) {
			d1, q1, err := s.Generate(600, 50, 3)
			if err != nil {
				t.Fatal(err)
			}
			d2, q2, _ := s.Generate(600, 50, 3)
			if !sparseEqual(d1, d2) || !sparseEqual(q1, q2) {
				t.Fatal("same seed, different output")
			}
			// Queries do not depend on the number of documents, and the
			// first documents do not either.
			d3, q3, _ := s.Generate(100, 50, 3)
			if !sparseEqual(q1, q3) || !slices.Equal(d3.Indices, d1.Indices[:d3.NNZ()]) || !slices.Equal(d3.Values, d1.Values[:d3.NNZ()]) {
				t.Error("output depends on the number of documents")
			}
			d4, _, _ := s.Generate(600, 50, 4)
			if sparseEqual(d1, d4) {
				t.Error("different seeds, same output")
			}
		})
	}
}

func sparseEqual(a, b *Sparse) bool {
	return a.Dim == b.Dim && slices.Equal(a.Offsets, b.Offsets) && slices.Equal(a.Indices, b.Indices) && slices.Equal(a.Values, b.Values)
}

// TestSparseSuiteQueriesRelate checks that queries come from the documents'
// topic model: with topics, a query's best document shares far more terms
// with it than the query shares with an average document.
func TestSparseSuiteQueriesRelate(t *testing.T) {
	for _, s := range SparseSuite() {
		if s.Dist.QueryTopicShare == 0 {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			docs, queries, err := s.Generate(2000, 40, 5)
			if err != nil {
				t.Fatal(err)
			}
			inQuery := make([]bool, docs.Dim)
			var best, mean float64
			for qi := range queries.Len() {
				qt, _ := queries.Row(qi)
				for _, x := range qt {
					inQuery[x] = true
				}
				top, sum := 0, 0
				for di := range docs.Len() {
					dt, _ := docs.Row(di)
					c := 0
					for _, x := range dt {
						if inQuery[x] {
							c++
						}
					}
					top, sum = max(top, c), sum+c
				}
				for _, x := range qt {
					inQuery[x] = false
				}
				best += float64(top)
				mean += float64(sum) / float64(docs.Len())
			}
			if best < 2*mean {
				t.Errorf("best document shares %.1f query terms on average, a mean document %.1f; want at least twice", best/40, mean/40)
			}
		})
	}
}

func TestSparseDistValidate(t *testing.T) {
	base := suiteBase()
	for name, change := range map[string]func(*SparseDist){
		"small dim":         func(d *SparseDist) { d.Dim = 10 },
		"head df 1":         func(d *SparseDist) { d.HeadDF = 1 },
		"zipf 0":            func(d *SparseDist) { d.Zipf = 0 },
		"doc nnz order":     func(d *SparseDist) { d.DocNNZMedian = d.DocNNZMax + 1 },
		"query nnz 0":       func(d *SparseDist) { d.QueryNNZMin = 0 },
		"weights":           func(d *SparseDist) { d.Weights = 9 },
		"topics 0 share":    func(d *SparseDist) { d.Topics = 0 },
		"focus":             func(d *SparseDist) { d.TopicFocus = 0.5 },
		"query shares":      func(d *SparseDist) { d.QueryHeadShare = 0.7 },
		"topic share high":  func(d *SparseDist) { d.TopicShare = 0.95 },
		"topic terms large": func(d *SparseDist) { d.TopicTerms = d.Dim },
	} {
		d := base
		change(&d)
		if err := d.Validate(); !errors.Is(err, ErrSparseDist) {
			t.Errorf("%s: err %v, want ErrSparseDist", name, err)
		}
		if _, _, err := d.Generate(10, 1, 1); !errors.Is(err, ErrSparseDist) {
			t.Errorf("%s: Generate err %v, want ErrSparseDist", name, err)
		}
	}
	if _, _, err := base.Generate(-1, 1, 1); !errors.Is(err, ErrSparseDist) {
		t.Errorf("negative n: err %v, want ErrSparseDist", err)
	}
}
