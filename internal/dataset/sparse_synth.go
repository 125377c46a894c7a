package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// ErrSparseSynthConfig reports an invalid SparseSynthConfig.
var ErrSparseSynthConfig = errors.New("dataset: invalid sparse synth config")

// SparseSynthConfig describes a synthetic learned-sparse collection calibrated
// to SPLADE on MS MARCO. The zero value is not valid; start from
// DefaultSparseSynthConfig.
type SparseSynthConfig struct {
	// Docs is the number of documents. Default 100,000.
	Docs int
	// Queries is the number of queries. Default 1,000.
	Queries int
	// Dim is the vocabulary size. Default 30,522 (BERT uncased).
	Dim int
	// DocNNZMedian is the median number of nonzeros per document; lengths are
	// log-normal around it (sigma DocNNZSigma) and clipped to
	// [DocNNZMin, DocNNZMax]. Defaults 112, 0.4, 40, 250 (mean about 120).
	DocNNZMedian float64
	// DocNNZSigma is the log-space spread of document lengths. Default 0.4.
	DocNNZSigma float64
	// DocNNZMin is the smallest document length. Default 40.
	DocNNZMin int
	// DocNNZMax is the largest document length. Default 250.
	DocNNZMax int
	// QueryNNZMedian is the median number of nonzeros per query, log-normal
	// with sigma 0.35, clipped to [15, 100]. Default 43 (mean about 45).
	QueryNNZMedian float64
	// HeadDF is the document frequency of the most common term as a fraction
	// of documents. Default 0.6.
	HeadDF float64
	// Topics is the number of latent topics; documents and queries draw a
	// share of their terms from one topic, which gives the collection the
	// neighbourhood structure real text has. Default 1,000.
	Topics int
	// TopicTerms is the number of terms per topic. Default 200.
	TopicTerms int
	// TopicShare is the fraction of a document's terms drawn from its topic.
	// Default 0.35.
	TopicShare float64
	// Seed makes generation deterministic. Default 1.
	Seed uint64
}

// DefaultSparseSynthConfig returns the calibrated defaults.
func DefaultSparseSynthConfig() SparseSynthConfig {
	return SparseSynthConfig{
		Docs: 100_000, Queries: 1000, Dim: 30522,
		DocNNZMedian: 112, DocNNZSigma: 0.4, DocNNZMin: 40, DocNNZMax: 250,
		QueryNNZMedian: 43, HeadDF: 0.6,
		Topics: 1000, TopicTerms: 200, TopicShare: 0.35, Seed: 1,
	}
}

// Validate reports whether c can generate a collection.
func (c SparseSynthConfig) Validate() error {
	switch {
	case c.Docs < 0 || c.Queries < 0:
		return fmt.Errorf("%w: negative docs or queries", ErrSparseSynthConfig)
	case c.Dim < 1000:
		return fmt.Errorf("%w: dim %d < 1000", ErrSparseSynthConfig, c.Dim)
	case c.DocNNZMin < 1 || c.DocNNZMax < c.DocNNZMin || c.DocNNZMax > c.Dim/4:
		return fmt.Errorf("%w: doc nnz bounds [%d, %d]", ErrSparseSynthConfig, c.DocNNZMin, c.DocNNZMax)
	case c.DocNNZMedian < float64(c.DocNNZMin) || c.DocNNZMedian > float64(c.DocNNZMax) || c.DocNNZSigma < 0:
		return fmt.Errorf("%w: doc nnz median %v", ErrSparseSynthConfig, c.DocNNZMedian)
	case c.QueryNNZMedian < 1 || c.QueryNNZMedian > 100:
		return fmt.Errorf("%w: query nnz median %v", ErrSparseSynthConfig, c.QueryNNZMedian)
	case c.HeadDF <= 0 || c.HeadDF >= 1:
		return fmt.Errorf("%w: head df %v", ErrSparseSynthConfig, c.HeadDF)
	case c.Topics < 1 || c.TopicTerms < 10 || c.TopicTerms > c.Dim/4:
		return fmt.Errorf("%w: topics %d x %d terms", ErrSparseSynthConfig, c.Topics, c.TopicTerms)
	case c.TopicShare < 0 || c.TopicShare > 0.9:
		return fmt.Errorf("%w: topic share %v", ErrSparseSynthConfig, c.TopicShare)
	}
	return nil
}

