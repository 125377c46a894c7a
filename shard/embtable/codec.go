package embtable

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/shoal-search/shoal/internal/kmeans"
	"github.com/shoal-search/shoal/internal/vecmath"
)

// rabitqEps is ε0 of the RaBitQ error bound: the estimate of ⟨o,q⟩ is within
// ε0·sqrt((1−⟨ō,o⟩²)/⟨ō,o⟩²)/sqrt(D−1) of the truth with high probability.
const rabitqEps = 1.9

// pqTrainRows caps the rows each PQ codebook is trained on.
const pqTrainRows = 64 * 256

// train fits the codec's parameters on data (already normalised for
// cosine): SQ ranges, PQ codebooks, the binary centre, the RaBitQ rotation.
func (t *Table) train(data []float32, cfg Config, kcfg kmeans.Config) error {
	n, dim := t.n, t.dim
	switch t.codec {
	case SQ8, SQ4:
		levels := float32(255)
		if t.codec == SQ4 {
			levels = 15
		}
		t.mins = make([]float32, dim)
		t.steps = make([]float32, dim)
		maxs := make([]float32, dim)
		if n > 0 {
			copy(t.mins, data[:dim])
			copy(maxs, data[:dim])
		}
		for i := 1; i < n; i++ {
			row := data[i*dim : (i+1)*dim]
			for j, x := range row {
				t.mins[j] = min(t.mins[j], x)
				maxs[j] = max(maxs[j], x)
			}
		}
		for j := range t.steps {
			t.steps[j] = (maxs[j] - t.mins[j]) / levels
		}
	case PQ:
		m := cfg.PQM
		if m == 0 {
			m = max(1, dim/4)
		}
		if m > dim {
			return fmt.Errorf("%w: pq m %d > dim %d", ErrConfig, m, dim)
		}
		t.pqSplit = make([]int32, m+1)
		for j := 0; j <= m; j++ {
			t.pqSplit[j] = int32(j * dim / m)
		}
		t.pqBook = make([]float32, 256*dim)
		if n == 0 {
			return nil
		}
		// 64 rows per centroid train a 256-entry codebook well; more only
		// slows the build.
		sample := pqTrainRows
		if cfg.TrainSample > 0 {
			sample = min(sample, cfg.TrainSample)
		}
		rows := sampleRows(n, sample, cfg.Seed)
		kc := kcfg
		kc.SampleSize = 0
		for j := 0; j < m; j++ {
			lo, hi := int(t.pqSplit[j]), int(t.pqSplit[j+1])
			ds := hi - lo
			sub := make([]float32, 0, len(rows)*ds)
			for _, r := range rows {
				sub = append(sub, data[r*dim+lo:r*dim+hi]...)
			}
			kc.Seed = cfg.Seed + uint64(j)*0x9e3779b97f4a7c15
			book, err := kmeans.Train(sub, ds, 256, kc)
			if err != nil {
				return fmt.Errorf("embtable: pq subspace %d: %w", j, err)
			}
			copy(t.pqBook[256*lo:], book)
		}
	case Binary, RaBitQ:
		t.center = make([]float32, dim)
		sum := make([]float64, dim)
		for i := 0; i < n; i++ {
			for j, x := range data[i*dim : (i+1)*dim] {
				sum[j] += float64(x)
			}
		}
		for j := range sum {
			if n > 0 {
				t.center[j] = float32(sum[j] / float64(n))
			}
		}
		if t.codec == RaBitQ {
			t.rdim = (dim + 63) / 64 * 64
			t.rot = randomRotation(t.rdim, cfg.Seed)
			cents := t.center
			if t.nlist > 0 {
				cents = t.cents
			}
			k := len(cents) / dim
			t.rcent = make([]float32, k*t.rdim)
			pad := make([]float32, t.rdim)
			for c := 0; c < k; c++ {
				copy(pad, cents[c*dim:(c+1)*dim])
				rotate(t.rot, pad, t.rcent[c*t.rdim:(c+1)*t.rdim])
			}
		}
	}
	return nil
}

