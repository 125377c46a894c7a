package seismic

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoal-search/shoal/internal/dataset"
)

// dist describes a small synthetic sparse collection for the adaptive-build
// tests. It is a test-only stand-in for the distribution suite of
// internal/dataset: terms by a Zipf-like popularity, optional topical
// clusters, and one of several weight shapes.
type dist struct {
	name    string
	docs    int
	queries int
	dim     int
	zipf    float64 // popularity exponent over term ranks
	docNNZ  int     // mean terms per document
	qNNZ    int     // mean terms per query
	topics  int     // 0: no topical structure
	share   float64 // share of a document's terms from its topic
	shape   string  // bm25, lognormal, exponential, pareto
	unitQ   bool    // queries weigh terms 1 (term counts)
	seed    uint64
}

// generate returns the documents and queries of d.
func (d dist) generate() (Forward, *dataset.Sparse) {
	r := rand.New(rand.NewPCG(d.seed, 99))
	// Cumulative popularity over ranks, ranks permuted over ids.
	cum := make([]float64, d.dim)
	var acc float64
	for i := range cum {
		acc += 1 / math.Pow(float64(i+1), d.zipf)
		cum[i] = acc
	}
	perm := r.Perm(d.dim)
	draw := func() uint32 {
		x := r.Float64() * acc
		i, _ := slices.BinarySearch(cum, x)
		return uint32(perm[min(i, d.dim-1)])
	}
	topicTerms := make([][]uint32, d.topics)
	for i := range topicTerms {
		for j := 0; j < 60; j++ {
			topicTerms[i] = append(topicTerms[i], uint32(r.IntN(d.dim)))
		}
	}
	// Per-term scale, IDF-like: rare terms heavier.
	scale := make([]float64, d.dim)
	for rank, id := range perm {
		scale[id] = 0.5 + math.Log1p(float64(rank+1)/50)
	}
	weight := func(t uint32, dl, avg float64) float32 {
		switch d.shape {
		case "bm25":
			tf := 1 + float64(r.IntN(3))*float64(r.IntN(2))
			k1, b := 1.2, 0.75
			return float32(scale[t] * tf * (k1 + 1) / (tf + k1*(1-b+b*dl/avg)))
		case "lognormal":
			return float32(scale[t] * math.Exp(r.NormFloat64()*0.8))
		case "exponential":
			return float32(scale[t] * r.ExpFloat64())
		default: // pareto, alpha 1.3
			return float32(scale[t] * (math.Pow(1-r.Float64(), -1/1.3) - 0.9))
		}
	}
	row := func(n, topic int, share float64) ([]uint32, int) {
		seen := map[uint32]bool{}
		var ts []uint32
		for tries := 0; len(ts) < n && tries < 20*n; tries++ {
			var t uint32
			if topic >= 0 && r.Float64() < share {
				tt := topicTerms[topic]
				t = tt[min(r.IntN(len(tt)), r.IntN(len(tt)))]
			} else {
				t = draw()
			}
			if !seen[t] {
				seen[t] = true
				ts = append(ts, t)
			}
		}
		slices.Sort(ts)
		return ts, len(ts)
	}
	f := Forward{Offsets: []int64{0}, Dim: uint32(d.dim)}
	for i := 0; i < d.docs; i++ {
		n := max(3, int(float64(d.docNNZ)*math.Exp(r.NormFloat64()*0.4)))
		topic := -1
		if d.topics > 0 {
			topic = r.IntN(d.topics)
		}
		ts, dl := row(n, topic, d.share)
		for _, t := range ts {
			f.Indices = append(f.Indices, t)
			f.Values = append(f.Values, max(1e-3, weight(t, float64(dl), float64(d.docNNZ))))
		}
		f.Offsets = append(f.Offsets, int64(len(f.Indices)))
	}
	q := dataset.NewSparse(d.queries, d.queries*d.qNNZ)
	q.Dim = uint32(d.dim)
	for i := 0; i < d.queries; i++ {
		n := max(2, int(float64(d.qNNZ)*math.Exp(r.NormFloat64()*0.35)))
		topic := -1
		if d.topics > 0 {
			topic = r.IntN(d.topics)
		}
		ts, _ := row(n, topic, 0.5)
		vs := make([]float32, len(ts))
		for j, t := range ts {
			vs[j] = 1
			if !d.unitQ {
				vs[j] = max(1e-3, weight(t, float64(n), float64(d.qNNZ)))
			}
		}
		q.Append(ts, vs)
	}
	return f, q
}

// testDists are the distributions the adaptive build is tested on: flat
// BM25-like weights with term-count queries, log-normal, exponential and
// heavy-tailed weights, with different lengths, skews and topicality.
func testDists(n int) []dist {
	return []dist{
		{name: "bm25-flat", docs: n, queries: 150, dim: 30522, zipf: 1.0, docNNZ: 60, qNNZ: 12, topics: 200, share: 0.3, shape: "bm25", unitQ: true, seed: 1},
		{name: "lognormal-long", docs: n, queries: 150, dim: 30522, zipf: 0.9, docNNZ: 150, qNNZ: 40, topics: 500, share: 0.35, shape: "lognormal", seed: 2},
		{name: "exponential-short", docs: n, queries: 150, dim: 30522, zipf: 1.2, docNNZ: 25, qNNZ: 8, topics: 0, shape: "exponential", seed: 3},
		{name: "pareto-skewed", docs: n, queries: 150, dim: 250000, zipf: 1.1, docNNZ: 100, qNNZ: 30, topics: 300, share: 0.5, shape: "pareto", seed: 4},
	}
}

// TestRecallDistributions checks that default settings (adaptive build,
// calibrated parameters for the default target 0.95) reach recall@10 of
// 0.95 against exact search on every test distribution and on the
// SPLADE-like generator.
func TestRecallDistributions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds several collections")
	}
	n := 8000
	type tc struct {
		name string
		fwd  Forward
		q    *dataset.Sparse
	}
	var cases []tc
	for _, d := range testDists(n) {
		f, q := d.generate()
		cases = append(cases, tc{d.name, f, q})
	}
	f, q := synth(t, n, 150)
	cases = append(cases, tc{"splade-like", f, q})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ex, err := NewExact(c.fwd)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := Build(c.fwd, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			p, e, ok := ix.ParamsFor(0.95, DefaultSearchParams())
			if !ok {
				t.Fatal("index not calibrated")
			}
			r := meanRecall(t, ix, ex, c.q, 10, p)
			st := ix.Stats()
			t.Logf("%s: recall@10 %.3f at %+v; adaptive %+v; postings %.2f of nnz, index %.2fx fwd",
				c.name, r, e, ix.Adaptive(), float64(st.Postings)/float64(st.NNZ), float64(st.TotalBytes)/float64(st.ForwardBytes))
			// An entry that did not reach the target sends searches to an
			// exact path (the shard scores such segments exactly).
			if r < 0.95 && e.Reached {
				t.Errorf("recall@10 %.3f < 0.95 at the calibrated settings", r)
			}
		})
	}
}
