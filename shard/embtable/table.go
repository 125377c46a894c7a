package embtable

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/shoal-search/shoal/internal/kmeans"
	"github.com/shoal-search/shoal/internal/vecmath"
)

// Table is a set of n vectors of one dimension, stored under a codec, with an
// optional IVF partition and an optional rescoring copy. Rows are numbered
// 0..n-1 in the order given to Build.
//
// A Table is immutable once built or opened: Search is safe for any number
// of concurrent callers. Close must not run concurrently with Search.
type Table struct {
	codec   Codec
	metric  Metric
	rescore Precision
	seed    uint64
	n, dim  int
	nlist   int

	// SQ8 and SQ4: per-dimension minimum and step.
	mins, steps []float32
	// PQ: subspace boundaries (m+1 dimension offsets) and codebooks; the
	// codebook of subspace j starts at 256·split[j] and holds 256 centroids
	// of split[j+1]-split[j] values.
	pqSplit []int32
	pqBook  []float32
	// Binary and RaBitQ: the mean the flat codes are centred on.
	center []float32
	// RaBitQ: padded dimension, rotation (rdim×rdim, row-major) and the
	// rotated list centroids (or the rotated center for flat tables).
	rdim  int
	rot   []float32
	rcent []float32

	// IVF: centroids (nlist×dim), list boundaries in positions (nlist+1) and
	// the row at each position. Flat tables have none: position = row.
	cents   []float32
	offsets []uint32
	ids     []uint32

	// Codes, by position: exactly one of these is set, by codec.
	codeLen int // values per row in the slice that is set
	codes8  []byte
	words   []uint64
	f32     []float32
	f16     []uint16
	// RaBitQ per-position factors: ‖o−c‖, ⟨ō,o⟩ and, for IP, ⟨o−c,c⟩.
	aux       []float32
	auxStride int
	// maxErr is the largest sqrt(1−⟨ō,o⟩²)/⟨ō,o⟩ over the rows (derived
	// from aux, not stored).
	maxErr float32
	// maxInvIPF is the largest 1/⟨ō,o⟩ over the rows.
	maxInvIPF float32

	rs   rescoreCopy
	pool sync.Pool
}

// rowMetric is the metric codes are scored with: cosine tables hold
// normalised vectors, so they score by inner product.
func (t *Table) innerIP() bool { return t.metric != L2 }

// Len returns the number of rows.
func (t *Table) Len() int { return t.n }

// Dim returns the vector dimension.
func (t *Table) Dim() int { return t.dim }

// Codec returns the codec the table was built with.
func (t *Table) Codec() Codec { return t.codec }

// Metric returns the metric the table ranks by.
func (t *Table) Metric() Metric { return t.metric }

// NList returns the number of IVF lists, or 0 for a flat table.
func (t *Table) NList() int { return t.nlist }

// PQM returns the number of PQ subspaces, or 0 for other codecs.
func (t *Table) PQM() int {
	if len(t.pqSplit) == 0 {
		return 0
	}
	return len(t.pqSplit) - 1
}

// RescorePrecision returns the precision of the rescoring copy.
func (t *Table) RescorePrecision() Precision {
	if t.rs.f32 == nil && t.rs.f16 == nil {
		return NoRescore
	}
	return t.rs.prec
}

// ResidentBytes returns the bytes the table keeps in memory for search:
// codes, per-vector factors, IVF row ids and offsets, centroids and codec
// parameters. The rescoring copy is not included; it may live on disk.
func (t *Table) ResidentBytes() int64 {
	b := 4 * int64(len(t.mins)+len(t.steps)+len(t.pqSplit)+len(t.pqBook)+len(t.center)+len(t.rot)+len(t.rcent)+
		len(t.cents)+len(t.offsets)+len(t.ids)+len(t.f32)+len(t.aux))
	b += int64(len(t.codes8)) + 8*int64(len(t.words)) + 2*int64(len(t.f16))
	return b
}

// BytesPerVector returns ResidentBytes divided by the number of rows.
func (t *Table) BytesPerVector() float64 {
	if t.n == 0 {
		return 0
	}
	return float64(t.ResidentBytes()) / float64(t.n)
}

// Compression returns 4·dim divided by BytesPerVector: how many times smaller
// the resident table is than the raw float32 vectors.
func (t *Table) Compression() float64 {
	if b := t.BytesPerVector(); b > 0 {
		return 4 * float64(t.dim) / b
	}
	return 0
}

