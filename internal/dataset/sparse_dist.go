package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// ErrSparseDist reports an invalid SparseDist.
var ErrSparseDist = errors.New("dataset: invalid sparse distribution")

// WeightShape is the distribution of the values of a synthetic sparse
// collection: how the weight of a posting is drawn.
type WeightShape uint8

const (
	// WeightSPLADE is heavy-tailed and SPLADE-like: log(1+exp(g)) with g
	// normal around an IDF-like mean (rare terms heavier, topic terms
	// heavier); then four times a random term of the row is multiplied by a
	// Pareto factor (shape 1.5, capped at 12; a term drawn twice compounds
	// its factors), so a few salient terms dominate. Queries have the same
	// shape.
	WeightSPLADE WeightShape = iota
	// WeightBM25 is flat, BM25-like: idf(t) × tf·(k1+1)/(tf + k1·(1−b+b·dl/avgdl))
	// with k1 0.9, b 0.4 and a small geometric term frequency. The values of
	// a row differ by little more than their IDF. Queries hold term counts
	// (mostly 1), which do not say which terms matter.
	WeightBM25
	// WeightLogNormal draws exp(0.35·ln idf(t) + 0.8·z) (z standard
	// normal), topic terms ×1.5: a wide spread, weakly tied to rarity.
	WeightLogNormal
	// WeightExponential draws sqrt(idf(t)) × an exponential variate (mean
	// 1), topic terms ×1.5: most values near zero, no saturation.
	WeightExponential
)

// String returns the shape's name.
func (w WeightShape) String() string {
	switch w {
	case WeightSPLADE:
		return "splade"
	case WeightBM25:
		return "bm25"
	case WeightLogNormal:
		return "lognormal"
	case WeightExponential:
		return "exponential"
	}
	return fmt.Sprintf("WeightShape(%d)", uint8(w))
}

// SparseDist describes one synthetic sparse distribution. Its parameters
// vary one property each: term document-frequency skew (HeadDF, Zipf),
// weight shape (Weights), row lengths (DocNNZ*, QueryNNZ*), topical
// co-occurrence (Topics, TopicTerms, TopicShare, TopicFocus) and
// vocabulary size (Dim).
//
// Term popularity follows a Zipf–Mandelbrot curve over ranks:
// df(r) = HeadDF·(1+r/c)^−Zipf, with the offset c solved so that the
// background draws of a mean-length document come out right; ranks are
// permuted over ids, so ids span the whole vocabulary. A document picks
// one topic and draws TopicShare of its terms from the topic's
// TopicTerms terms (biased to the topic's first, core, terms by
// TopicFocus) and the rest by popularity. A query picks a topic the same
// way and draws QueryTopicShare of its terms from it, QueryHeadShare from
// the 300 most frequent terms and the rest by popularity: queries come from
// the same model as documents, as real queries relate to real documents.
type SparseDist struct {
	// Dim is the vocabulary size (30,522 for BERT; 250,000 for an LLM
	// vocabulary, whose ids need 32 bits).
	Dim int
	// HeadDF is the document frequency of the most common term, as a
	// fraction of documents (the longest list is about HeadDF·N).
	HeadDF float64
	// Zipf is the exponent of the document-frequency curve. Larger: a few
	// long lists and a steep drop to a long tail of short ones.
	Zipf float64
	// DocNNZMin, DocNNZMedian and DocNNZMax bound the nonzeros per
	// document: log-normal around the median, clipped to [min, max].
	DocNNZMin, DocNNZMedian, DocNNZMax int
	// QueryNNZMin, QueryNNZMedian and QueryNNZMax do the same for queries.
	QueryNNZMin, QueryNNZMedian, QueryNNZMax int
	// Weights is the value distribution.
	Weights WeightShape
	// Topics is the number of latent topics (0 = none).
	Topics int
	// TopicTerms is the number of terms of each topic.
	TopicTerms int
	// TopicShare is the fraction of a document's terms drawn from its
	// topic: 0 gives no co-occurrence structure beyond popularity.
	TopicShare float64
	// TopicFocus (>= 1) biases topic draws to a topic's core terms: the
	// term at position floor(u^TopicFocus·TopicTerms), u uniform. 1 is
	// uniform over the topic; 3 puts a few core terms in most of the
	// topic's rows (tight clusters).
	TopicFocus float64
	// QueryTopicShare is the fraction of a query's terms from its topic.
	QueryTopicShare float64
	// QueryHeadShare is the fraction of a query's terms drawn from the 300
	// most frequent terms (queries then hit long lists).
	QueryHeadShare float64
}