// synthModel holds the term statistics shared by all generated rows.
type synthModel struct {
	cfg    SparseSynthConfig
	mu     []float64 // per term: mean of the log-space weight
	bg     alias     // background term sampler (by term id)
	head   alias     // sampler over the most frequent terms, for queries
	topics [][]uint32
}

// GenerateSparse generates cfg.Docs documents and cfg.Queries queries. The
// output depends only on cfg (not on the number of cores). Queries depend
// only on the term and topic model, so they are the same for any Docs.
func GenerateSparse(cfg SparseSynthConfig) (docs, queries *Sparse, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	m := newSynthModel(cfg)
	docs = m.rows(cfg.Docs, cfg.Seed*2+1, false)
	queries = m.rows(cfg.Queries, cfg.Seed*2+2, true)
	return docs, queries, nil
}

// popularity returns the target document frequency (fraction of documents)
// of each popularity rank: one head term at HeadDF, ten terms from 0.2 down
// to 0.1, then a tail p(r) = 0.1*c/(r-11+c) whose scale c is solved so that
// the expected background draws per document come out right.
func popularity(cfg SparseSynthConfig, budget float64) []float64 {
	p := make([]float64, cfg.Dim)
	fill := func(c float64) float64 {
		sum := 0.0
		for r := range p {
			switch {
			case r == 0:
				p[r] = cfg.HeadDF
			case r <= 10:
				p[r] = 0.2 * math.Pow(0.5, float64(r-1)/9)
			default:
				p[r] = 0.1 * c / (float64(r-11) + c)
			}
			sum += -math.Log(1 - p[r])
		}
		return sum
	}
	lo, hi := 1e-3, 1e6
	for range 100 {
		mid := math.Sqrt(lo * hi)
		if fill(mid) < budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	fill(lo)
	return p
}

func newSynthModel(cfg SparseSynthConfig) *synthModel {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	meanLen := cfg.DocNNZMedian * math.Exp(cfg.DocNNZSigma*cfg.DocNNZSigma/2)
	p := popularity(cfg, (1-cfg.TopicShare)*meanLen)
	perm := rng.Perm(cfg.Dim) // rank -> term id
	m := &synthModel{cfg: cfg, mu: make([]float64, cfg.Dim)}
	w := make([]float64, cfg.Dim)
	for r, t := range perm {
		w[t] = -math.Log(1 - p[r])
		// Frequent terms carry small weights, rare ones large (IDF-like).
		m.mu[t] = -1.8 + 0.3*math.Log(1/p[r])
	}
	m.bg = newAlias(w)
	const nHead = 300
	hw := make([]float64, cfg.Dim)
	for r := 0; r < nHead; r++ {
		hw[perm[r]] = p[r]
	}
	m.head = newAlias(hw)
	// Topic vocabularies come from below the head, favouring mid-frequency
	// terms (weight sqrt(p)).
	tw := make([]float64, cfg.Dim)
	for r := 30; r < cfg.Dim; r++ {
		tw[perm[r]] = math.Sqrt(p[r])
	}
	ta := newAlias(tw)
	m.topics = make([][]uint32, cfg.Topics)
	seen := make(map[uint32]bool, cfg.TopicTerms)
	for i := range m.topics {
		clear(seen)
		terms := make([]uint32, 0, cfg.TopicTerms)
		for len(terms) < cfg.TopicTerms {
			t := uint32(ta.draw(rng))
			if !seen[t] {
				seen[t] = true
				terms = append(terms, t)
			}
		}
		m.topics[i] = terms
	}
	return m
}

const synthChunk = 4096

// rows generates n rows in parallel chunks. Each chunk has its own random
// stream, so the result does not depend on scheduling.
func (m *synthModel) rows(n int, stream uint64, query bool) *Sparse {
	chunks := (n + synthChunk - 1) / synthChunk
	// Row lengths first, so that every chunk writes straight into its place.
	s := &Sparse{Offsets: make([]int64, n+1), Dim: uint32(m.cfg.Dim)}
	for c := 0; c < chunks; c++ {
		rng := rand.New(rand.NewPCG(m.cfg.Seed^0x9e3779b97f4a7c15, stream<<32|uint64(c)))
		for i := c * synthChunk; i < min(n, (c+1)*synthChunk); i++ {
			s.Offsets[i+1] = s.Offsets[i] + int64(m.length(rng, query))
		}
	}
	nnz := s.Offsets[n]
	s.Indices = make([]uint32, nnz)
	s.Values = make([]float32, nnz)
	var next int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &rowGen{m: m, stamp: make([]uint32, m.cfg.Dim)}
			for {
				mu.Lock()
				c := int(next)
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				rng := rand.New(rand.NewPCG(m.cfg.Seed, stream<<32|uint64(c)))
				for i := c * synthChunk; i < min(n, (c+1)*synthChunk); i++ {
					a, b := s.Offsets[i], s.Offsets[i+1]
					g.row(rng, s.Indices[a:b], s.Values[a:b], query)
				}
			}
		}()
	}
	wg.Wait()
	return s
}

