package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// DenseSynthConfig describes the synthetic dense set: clustered, anisotropic
// vectors with a decaying spectrum, closer to real embeddings than i.i.d.
// Gaussians. Start from DefaultDenseSynthConfig.
type DenseSynthConfig struct {
	// Dim is the dimension. Default 128.
	Dim int
	// Clusters is the number of cluster centres; cluster sizes follow a
	// Zipf-like law (weight of cluster c ∝ (c+1)^-0.5). Default 1000.
	Clusters int
	// Decay is the spectrum exponent: component i has standard deviation
	// (i+1)^(-Decay/2) before mixing, so variance decays like a power law.
	// Default 1.0.
	Decay float64
	// Spread is the within-cluster standard deviation relative to the spread
	// of the centres; each cluster also scales every component by its own
	// log-normal factor (σ 0.5), which makes clusters anisotropic. Default 0.6.
	Spread float64
	// Seed fixes the centres, spectrum and mixing. Default 1.
	Seed uint64
}

// DefaultDenseSynthConfig returns the defaults documented on DenseSynthConfig.
func DefaultDenseSynthConfig() DenseSynthConfig {
	return DenseSynthConfig{Dim: 128, Clusters: 1000, Decay: 1.0, Spread: 0.6, Seed: 1}
}

// Validate reports whether c can generate vectors.
func (c DenseSynthConfig) Validate() error {
	switch {
	case c.Dim < 1 || c.Dim > 1<<16:
		return fmt.Errorf("dataset: synthetic dim %d out of [1, 65536]", c.Dim)
	case c.Clusters < 1:
		return fmt.Errorf("dataset: synthetic clusters %d < 1", c.Clusters)
	case c.Decay < 0 || c.Spread <= 0 || math.IsNaN(c.Decay) || math.IsNaN(c.Spread):
		return fmt.Errorf("dataset: synthetic decay %v / spread %v out of range", c.Decay, c.Spread)
	}
	return nil
}

// SyntheticDense returns n row-major vectors drawn from the distribution cfg
// describes. Sets drawn with the same cfg share their centres; stream picks
// an independent draw (for example 0 for the base set and 1 for queries).
// The output depends only on cfg, n and stream.
func SyntheticDense(n int, cfg DenseSynthConfig, stream uint64) ([]float32, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, k := cfg.Dim, cfg.Clusters
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x64656e7365))
	spec := make([]float64, d)
	for i := range spec {
		spec[i] = math.Pow(float64(i+1), -cfg.Decay/2)
	}
	centers := make([]float64, k*d)
	aniso := make([]float64, k*d)
	for c := 0; c < k; c++ {
		for i := 0; i < d; i++ {
			centers[c*d+i] = rng.NormFloat64() * spec[i]
			aniso[c*d+i] = cfg.Spread * spec[i] * math.Exp(0.5*rng.NormFloat64())
		}
	}
	offset := make([]float64, d)
	for i := range offset {
		offset[i] = 0.3 * rng.NormFloat64() * spec[i]
	}
	signs := make([]float64, d)
	for i := range signs {
		signs[i] = float64(1 - 2*rng.IntN(2))
	}
	cum := make([]float64, k)
	total := 0.0
	for c := range cum {
		total += 1 / math.Sqrt(float64(c+1))
		cum[c] = total
	}
	prng := rand.New(rand.NewPCG(cfg.Seed^0x706f696e7473, stream))
	out := make([]float32, n*d)
	row := make([]float64, d)
	for r := 0; r < n; r++ {
		u := prng.Float64() * total
		c := min(k-1, sort.SearchFloat64s(cum, u))
		for i := 0; i < d; i++ {
			row[i] = offset[i] + centers[c*d+i] + prng.NormFloat64()*aniso[c*d+i]
		}
		mix(row, signs)
		for i, v := range row {
			out[r*d+i] = float32(v)
		}
	}
	return out, nil
}

// mix applies a fixed orthogonal transform so that the spectrum is not
// axis-aligned: random signs then a normalised Walsh–Hadamard transform
// over the largest power-of-two prefix of the vector.
func mix(v, signs []float64) {
	for i := range v {
		v[i] *= signs[i]
	}
	p := 1
	for p*2 <= len(v) {
		p *= 2
	}
	if p < 2 {
		return
	}
	h := v[:p]
	for l := 1; l < p; l <<= 1 {
		for i := 0; i < p; i += l << 1 {
			for j := i; j < i+l; j++ {
				a, b := h[j], h[j+l]
				h[j], h[j+l] = a+b, a-b
			}
		}
	}
	s := 1 / math.Sqrt(float64(p))
	for i := range h {
		h[i] *= s
	}
}
