package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// FlatSparseConfig describes a synthetic BM25-like collection: term
// occurrences follow a shifted Zipf law, documents hold BM25 weights of
// their term counts (flat: a term's weight varies little between the
// documents that hold it), and queries are short with term-count weights.
// The zero value is not valid; start from DefaultFlatSparseConfig.
type FlatSparseConfig struct {
	// Docs is the number of documents. Default 100,000.
	Docs int
	// Queries is the number of queries. Default 500.
	Queries int
	// Dim is the vocabulary size. Default 30,522.
	Dim int
	// Zipf is the exponent s of the term law p(r) ∝ 1/(r+Shift)^s over
	// popularity ranks r = 1..Dim. Default 1.0.
	Zipf float64
	// Shift flattens the head of the law. Default 10 (the most common term
	// is in about 70% of documents with the default lengths).
	Shift float64
	// DocTokens is the median number of tokens per document (log-normal,
	// sigma 0.5, clipped to [10, 8·DocTokens]); distinct terms are fewer.
	// Default 100.
	DocTokens float64
	// QueryTerms is the median number of distinct query terms (log-normal,
	// sigma 0.5, clipped to [2, 60]). Default 10.
	QueryTerms float64
	// QueryFromDoc is the share of a query's terms taken from one random
	// document (the rest follow the term law), so queries have matches.
	// Default 0.6.
	QueryFromDoc float64
	// K1 and B are the BM25 parameters. Defaults 0.9 and 0.4.
	K1, B float64
	// Seed makes generation deterministic. Default 1.
	Seed uint64
}

// DefaultFlatSparseConfig returns the documented defaults.
func DefaultFlatSparseConfig() FlatSparseConfig {
	return FlatSparseConfig{Docs: 100_000, Queries: 500, Dim: 30522, Zipf: 1, Shift: 10,
		DocTokens: 100, QueryTerms: 10, QueryFromDoc: 0.6, K1: 0.9, B: 0.4, Seed: 1}
}

// Validate reports whether c can generate a collection.
func (c FlatSparseConfig) Validate() error {
	switch {
	case c.Docs < 1 || c.Queries < 0 || c.Dim < 2:
		return fmt.Errorf("%w: docs %d, queries %d, dim %d", ErrSparseSynthConfig, c.Docs, c.Queries, c.Dim)
	case !(c.Zipf > 0) || !(c.Shift >= 0):
		return fmt.Errorf("%w: zipf %v, shift %v", ErrSparseSynthConfig, c.Zipf, c.Shift)
	case !(c.DocTokens >= 1) || !(c.QueryTerms >= 1):
		return fmt.Errorf("%w: doc_tokens %v, query_terms %v", ErrSparseSynthConfig, c.DocTokens, c.QueryTerms)
	case !(c.QueryFromDoc >= 0 && c.QueryFromDoc <= 1) || !(c.K1 > 0) || !(c.B >= 0 && c.B <= 1):
		return fmt.Errorf("%w: query_from_doc %v, k1 %v, b %v", ErrSparseSynthConfig, c.QueryFromDoc, c.K1, c.B)
	}
	return nil
}

// GenerateFlatSparse generates cfg.Docs BM25-weighted documents and
// cfg.Queries queries with term-count weights. The output depends only on
// cfg.
func GenerateFlatSparse(cfg FlatSparseConfig) (docs, queries *Sparse, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_f1a7))
	w := make([]float64, cfg.Dim)
	for r := range w {
		w[r] = math.Pow(float64(r+1)+cfg.Shift, -cfg.Zipf)
	}
	perm := rng.Perm(cfg.Dim) // rank -> term id
	law := newAlias(w)
	// Term counts per document, then BM25 weights from the real document
	// frequencies and lengths.
	tfs := NewSparse(cfg.Docs, int(float64(cfg.Docs)*cfg.DocTokens))
	lens := make([]float64, cfg.Docs)
	df := make([]int, cfg.Dim)
	count := make([]uint32, cfg.Dim)
	var ids []uint32
	var tf []float32
	var total float64
	for d := range cfg.Docs {
		n := int(min(max(math.Round(cfg.DocTokens*math.Exp(0.5*rng.NormFloat64())), 10), 8*cfg.DocTokens))
		ids = ids[:0]
		for range n {
			t := uint32(perm[law.draw(rng)])
			if count[t] == 0 {
				ids = append(ids, t)
			}
			count[t]++
		}
		slices.Sort(ids)
		tf = tf[:0]
		for _, t := range ids {
			tf = append(tf, float32(count[t]))
			count[t] = 0
			df[t]++
		}
		tfs.Append(ids, tf)
		lens[d] = float64(n)
		total += float64(n)
	}
	avg := total / float64(cfg.Docs)
	docs = tfs
	docs.Dim = uint32(cfg.Dim)
	for d := range cfg.Docs {
		norm := cfg.K1 * (1 - cfg.B + cfg.B*lens[d]/avg)
		for j := docs.Offsets[d]; j < docs.Offsets[d+1]; j++ {
			t, f := docs.Indices[j], float64(docs.Values[j])
			idf := math.Log(1 + (float64(cfg.Docs)-float64(df[t])+0.5)/(float64(df[t])+0.5))
			docs.Values[j] = float32(idf * f * (cfg.K1 + 1) / (f + norm))
		}
	}
	queries = NewSparse(cfg.Queries, int(float64(cfg.Queries)*cfg.QueryTerms))
	queries.Dim = uint32(cfg.Dim)
	for range cfg.Queries {
		n := int(min(max(math.Round(cfg.QueryTerms*math.Exp(0.5*rng.NormFloat64())), 2), 60))
		src := rng.IntN(cfg.Docs)
		row, _ := docs.Row(src)
		ids = ids[:0]
		for range n {
			var t uint32
			if rng.Float64() < cfg.QueryFromDoc {
				t = row[rng.IntN(len(row))]
			} else {
				t = uint32(perm[law.draw(rng)])
			}
			if count[t] == 0 {
				ids = append(ids, t)
			}
			count[t]++
		}
		slices.Sort(ids)
		tf = tf[:0]
		for _, t := range ids {
			tf = append(tf, float32(count[t]))
			count[t] = 0
		}
		queries.Append(ids, tf)
	}
	return docs, queries, nil
}