// Validate reports whether d can generate a collection.
func (d SparseDist) Validate() error {
	switch {
	case d.Dim < 1000 || d.Dim > math.MaxUint32:
		return fmt.Errorf("%w: dim %d", ErrSparseDist, d.Dim)
	case !(d.HeadDF > 0 && d.HeadDF < 1):
		return fmt.Errorf("%w: head df %v not in (0, 1)", ErrSparseDist, d.HeadDF)
	case !(d.Zipf > 0 && d.Zipf <= 4):
		return fmt.Errorf("%w: zipf %v not in (0, 4]", ErrSparseDist, d.Zipf)
	case d.DocNNZMin < 1 || d.DocNNZMedian < d.DocNNZMin || d.DocNNZMax < d.DocNNZMedian || d.DocNNZMax > d.Dim/4:
		return fmt.Errorf("%w: doc nnz %d/%d/%d", ErrSparseDist, d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax)
	case d.QueryNNZMin < 1 || d.QueryNNZMedian < d.QueryNNZMin || d.QueryNNZMax < d.QueryNNZMedian || d.QueryNNZMax > d.Dim/4:
		return fmt.Errorf("%w: query nnz %d/%d/%d", ErrSparseDist, d.QueryNNZMin, d.QueryNNZMedian, d.QueryNNZMax)
	case d.Weights > WeightExponential:
		return fmt.Errorf("%w: weights %v", ErrSparseDist, d.Weights)
	case d.Topics < 0 || d.TopicShare < 0 || d.TopicShare > 0.9 || d.QueryTopicShare < 0 || d.QueryTopicShare > 0.9:
		return fmt.Errorf("%w: topics %d, share %v/%v", ErrSparseDist, d.Topics, d.TopicShare, d.QueryTopicShare)
	case (d.TopicShare > 0 || d.QueryTopicShare > 0) && (d.Topics < 1 || d.TopicTerms < 10 || d.TopicTerms > d.Dim/4 || d.TopicFocus < 1):
		return fmt.Errorf("%w: %d topics of %d terms, focus %v", ErrSparseDist, d.Topics, d.TopicTerms, d.TopicFocus)
	case d.QueryHeadShare < 0 || d.QueryTopicShare+d.QueryHeadShare > 1:
		return fmt.Errorf("%w: query head share %v", ErrSparseDist, d.QueryHeadShare)
	}
	return nil
}

// Generate returns n documents and nq queries drawn from d. The output
// depends only on d, n, nq and seed (not on the number of cores); queries
// do not depend on n, and the first documents do not depend on n either.
func (d SparseDist) Generate(n, nq int, seed uint64) (docs, queries *Sparse, err error) {
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	if n < 0 || nq < 0 {
		return nil, nil, fmt.Errorf("%w: negative docs or queries", ErrSparseDist)
	}
	m := newDistModel(d, seed)
	return m.rows(n, 1, false), m.rows(nq, 2, true), nil
}

// distModel holds the term statistics shared by every row of one
// distribution and seed.
type distModel struct {
	d      SparseDist
	seed   uint64
	idf    []float64 // per term id, from its target document frequency
	mu     []float64 // per term id: mean of the log-space SPLADE weight
	bg     alias     // background sampler by popularity
	head   alias     // the 300 most frequent terms, for queries
	topics [][]uint32
	avgLen float64 // mean document length (for BM25 length normalization)
}

// nnzSigma is the log-space spread of row lengths: the clip bounds sit
// about two standard deviations from the median.
func nnzSigma(lo, med, hi int) float64 {
	return max(math.Log(float64(hi)/float64(med)), math.Log(float64(med)/float64(lo)), 0.05) / 2
}

func drawNNZ(rng *rand.Rand, lo, med, hi int) int {
	l := math.Round(float64(med) * math.Exp(nnzSigma(lo, med, hi)*rng.NormFloat64()))
	return int(min(max(l, float64(lo)), float64(hi)))
}