// sampleRows returns up to size distinct row numbers, ascending, drawn with
// the seed; all rows when size is 0 or at least n.
func sampleRows(n, size int, seed uint64) []int {
	if size == 0 || size >= n {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	rng := rand.New(rand.NewPCG(seed, 0x73616d706c65))
	perm := rng.Perm(n)[:size]
	// Ascending order keeps reads of data sequential.
	mark := make([]bool, n)
	for _, r := range perm {
		mark[r] = true
	}
	rows := make([]int, 0, size)
	for r, ok := range mark {
		if ok {
			rows = append(rows, r)
		}
	}
	return rows
}

// randomRotation returns a random orthogonal d×d matrix (row-major): a
// seeded Gaussian matrix orthonormalised by modified Gram–Schmidt.
func randomRotation(d int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x726f746174696f6e))
	m := make([]float64, d*d)
	for i := range m {
		m[i] = rng.NormFloat64()
	}
	for i := 0; i < d; i++ {
		ri := m[i*d : (i+1)*d]
		for j := 0; j < i; j++ {
			rj := m[j*d : (j+1)*d]
			var dot float64
			for x := range ri {
				dot += ri[x] * rj[x]
			}
			for x := range ri {
				ri[x] -= dot * rj[x]
			}
		}
		var norm float64
		for _, v := range ri {
			norm += v * v
		}
		norm = math.Sqrt(norm)
		for x := range ri {
			ri[x] /= norm
		}
	}
	out := make([]float32, d*d)
	for i, v := range m {
		out[i] = float32(v)
	}
	return out
}

// rotate writes rot·x into dst (both of the rotation's dimension).
func rotate(rot, x, dst []float32) {
	d := len(x)
	for i := range dst[:d] {
		dst[i] = vecmath.Dot(x, rot[i*d:(i+1)*d])
	}
}

// encode stores the code of vector x at position pos.
func (t *Table) encode(pos int, x []float32, buf *encodeBuf) {
	dim := t.dim
	switch t.codec {
	case F32:
		copy(t.f32[pos*dim:(pos+1)*dim], x)
	case F16:
		out := t.f16[pos*dim : (pos+1)*dim]
		for i, v := range x {
			out[i] = uint16(vecmath.ToF16(v))
		}
	case SQ8:
		out := t.codes8[pos*dim : (pos+1)*dim]
		for i, v := range x {
			out[i] = sqLevel(v, t.mins[i], t.steps[i], 255)
		}
	case SQ4:
		out := t.codes8[pos*t.codeLen : (pos+1)*t.codeLen]
		for i := range out {
			lo := sqLevel(x[2*i], t.mins[2*i], t.steps[2*i], 15)
			var hi byte
			if 2*i+1 < dim {
				hi = sqLevel(x[2*i+1], t.mins[2*i+1], t.steps[2*i+1], 15)
			}
			out[i] = lo | hi<<4
		}
	case PQ:
		out := t.codes8[pos*t.codeLen : (pos+1)*t.codeLen]
		if len(buf.rot) < 256 {
			buf.rot = make([]float32, 256)
		}
		for j := range out {
			lo, hi := int(t.pqSplit[j]), int(t.pqSplit[j+1])
			subScores(x[lo:hi], t.pqBook[256*lo:256*hi], false, buf.rot)
			best := 0
			for c, s := range buf.rot[:256] {
				if s > buf.rot[best] {
					best = c
				}
			}
			out[j] = byte(best)
		}
	case Binary:
		out := t.words[pos*t.codeLen : (pos+1)*t.codeLen]
		clear(out)
		for i, v := range x {
			if v > t.center[i] {
				out[i>>6] |= 1 << (i & 63)
			}
		}
	case RaBitQ:
		t.encodeRaBitQ(pos, x, buf)
	}
}

// sqLevel returns the nearest level of v on the grid min + step·level.
func sqLevel(v, lo, step, levels float32) byte {
	if step <= 0 {
		return 0
	}
	l := float32(math.Round(float64((v - lo) / step)))
	return byte(max(0, min(levels, l)))
}

// encodeRaBitQ stores the sign bits of the rotated unit residual of x from
// its list centroid, and the factors the estimator needs.
func (t *Table) encodeRaBitQ(pos int, x []float32, buf *encodeBuf) {
	dim, rd := t.dim, t.rdim
	if len(buf.pad) != rd {
		buf.pad = make([]float32, rd)
		buf.rot = make([]float32, rd)
	}
	l := t.listOf(pos)
	c := t.center
	if t.nlist > 0 {
		c = t.cents[l*dim : (l+1)*dim]
	}
	clear(buf.pad)
	for i, v := range x {
		buf.pad[i] = v - c[i]
	}
	rotate(t.rot, buf.pad, buf.rot)
	nOC := vecmath.Norm(buf.rot)
	out := t.words[pos*t.codeLen : (pos+1)*t.codeLen]
	clear(out)
	var abs float64
	for i, v := range buf.rot {
		if v > 0 {
			out[i>>6] |= 1 << (i & 63)
		}
		abs += math.Abs(float64(v))
	}
	ipf := float32(1)
	if nOC > 0 {
		ipf = float32(abs / float64(nOC) / math.Sqrt(float64(rd)))
	}
	a := t.aux[pos*t.auxStride : (pos+1)*t.auxStride]
	a[0] = nOC
	a[1] = ipf
	if t.auxStride == 3 {
		a[2] = vecmath.Dot(buf.pad[:dim], c)
	}
}