func (m *synthModel) length(rng *rand.Rand, query bool) int {
	if query {
		l := math.Round(m.cfg.QueryNNZMedian * math.Exp(0.35*rng.NormFloat64()))
		return int(min(max(l, 15), 100))
	}
	l := math.Round(m.cfg.DocNNZMedian * math.Exp(m.cfg.DocNNZSigma*rng.NormFloat64()))
	return int(min(max(l, float64(m.cfg.DocNNZMin)), float64(m.cfg.DocNNZMax)))
}

// rowGen is one worker's scratch for generating rows.
type rowGen struct {
	m     *synthModel
	stamp []uint32 // stamp[t] == gen marks term t as used in the current row
	gen   uint32
	pairs []synthPair
}

type synthPair struct {
	t uint32
	g float64 // log-space weight
}

// row fills idx and val (same length L) with one document or query.
func (g *rowGen) row(rng *rand.Rand, idx []uint32, val []float32, query bool) {
	m := g.m
	L := len(idx)
	g.gen++
	g.pairs = g.pairs[:0]
	add := func(t uint32, boost float64) bool {
		if g.stamp[t] == g.gen || len(g.pairs) == L {
			return false
		}
		g.stamp[t] = g.gen
		g.pairs = append(g.pairs, synthPair{t, m.mu[t] + boost + 0.9*rng.NormFloat64()})
		return true
	}
	topic := m.topics[rng.IntN(len(m.topics))]
	// Topic terms: biased to the topic's first (core) terms, which most of
	// the topic's rows then share.
	share := m.cfg.TopicShare
	if query {
		share = 0.4
	}
	nTopic := int(math.Round(share * float64(L)))
	for try := 0; try < 8*nTopic && len(g.pairs) < nTopic; try++ {
		u := rng.Float64()
		add(topic[int(u*u*float64(len(topic)))], 0.7)
	}
	// A few salient terms carry most of the mass.
	for j := 0; j < min(4, len(g.pairs)); j++ {
		g.pairs[rng.IntN(len(g.pairs))].g += 1.2
	}
	if query {
		nHead := len(g.pairs) + int(0.25*float64(L))
		for try := 0; try < 8*L && len(g.pairs) < nHead; try++ {
			add(uint32(m.head.draw(rng)), 0.3)
		}
	}
	for try := 0; try < 20*L && len(g.pairs) < L; try++ {
		add(uint32(m.bg.draw(rng)), 0)
	}
	// Pathological draws: fill deterministically from a random start.
	for t := uint32(rng.IntN(m.cfg.Dim)); len(g.pairs) < L; t = (t + 1) % uint32(m.cfg.Dim) {
		add(t, 0)
	}
	slices.SortFunc(g.pairs, func(a, b synthPair) int { return int(a.t) - int(b.t) })
	for j, p := range g.pairs {
		idx[j] = p.t
		// Log-saturated, always positive.
		val[j] = float32(math.Log1p(math.Exp(p.g)))
	}
}

// alias is Vose's alias table for O(1) weighted sampling.
type alias struct {
	prob  []float64
	other []int32
}