// zipfDF returns the target document frequency of every popularity rank,
// HeadDF·(1+r/c)^−Zipf, with c solved so that the Poisson draw rates
// −ln(1−df) sum to budget (the background terms of a mean-length row).
func zipfDF(d SparseDist, budget float64) []float64 {
	rate := func(r, c float64) float64 { return -math.Log1p(-d.HeadDF * math.Pow(1+r/c, -d.Zipf)) }
	// The bisection sums the rates over the first 1,024 ranks exactly and
	// beyond by the midpoint rule on steps of 1/256 of the rank (the rate
	// varies slowly there); only the final curve is exact for every rank.
	approx := func(c float64) float64 {
		sum := 0.0
		n := float64(d.Dim)
		r := 0.0
		for ; r < min(1024, n); r++ {
			sum += rate(r, c)
		}
		for r < n {
			step := min(math.Floor(r/256), n-r)
			sum += step * rate(r+(step-1)/2, c)
			r += step
		}
		return sum
	}
	lo, hi := 1e-4, 1e12
	for range 64 {
		mid := math.Sqrt(lo * hi)
		if approx(mid) < budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	p := make([]float64, d.Dim)
	for r := range p {
		p[r] = d.HeadDF * math.Pow(1+float64(r)/lo, -d.Zipf)
	}
	return p
}

func newDistModel(d SparseDist, seed uint64) *distModel {
	rng := rand.New(rand.NewPCG(seed, 0xd157))
	m := &distModel{d: d, seed: seed, idf: make([]float64, d.Dim), mu: make([]float64, d.Dim)}
	total := 0
	for range 4096 {
		total += drawNNZ(rng, d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax)
	}
	m.avgLen = float64(total) / 4096
	p := zipfDF(d, max((1-d.TopicShare)*m.avgLen, 1))
	perm := rng.Perm(d.Dim) // rank -> term id
	w := make([]float64, d.Dim)
	for r, t := range perm {
		w[t] = -math.Log1p(-p[r])
		pr := max(p[r], 1e-7)
		m.idf[t] = math.Log(1 + (1-pr)/pr)
		m.mu[t] = -1.8 + 0.3*math.Log(1/pr)
	}
	m.bg = newAlias(w)
	hw := make([]float64, d.Dim)
	for r := 0; r < min(300, d.Dim); r++ {
		hw[perm[r]] = p[r]
	}
	m.head = newAlias(hw)
	if d.Topics > 0 && (d.TopicShare > 0 || d.QueryTopicShare > 0) {
		// Topic vocabularies favour mid-frequency terms (weight sqrt(df)),
		// below the 30 most frequent.
		tw := make([]float64, d.Dim)
		for r := 30; r < d.Dim; r++ {
			tw[perm[r]] = math.Sqrt(p[r])
		}
		ta := newAlias(tw)
		m.topics = make([][]uint32, d.Topics)
		seen := make(map[uint32]bool, d.TopicTerms)
		for i := range m.topics {
			clear(seen)
			terms := make([]uint32, 0, d.TopicTerms)
			for len(terms) < d.TopicTerms {
				t := uint32(ta.draw(rng))
				if !seen[t] {
					seen[t] = true
					terms = append(terms, t)
				}
			}
			m.topics[i] = terms
		}
	}
	return m
}

// rows generates n rows in parallel chunks of synthChunk, each with its own
// random stream, so the output does not depend on scheduling.
func (m *distModel) rows(n int, stream uint64, query bool) *Sparse {
	d := m.d
	chunks := (n + synthChunk - 1) / synthChunk
	s := &Sparse{Offsets: make([]int64, n+1), Dim: uint32(d.Dim)}
	for c := 0; c < chunks; c++ {
		rng := rand.New(rand.NewPCG(m.seed^0x6a09e667f3bcc909, stream<<32|uint64(c)))
		for i := c * synthChunk; i < min(n, (c+1)*synthChunk); i++ {
			l := drawNNZ(rng, d.DocNNZMin, d.DocNNZMedian, d.DocNNZMax)
			if query {
				l = drawNNZ(rng, d.QueryNNZMin, d.QueryNNZMedian, d.QueryNNZMax)
			}
			s.Offsets[i+1] = s.Offsets[i] + int64(l)
		}
	}
	s.Indices = make([]uint32, s.Offsets[n])
	s.Values = make([]float32, s.Offsets[n])
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(chunks, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &distRowGen{m: m, stamp: make([]uint32, d.Dim)}
			for {
				mu.Lock()
				c := next
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				rng := rand.New(rand.NewPCG(m.seed, stream<<32|uint64(c)))
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

// distRowGen is one worker's scratch.
type distRowGen struct {
	m     *distModel
	stamp []uint32 // stamp[t] == gen: term t is in the current row
	gen   uint32
	pairs []distPair
}

type distPair struct {
	t     uint32
	topic bool
	v     float64
}

// row fills idx and val (of equal length) with one document or query.
func (g *distRowGen) row(rng *rand.Rand, idx []uint32, val []float32, query bool) {
	m, d := g.m, g.m.d
	L := len(idx)
	g.gen++
	g.pairs = g.pairs[:0]
	add := func(t uint32, topic bool) {
		if g.stamp[t] == g.gen || len(g.pairs) == L {
			return
		}
		g.stamp[t] = g.gen
		g.pairs = append(g.pairs, distPair{t: t, topic: topic})
	}
	share := d.TopicShare
	if query {
		share = d.QueryTopicShare
	}
	if m.topics != nil && share > 0 {
		topic := m.topics[rng.IntN(len(m.topics))]
		nTopic := int(math.Round(share * float64(L)))
		for try := 0; try < 8*nTopic && len(g.pairs) < nTopic; try++ {
			u := math.Pow(rng.Float64(), d.TopicFocus)
			add(topic[int(u*float64(len(topic)))], true)
		}
	}
	if query && d.QueryHeadShare > 0 {
		nHead := len(g.pairs) + int(math.Round(d.QueryHeadShare*float64(L)))
		for try := 0; try < 8*L && len(g.pairs) < nHead; try++ {
			add(uint32(m.head.draw(rng)), false)
		}
	}
	for try := 0; try < 20*L && len(g.pairs) < L; try++ {
		add(uint32(m.bg.draw(rng)), false)
	}
	// Pathological draws: fill deterministically from a random start.
	for t := uint32(rng.IntN(d.Dim)); len(g.pairs) < L; t = (t + 1) % uint32(d.Dim) {
		add(t, false)
	}
	g.weigh(rng, L, query)
	slices.SortFunc(g.pairs, func(a, b distPair) int { return int(a.t) - int(b.t) })
	for j, p := range g.pairs {
		idx[j] = p.t
		val[j] = float32(p.v)
	}
}

// weigh draws the value of every pair of the current row.
func (g *distRowGen) weigh(rng *rand.Rand, L int, query bool) {
	m := g.m
	switch m.d.Weights {
	case WeightSPLADE:
		for i := range g.pairs {
			p := &g.pairs[i]
			x := m.mu[p.t] + 0.9*rng.NormFloat64()
			if p.topic {
				x += 0.7
			}
			p.v = math.Log1p(math.Exp(x))
		}
		for range min(4, len(g.pairs)) {
			p := &g.pairs[rng.IntN(len(g.pairs))]
			p.v *= min(math.Pow(1-rng.Float64(), -1/1.5), 12)
		}
	case WeightBM25:
		const k1, b = 0.9, 0.4
		norm := k1 * (1 - b + b*float64(L)/m.avgLen)
		for i := range g.pairs {
			p := &g.pairs[i]
			if query {
				p.v = float64(1 + geometric(rng, 0.12))
				continue
			}
			cont := 0.25
			if p.topic {
				cont = 0.5
			}
			tf := float64(1 + geometric(rng, cont))
			p.v = m.idf[p.t] * tf * (k1 + 1) / (tf + norm)
		}
	case WeightLogNormal:
		for i := range g.pairs {
			p := &g.pairs[i]
			x := 0.35*math.Log(m.idf[p.t]) + 0.8*rng.NormFloat64()
			if p.topic {
				x += math.Log(1.5)
			}
			p.v = math.Exp(x)
		}
	case WeightExponential:
		for i := range g.pairs {
			p := &g.pairs[i]
			v := math.Sqrt(m.idf[p.t]) * rng.ExpFloat64()
			if p.topic {
				v *= 1.5
			}
			p.v = max(v, 1e-4)
		}
	}
}

// geometric returns the number of successes before the first failure,
// each success with probability cont (capped at 20).
func geometric(rng *rand.Rand, cont float64) int {
	n := 0
	for n < 20 && rng.Float64() < cont {
		n++
	}
	return n
}
