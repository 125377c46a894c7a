package dataset

// SparseSpec is one named distribution of the sparse suite.
type SparseSpec struct {
	// Name identifies the distribution in benchmark output (lower case,
	// no spaces).
	Name string
	// About says in one line what the distribution is and how it differs
	// from the suite's base.
	About string
	// Dist is the distribution.
	Dist SparseDist
}

// Generate returns n documents and nq queries of the distribution,
// deterministic for seed (see SparseDist.Generate).
func (s SparseSpec) Generate(n, nq int, seed uint64) (docs, queries *Sparse, err error) {
	return s.Dist.Generate(n, nq, seed)
}

// suiteBase is the learned-sparse-like centre of the suite; every other
// distribution changes one property of it.
func suiteBase() SparseDist {
	return SparseDist{
		Dim: 30522, HeadDF: 0.5, Zipf: 1.0,
		DocNNZMin: 40, DocNNZMedian: 110, DocNNZMax: 250,
		QueryNNZMin: 15, QueryNNZMedian: 35, QueryNNZMax: 60,
		Weights: WeightSPLADE,
		Topics:  1000, TopicTerms: 200, TopicShare: 0.35, TopicFocus: 2,
		QueryTopicShare: 0.4, QueryHeadShare: 0.2,
	}
}

// SparseSuite returns the suite of sparse distributions that benchmarks and
// tests run the sparse index on. Each one varies one property of the
// learned-sparse-like base (the first): document-frequency skew, weight
// shape, row lengths, topical co-occurrence and vocabulary size. Several
// are deliberately unlike GenerateSparse, the generator Seismic's defaults
// were tuned on. The list and every distribution in it are fixed: a
// benchmark figure names a distribution and stays comparable.
func SparseSuite() []SparseSpec {
	var out []SparseSpec
	add := func(name, about string, change func(*SparseDist)) {
		d := suiteBase()
		change(&d)
		out = append(out, SparseSpec{Name: name, About: about, Dist: d})
	}
	add("splade-base", "the base: SPLADE-like heavy-tailed weights, longest list 0.5N, Zipf 1, 40-250 nnz (median 110) per document and 15-60 (35) per query, 1,000 topics, BERT vocabulary",
		func(*SparseDist) {})
	add("df-flat", "flat term frequencies: longest list 0.05N, Zipf 0.7 (thousands of lists of 1-5% of documents, no stop-word lists)",
		func(d *SparseDist) { d.HeadDF, d.Zipf = 0.05, 0.7 })
	add("df-steep", "steep term frequencies: longest list 0.9N, Zipf 1.4 (a few stop-word lists cover almost every document, then a long tail)",
		func(d *SparseDist) { d.HeadDF, d.Zipf = 0.9, 1.4 })
	add("bm25", "BM25-like flat weights (idf x saturated tf, k1 0.9, b 0.4) and term-count queries, 40-300 nnz (150) per document and 5-50 (18) per query, longest list 0.6N, 35% of query terms frequent",
		func(d *SparseDist) {
			d.Weights, d.HeadDF = WeightBM25, 0.6
			d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax = 40, 150, 300
			d.QueryNNZMin, d.QueryNNZMedian, d.QueryNNZMax = 5, 18, 50
			d.QueryHeadShare = 0.35
		})
	add("lognormal", "log-normal weights (sigma 0.8, weakly tied to rarity): no saturation, no salient terms",
		func(d *SparseDist) { d.Weights = WeightLogNormal })
	add("exponential", "exponential weights (mean sqrt(idf)): most values near zero, mass spread over many terms",
		func(d *SparseDist) { d.Weights = WeightExponential })
	add("short", "short rows: 20-60 nnz (35) per document, 5-20 (10) per query",
		func(d *SparseDist) {
			d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax = 20, 35, 60
			d.QueryNNZMin, d.QueryNNZMedian, d.QueryNNZMax = 5, 10, 20
		})
	add("long", "long rows: 150-300 nnz (230) per document, 30-60 (50) per query",
		func(d *SparseDist) {
			d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax = 150, 230, 300
			d.QueryNNZMin, d.QueryNNZMedian, d.QueryNNZMax = 30, 50, 60
		})
	add("topics-none", "no topical co-occurrence: documents and queries draw terms by popularity alone",
		func(d *SparseDist) { d.TopicShare, d.QueryTopicShare = 0, 0 })
	add("topics-strong", "strong clusters: 200 topics of 150 terms, 75% of a document's and 70% of a query's terms from its topic, focused on core terms",
		func(d *SparseDist) {
			d.Topics, d.TopicTerms, d.TopicShare, d.TopicFocus = 200, 150, 0.75, 3
			d.QueryTopicShare, d.QueryHeadShare = 0.7, 0.1
		})
	add("llm-250k", "LLM vocabulary: 250,000 terms (32-bit ids), longest list 0.3N, Zipf 0.8, 3,000 topics of 400 terms",
		func(d *SparseDist) {
			d.Dim, d.HeadDF, d.Zipf = 250000, 0.3, 0.8
			d.Topics, d.TopicTerms = 3000, 400
		})
	return out
}