func newAlias(w []float64) alias {
	n := len(w)
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	a := alias{prob: make([]float64, n), other: make([]int32, n)}
	scaled := make([]float64, n)
	var small, large []int32
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s], a.other[s] = scaled[s], l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		a.prob[i], a.other[i] = 1, i
	}
	for _, i := range small {
		a.prob[i], a.other[i] = 1, i
	}
	return a
}

func (a alias) draw(rng *rand.Rand) int {
	i := rng.IntN(len(a.prob))
	if rng.Float64() < a.prob[i] {
		return i
	}
	return int(a.other[i])
}

// SparseStats summarizes a sparse collection: the statistics the synthetic
// generator is calibrated on.
type SparseStats struct {
	// Rows is the number of rows.
	Rows int `json:"rows"`
	// NNZMean, NNZMin, NNZP5, NNZP50, NNZP95 and NNZMax describe row lengths.
	NNZMean float64 `json:"nnz_mean"`
	NNZMin  int     `json:"nnz_min"`
	NNZP5   int     `json:"nnz_p5"`
	NNZP50  int     `json:"nnz_p50"`
	NNZP95  int     `json:"nnz_p95"`
	NNZMax  int     `json:"nnz_max"`
	// TopDF holds the document frequency of the 12 longest lists, as
	// fractions of Rows.
	TopDF []float64 `json:"top_df"`
	// Lists10to20 counts the lists covering between 10% and 20% of rows.
	Lists10to20 int `json:"lists_10_20pct"`
	// ListsUsed counts the components that occur at least once.
	ListsUsed int `json:"lists_used"`
	// MedianDF is the median document frequency over used components, as a
	// fraction of Rows.
	MedianDF float64 `json:"median_df"`
	// Top10Mass is the mean share of a row's L1 mass held by its 10 largest
	// values.
	Top10Mass float64 `json:"top10_mass"`
	// ValueMin, ValueMean and ValueMax describe the values.
	ValueMin  float64 `json:"value_min"`
	ValueMean float64 `json:"value_mean"`
	ValueMax  float64 `json:"value_max"`
}

// ComputeSparseStats measures s.
func ComputeSparseStats(s *Sparse) SparseStats {
	st := SparseStats{Rows: s.Len(), ValueMin: math.Inf(1)}
	if s.Len() == 0 {
		return st
	}
	lens := make([]int, s.Len())
	df := make([]int, s.Dim)
	var vals []float64
	var mass float64
	var vsum float64
	for i := range lens {
		idx, val := s.Row(i)
		lens[i] = len(idx)
		for j, t := range idx {
			df[t]++
			v := float64(val[j])
			vsum += v
			st.ValueMin = min(st.ValueMin, v)
			st.ValueMax = max(st.ValueMax, v)
		}
		vals = vals[:0]
		tot := 0.0
		for _, v := range val {
			vals = append(vals, float64(v))
			tot += float64(v)
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
		top := 0.0
		for j := 0; j < min(10, len(vals)); j++ {
			top += vals[j]
		}
		if tot > 0 {
			mass += top / tot
		}
	}
	st.Top10Mass = mass / float64(s.Len())
	if s.NNZ() > 0 {
		st.ValueMean = vsum / float64(s.NNZ())
	} else {
		st.ValueMin = 0
	}
	slices.Sort(lens)
	st.NNZMean = float64(s.NNZ()) / float64(s.Len())
	st.NNZMin, st.NNZMax = lens[0], lens[len(lens)-1]
	st.NNZP5, st.NNZP50, st.NNZP95 = lens[len(lens)*5/100], lens[len(lens)/2], lens[len(lens)*95/100]
	slices.SortFunc(df, func(a, b int) int { return b - a })
	n := float64(s.Len())
	for i := 0; i < min(12, len(df)); i++ {
		st.TopDF = append(st.TopDF, float64(df[i])/n)
	}
	for _, d := range df {
		if f := float64(d) / n; f >= 0.1 && f <= 0.2 {
			st.Lists10to20++
		}
		if d > 0 {
			st.ListsUsed++
		}
	}
	if st.ListsUsed > 0 {
		st.MedianDF = float64(df[st.ListsUsed/2]) / n
	}
	return st
}
