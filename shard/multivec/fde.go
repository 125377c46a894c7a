package multivec

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// FDEConfig holds the parameters of MUVERA fixed-dimensional encodings.
// The encoding has Reps · 2^KSim · DProj dimensions (or FinalDim when set).
type FDEConfig struct {
	// KSim is the number of SimHash hyperplanes per repetition; vectors fall
	// into 2^KSim partitions by the signs of their projections. Default 4.
	KSim int
	// DProj is the inner random ±1 projection applied to each partition's
	// vector; 0 keeps the full dimension. Default 16.
	DProj int
	// Reps is the number of independent repetitions, concatenated. Default 20.
	Reps int
	// FinalDim, when non-zero, applies a final random ±1 projection of the
	// concatenation down to FinalDim dimensions. Default 0 (none).
	FinalDim int
	// FillEmpty fills a document partition that received no vector with the
	// vector whose SimHash code is nearest in Hamming distance, as MUVERA
	// does. Default true.
	FillEmpty bool
	// Seed seeds the hyperplanes and projections. Default 1.
	Seed uint64
	// Dedup drops exact duplicate vectors of a document before averaging.
	// MaxSim is a function of the vector set, but partition means weight
	// repeats (a word used 15 times would dominate its partition). On
	// SciFact GloVe it lowers recall (repeats carry term frequency), so the
	// default is false.
	Dedup bool
}

// DefaultFDEConfig returns the defaults documented on FDEConfig.
func DefaultFDEConfig() FDEConfig {
	return FDEConfig{KSim: 6, DProj: 8, Reps: 16, FillEmpty: true, Seed: 1}
}

// Validate reports whether c describes an encoding.
func (c FDEConfig) Validate() error {
	switch {
	case c.KSim < 0 || c.KSim > 12:
		return errorf("fde k_sim %d outside [0, 12]", c.KSim)
	case c.DProj < 0 || c.DProj > 4096:
		return errorf("fde d_proj %d outside [0, 4096]", c.DProj)
	case c.Reps < 1 || c.Reps > 1024:
		return errorf("fde reps %d outside [1, 1024]", c.Reps)
	case c.FinalDim < 0 || c.FinalDim > 1<<16:
		return errorf("fde final dim %d outside [0, 65536]", c.FinalDim)
	case c.Reps<<c.KSim*max(c.DProj, 1) > 1<<20:
		return errorf("fde dimension reps·2^k_sim·d_proj above 2^20")
	case c.FinalDim*(c.Reps<<c.KSim)*max(c.DProj, 1) > 1<<28:
		return errorf("fde final projection above 2^28 entries")
	}
	return nil
}

// FDE encodes multi-vector sets into single vectors whose inner product
// approximates MaxSim (the Chamfer similarity). An FDE is immutable and safe
// for concurrent use.
type FDE struct {
	cfg    FDEConfig
	dim    int
	dproj  int
	parts  int
	planes []float32 // Reps × KSim × dim Gaussian hyperplanes
	proj   []float32 // Reps × dproj × dim, ±1/sqrt(dproj); nil when dproj == dim
	final  []float32 // FinalDim × inner, ±1/sqrt(FinalDim); nil when not set
}

// NewFDE returns the encoder for vectors of dimension dim. The same cfg and
// dim always give the same encoder.
func NewFDE(dim int, cfg FDEConfig) (*FDE, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dim < 1 {
		return nil, errorf("fde dim %d < 1", dim)
	}
	e := &FDE{cfg: cfg, dim: dim, dproj: cfg.DProj, parts: 1 << cfg.KSim}
	if e.dproj == 0 {
		e.dproj = dim
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d7576657261))
	e.planes = make([]float32, cfg.Reps*cfg.KSim*dim)
	for i := range e.planes {
		e.planes[i] = float32(rng.NormFloat64())
	}
	if cfg.DProj != 0 {
		s := float32(1 / math.Sqrt(float64(e.dproj)))
		e.proj = make([]float32, cfg.Reps*e.dproj*dim)
		for i := range e.proj {
			e.proj[i] = s
			if rng.Uint64()&1 == 1 {
				e.proj[i] = -s
			}
		}
	}
	if cfg.FinalDim > 0 {
		inner := cfg.Reps * e.parts * e.dproj
		s := float32(1 / math.Sqrt(float64(cfg.FinalDim)))
		e.final = make([]float32, cfg.FinalDim*inner)
		for i := range e.final {
			e.final[i] = s
			if rng.Uint64()&1 == 1 {
				e.final[i] = -s
			}
		}
	}
	return e, nil
}