// Build stores the row-major vectors data (n×dim) under cfg. The result
// depends only on data and cfg (not on Workers or timing). The rescoring copy
// is kept in memory until Save; Open maps it from disk instead.
func Build(data []float32, dim int, cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dim <= 0 || len(data)%dim != 0 {
		return nil, fmt.Errorf("%w: %d values do not make rows of dimension %d", ErrInput, len(data), dim)
	}
	if !vecmath.Finite(data) {
		return nil, fmt.Errorf("%w: NaN or Inf in vectors", ErrInput)
	}
	n := len(data) / dim
	if n > math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d rows is more than 2^32-1", ErrInput, n)
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	t := &Table{codec: cfg.Codec, metric: cfg.Metric, rescore: cfg.Rescore, seed: cfg.Seed, n: n, dim: dim}
	if t.codec == F32 {
		t.rescore = NoRescore // the codes are exact already
	}
	if cfg.Metric == Cosine {
		norm := make([]float32, len(data))
		copy(norm, data)
		for i := 0; i < n; i++ {
			vecmath.Normalize(norm[i*dim : (i+1)*dim])
		}
		data = norm
	}
	kcfg := kmeans.DefaultConfig()
	kcfg.Seed = cfg.Seed
	kcfg.Iterations = cfg.KMeansIters
	kcfg.SampleSize = cfg.TrainSample
	kcfg.Workers = workers

	// Coarse partition: order positions by list, rows ascending within one.
	if cfg.NList > 0 && n > 0 {
		kc := kcfg
		if t.innerIP() {
			kc.Metric = kmeans.IP
		}
		cents, err := kmeans.Train(data, dim, cfg.NList, kc)
		if err != nil {
			return nil, fmt.Errorf("embtable: ivf: %w", err)
		}
		assign := kmeans.Assign(data, dim, cents, kc.Metric, workers, nil)
		t.nlist = cfg.NList
		t.cents = cents
		t.offsets = make([]uint32, cfg.NList+1)
		for _, a := range assign {
			t.offsets[a+1]++
		}
		for l := 0; l < cfg.NList; l++ {
			t.offsets[l+1] += t.offsets[l]
		}
		t.ids = make([]uint32, n)
		fill := make([]uint32, cfg.NList)
		copy(fill, t.offsets[:cfg.NList])
		for r, a := range assign {
			t.ids[fill[a]] = uint32(r)
			fill[a]++
		}
	}
	if err := t.train(data, cfg, kcfg); err != nil {
		return nil, err
	}
	t.encodeAll(data, workers)
	t.deriveMaxErr()
	switch t.rescore {
	case RescoreF32:
		t.rs.prec = RescoreF32
		t.rs.f32 = make([]float32, len(data))
		copy(t.rs.f32, data)
	case RescoreF16:
		t.rs.prec = RescoreF16
		t.rs.f16 = make([]uint16, len(data))
		for i, x := range data {
			t.rs.f16[i] = uint16(vecmath.ToF16(x))
		}
	}
	t.dim = dim
	return t, nil
}

// rowAt returns the row stored at position pos.
func (t *Table) rowAt(pos int) uint32 {
	if t.ids == nil {
		return uint32(pos)
	}
	return t.ids[pos]
}

// listOf returns the IVF list holding position pos (0 for flat tables).
func (t *Table) listOf(pos int) int {
	if t.nlist == 0 {
		return 0
	}
	lo, hi := 0, t.nlist
	for lo < hi {
		m := (lo + hi) / 2
		if int(t.offsets[m+1]) <= pos {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// encodeAll encodes every row at its position, in parallel chunks.
func (t *Table) encodeAll(data []float32, workers int) {
	n, dim := t.n, t.dim
	switch t.codec {
	case F32:
		t.codeLen = dim
		t.f32 = make([]float32, n*dim)
	case F16:
		t.codeLen = dim
		t.f16 = make([]uint16, n*dim)
	case SQ8:
		t.codeLen = dim
		t.codes8 = make([]byte, n*dim)
	case SQ4:
		t.codeLen = (dim + 1) / 2
		t.codes8 = make([]byte, n*t.codeLen)
	case PQ:
		t.codeLen = len(t.pqSplit) - 1
		t.codes8 = make([]byte, n*t.codeLen)
	case Binary:
		t.codeLen = (dim + 63) / 64
		t.words = make([]uint64, n*t.codeLen)
	case RaBitQ:
		t.codeLen = t.rdim / 64
		t.words = make([]uint64, n*t.codeLen)
		t.auxStride = 2
		if t.metric == IP {
			t.auxStride = 3
		}
		t.aux = make([]float32, n*t.auxStride)
	}
	const chunk = 2048
	chunks := (n + chunk - 1) / chunk
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < min(workers, chunks); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf encodeBuf
			for {
				mu.Lock()
				c := next
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				for pos := c * chunk; pos < min(n, (c+1)*chunk); pos++ {
					r := int(t.rowAt(pos))
					t.encode(pos, data[r*dim:(r+1)*dim], &buf)
				}
			}
		}()
	}
	wg.Wait()
}

// encodeBuf is per-goroutine scratch for encode.
type encodeBuf struct {
	pad, rot []float32
}

// exact returns the score of the prepared query q against row r from the
// rescoring copy, which must exist.
func (t *Table) exact(q []float32, r uint32) float32 {
	dim := t.dim
	off := int(r) * dim
	if t.rs.f32 != nil {
		v := t.rs.f32[off : off+dim]
		if t.innerIP() {
			return vecmath.Dot(q, v)
		}
		return -vecmath.L2Sq(q, v)
	}
	tab := f16Lookup()
	v := t.rs.f16[off : off+dim]
	if t.innerIP() {
		return dotF16(tab, q, v)
	}
	return -l2F16(tab, q, v)
}

// deriveMaxErr computes maxErr and maxInvIPF from the RaBitQ factors.
func (t *Table) deriveMaxErr() {
	t.maxErr, t.maxInvIPF = 0, 0
	for pos := 0; pos+t.auxStride <= len(t.aux) && t.auxStride >= 2; pos += t.auxStride {
		ipf := t.aux[pos+1]
		if ipf <= 0 {
			t.maxErr, t.maxInvIPF = float32(math.Inf(1)), float32(math.Inf(1))
			return
		}
		e := float32(math.Sqrt(float64(max(0, 1-ipf*ipf)))) / ipf
		t.maxErr = max(t.maxErr, e)
		t.maxInvIPF = max(t.maxInvIPF, 1/ipf)
	}
}
