package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// MultivecSynthConfig describes the synthetic topical multi-vector corpus:
// a vocabulary of word vectors grouped around topic centres plus common
// words shared by every topic; a document mixes a main and a secondary
// topic, and every token is its word's vector plus a small contextual
// perturbation. Start from DefaultMultivecSynthConfig.
type MultivecSynthConfig struct {
	// Dim is the dimension. Default 128.
	Dim int
	// Topics is the number of topic centres. Default 1000.
	Topics int
	// WordsPerTopic is the vocabulary size of each topic. Default 64.
	WordsPerTopic int
	// CommonWords is the number of topic-free words. Default 256.
	CommonWords int
	// CommonRate is the share of tokens drawn from the common words.
	// Default 0.25.
	CommonRate float64
	// MinTokens and MaxTokens bound a document's token count (uniform).
	// Defaults 64 and 256.
	MinTokens, MaxTokens int
	// QueryTokens is the token count of a query. Default 32.
	QueryTokens int
	// WordSpread is the distance of a topic's words from its centre, relative
	// to the centre's norm. Default 0.8.
	WordSpread float64
	// Context is the per-token perturbation, relative to a word's norm.
	// Default 0.3.
	Context float64
	// Seed fixes the vocabulary and every document and query. Default 1.
	Seed uint64
}

// DefaultMultivecSynthConfig returns the defaults documented on
// MultivecSynthConfig.
func DefaultMultivecSynthConfig() MultivecSynthConfig {
	return MultivecSynthConfig{Dim: 128, Topics: 1000, WordsPerTopic: 64, CommonWords: 256, CommonRate: 0.25,
		MinTokens: 64, MaxTokens: 256, QueryTokens: 32, WordSpread: 0.8, Context: 0.3, Seed: 1}
}

// Validate reports whether c can generate a corpus.
func (c MultivecSynthConfig) Validate() error {
	switch {
	case c.Dim < 1 || c.Dim > 4096:
		return fmt.Errorf("dataset: multivec synthetic dim %d out of [1, 4096]", c.Dim)
	case c.Topics < 1 || c.WordsPerTopic < 1 || c.CommonWords < 0:
		return fmt.Errorf("dataset: multivec synthetic vocabulary %d×%d+%d invalid", c.Topics, c.WordsPerTopic, c.CommonWords)
	case c.Topics*c.WordsPerTopic*c.Dim > 1<<28:
		return fmt.Errorf("dataset: multivec synthetic vocabulary too large")
	case c.MinTokens < 1 || c.MaxTokens < c.MinTokens || c.QueryTokens < 1:
		return fmt.Errorf("dataset: multivec synthetic token counts [%d, %d], %d invalid", c.MinTokens, c.MaxTokens, c.QueryTokens)
	case !(c.CommonRate >= 0 && c.CommonRate < 1) || !(c.WordSpread >= 0) || !(c.Context >= 0):
		return fmt.Errorf("dataset: multivec synthetic rates out of range")
	case c.CommonWords == 0 && c.CommonRate > 0:
		return fmt.Errorf("dataset: multivec synthetic common rate without common words")
	}
	return nil
}

// MultivecSynth generates documents and queries on demand; the i-th
// document or query depends only on the config and i. It is safe for
// concurrent use.
type MultivecSynth struct {
	cfg    MultivecSynthConfig
	words  []float32 // Topics·WordsPerTopic topic words, then CommonWords
	nTopic int
}

// NewMultivecSynth builds the vocabulary of cfg.
func NewMultivecSynth(cfg MultivecSynthConfig) (*MultivecSynth, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := cfg.Dim
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d7673796e7468))
	g := &MultivecSynth{cfg: cfg, nTopic: cfg.Topics * cfg.WordsPerTopic}
	g.words = make([]float32, (g.nTopic+cfg.CommonWords)*d)
	centre := make([]float64, d)
	scale := 1 / math.Sqrt(float64(d))
	for t := 0; t < cfg.Topics; t++ {
		for j := range centre {
			centre[j] = rng.NormFloat64() * scale
		}
		for w := 0; w < cfg.WordsPerTopic; w++ {
			v := g.words[(t*cfg.WordsPerTopic+w)*d : (t*cfg.WordsPerTopic+w+1)*d]
			for j := range v {
				v[j] = float32(centre[j] + cfg.WordSpread*rng.NormFloat64()*scale)
			}
		}
	}
	for w := 0; w < cfg.CommonWords; w++ {
		v := g.words[(g.nTopic+w)*d : (g.nTopic+w+1)*d]
		for j := range v {
			v[j] = float32(rng.NormFloat64() * scale)
		}
	}
	return g, nil
}

// Config returns the generator's configuration.
func (g *MultivecSynth) Config() MultivecSynthConfig { return g.cfg }

// docTopics returns the main and secondary topic of document i.
func (g *MultivecSynth) docTopics(i int) (int, int, *rand.Rand) {
	rng := rand.New(rand.NewPCG(g.cfg.Seed^0x646f63, uint64(i)))
	// Zipf-like topic popularity: topic = floor(T · u²).
	pick := func() int { u := rng.Float64(); return min(g.cfg.Topics-1, int(float64(g.cfg.Topics)*u*u)) }
	return pick(), pick(), rng
}

// word picks a token's word: common with CommonRate, else from the main
// topic (70%) or the secondary; within a topic, low word numbers are more
// frequent.
func (g *MultivecSynth) word(rng *rand.Rand, main, second int) int {
	c := g.cfg
	if c.CommonWords > 0 && rng.Float64() < c.CommonRate {
		return g.nTopic + rng.IntN(c.CommonWords)
	}
	t := main
	if rng.Float64() >= 0.7 {
		t = second
	}
	u := rng.Float64()
	return t*c.WordsPerTopic + min(c.WordsPerTopic-1, int(float64(c.WordsPerTopic)*u*u))
}

// token appends the word's vector with a contextual perturbation.
func (g *MultivecSynth) token(dst []float32, rng *rand.Rand, w int) []float32 {
	d := g.cfg.Dim
	scale := g.cfg.Context / math.Sqrt(float64(d))
	for _, x := range g.words[w*d : (w+1)*d] {
		dst = append(dst, x+float32(rng.NormFloat64()*scale))
	}
	return dst
}

// Doc returns document i as a row-major tokens×Dim matrix.
func (g *MultivecSynth) Doc(i int) []float32 {
	main, second, rng := g.docTopics(i)
	c := g.cfg
	n := c.MinTokens + rng.IntN(c.MaxTokens-c.MinTokens+1)
	out := make([]float32, 0, n*c.Dim)
	for t := 0; t < n; t++ {
		out = g.token(out, rng, g.word(rng, main, second))
	}
	return out
}

// Query returns query i, written about a document drawn from the first
// docs documents: its tokens come from that document's topics, so the
// document and its topical neighbours should rank first.
func (g *MultivecSynth) Query(i, docs int) []float32 {
	rng := rand.New(rand.NewPCG(g.cfg.Seed^0x717279, uint64(i)))
	target := rng.IntN(max(1, docs))
	main, second, _ := g.docTopics(target)
	out := make([]float32, 0, g.cfg.QueryTokens*g.cfg.Dim)
	for t := 0; t < g.cfg.QueryTokens; t++ {
		out = g.token(out, rng, g.word(rng, main, second))
	}
	return out
}