// Dim returns the dimension of the encodings.
func (e *FDE) Dim() int {
	if e.cfg.FinalDim > 0 {
		return e.cfg.FinalDim
	}
	return e.innerDim()
}

func (e *FDE) innerDim() int { return e.cfg.Reps * e.parts * e.dproj }

// Config returns the encoder's parameters.
func (e *FDE) Config() FDEConfig { return e.cfg }

// EncodeQuery appends the query encoding of q (row-major, dim columns) to
// dst: per repetition and partition, the projected sum of the query vectors
// that fall into it.
func (e *FDE) EncodeQuery(dst, q []float32) []float32 {
	return e.encode(dst, q, false)
}

// EncodeDoc appends the document encoding of d to dst: per repetition and
// partition, the projected mean of the document vectors that fall into it,
// empty partitions filled as FDEConfig.FillEmpty says.
func (e *FDE) EncodeDoc(dst, d []float32) []float32 {
	if e.cfg.Dedup {
		d = dedupRows(d, e.dim)
	}
	return e.encode(dst, d, true)
}

// dedupRows returns the rows of d without exact repeats, in first-seen
// order (d itself when it has none).
func dedupRows(d []float32, dim int) []float32 {
	n := len(d) / dim
	seen := make(map[uint64][]int, n)
	var out []float32
	for i := 0; i < n; i++ {
		row := d[i*dim : (i+1)*dim]
		h := uint64(14695981039346656037)
		for _, x := range row {
			h = (h ^ uint64(math.Float32bits(x))) * 1099511628211
		}
		dup := false
		for _, j := range seen[h] {
			if slices.Equal(d[j*dim:(j+1)*dim], row) {
				dup = true
				break
			}
		}
		if dup {
			if out == nil {
				out = append(make([]float32, 0, len(d)), d[:i*dim]...)
			}
			continue
		}
		seen[h] = append(seen[h], i)
		if out != nil {
			out = append(out, row...)
		}
	}
	if out == nil {
		return d
	}
	return out
}

func (e *FDE) encode(dst, x []float32, doc bool) []float32 {
	dim, dp, parts, ks := e.dim, e.dproj, e.parts, e.cfg.KSim
	n := len(x) / dim
	inner := e.innerDim()
	base := len(dst)
	g := e.grow(dst, max(inner, e.cfg.FinalDim))
	out := g[base : base+inner]
	clear(out)
	codes := make([]uint32, n)
	sums := make([]float32, parts*dim)
	counts := make([]int, parts)
	projected := make([]float32, dp)
	for r := 0; r < e.cfg.Reps; r++ {
		planes := e.planes[r*ks*dim : (r+1)*ks*dim]
		clear(sums)
		clear(counts)
		for i := 0; i < n; i++ {
			v := x[i*dim : (i+1)*dim]
			var c uint32
			for b := 0; b < ks; b++ {
				if dot(v, planes[b*dim:(b+1)*dim]) > 0 {
					c |= 1 << b
				}
			}
			codes[i] = c
			counts[c]++
			s := sums[int(c)*dim : int(c+1)*dim]
			for j, y := range v {
				s[j] += y
			}
		}
		for p := 0; p < parts; p++ {
			s := sums[p*dim : (p+1)*dim]
			switch {
			case counts[p] == 0 && doc && e.cfg.FillEmpty && n > 0:
				best, bd := 0, 64
				for i, c := range codes {
					if h := bits.OnesCount32(c ^ uint32(p)); h < bd {
						best, bd = i, h
					}
				}
				copy(s, x[best*dim:(best+1)*dim])
			case counts[p] == 0:
				continue
			case doc && counts[p] > 1:
				inv := 1 / float32(counts[p])
				for j := range s {
					s[j] *= inv
				}
			}
			o := out[(r*parts+p)*dp : (r*parts+p+1)*dp]
			if e.proj == nil {
				copy(o, s)
				continue
			}
			pr := e.proj[r*dp*dim : (r+1)*dp*dim]
			for j := 0; j < dp; j++ {
				projected[j] = dot(pr[j*dim:(j+1)*dim], s)
			}
			copy(o, projected)
		}
	}
	if e.final == nil {
		return g[:base+inner]
	}
	fd := e.cfg.FinalDim
	tmp := append([]float32(nil), out...)
	g = g[:base+fd]
	for j := 0; j < fd; j++ {
		g[base+j] = dot(e.final[j*inner:(j+1)*inner], tmp)
	}
	return g
}

// grow returns dst extended by n elements (contents unspecified).
func (e *FDE) grow(dst []float32, n int) []float32 {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	out := make([]float32, len(dst)+n, len(dst)+n+n/4)
	copy(out, dst)
	return out
}
