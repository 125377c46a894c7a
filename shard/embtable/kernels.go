package embtable

import (
	"math/bits"
	"sync"

	"github.com/shoal-search/shoal/internal/vecmath"
)

// lutScore returns the sum over j of lut[j·256 + code[j]]: the asymmetric
// distance (ADC) lookup of PQ. It does not allocate.
func lutScore(lut []float32, code []byte) float32 {
	var s0, s1, s2, s3 float32
	n := len(code)
	lut = lut[:n<<8]
	j := 0
	for ; j+4 <= n; j += 4 {
		c := code[j : j+4 : j+4]
		s0 += lut[j<<8|int(c[0])]
		s1 += lut[(j+1)<<8|int(c[1])]
		s2 += lut[(j+2)<<8|int(c[2])]
		s3 += lut[(j+3)<<8|int(c[3])]
	}
	for ; j < n; j++ {
		s0 += lut[j<<8|int(code[j])]
	}
	return (s0 + s1) + (s2 + s3)
}

// hamming returns the number of differing bits of a and b (len(b) ≥ len(a)).
func hamming(a, b []uint64) int {
	b = b[:len(a)]
	n := 0
	for i, x := range a {
		n += bits.OnesCount64(x ^ b[i])
	}
	return n
}

// rabitqDot returns Σ_i b_i·u_i over the code bits b and the 4-bit query
// digits u, given as four bit planes of len(code) words each (planes[j·W:]
// holds bit j), and the popcount of the code.
func rabitqDot(code, planes []uint64) (dot, ones int) {
	w := len(code)
	p0 := planes[:w]
	p1 := planes[w : 2*w]
	p2 := planes[2*w : 3*w]
	p3 := planes[3*w : 4*w]
	for i, c := range code {
		ones += bits.OnesCount64(c)
		dot += bits.OnesCount64(c&p0[i]) + bits.OnesCount64(c&p1[i])<<1 +
			bits.OnesCount64(c&p2[i])<<2 + bits.OnesCount64(c&p3[i])<<3
	}
	return dot, ones
}

var (
	f16Once  sync.Once
	f16Table []float32
)

// f16Lookup returns a 65536-entry table from half-float bits to float32.
func f16Lookup() []float32 {
	f16Once.Do(func() {
		f16Table = make([]float32, 1<<16)
		for i := range f16Table {
			f16Table[i] = vecmath.F16(i).Float32()
		}
	})
	return f16Table
}

// dotF16 returns the inner product of q with the half-float vector h.
func dotF16(tab []float32, q []float32, h []uint16) float32 {
	h = h[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		s0 += q[i] * tab[h[i]]
		s1 += q[i+1] * tab[h[i+1]]
		s2 += q[i+2] * tab[h[i+2]]
		s3 += q[i+3] * tab[h[i+3]]
	}
	for ; i < len(q); i++ {
		s0 += q[i] * tab[h[i]]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2F16 returns the squared distance between q and the half-float vector h.
func l2F16(tab []float32, q []float32, h []uint16) float32 {
	h = h[:len(q)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(q); i += 2 {
		d0 := q[i] - tab[h[i]]
		d1 := q[i+1] - tab[h[i+1]]
		s0 += d0 * d0
		s1 += d1 * d1
	}
	for ; i < len(q); i++ {
		d := q[i] - tab[h[i]]
		s0 += d * d
	}
	return s0 + s1
}

// subScores writes into out[c] the score of sub against each of the 256
// centroids of one PQ codebook (book holds 256 rows of len(sub) values): the
// inner product, or the negated squared distance. Inlined loops beat a
// kernel call per centroid for the short subvectors PQ uses.
func subScores(sub, book []float32, ip bool, out []float32) {
	ds := len(sub)
	out = out[:256]
	book = book[:256*ds]
	if ip {
		for c := range out {
			row := book[c*ds : (c+1)*ds : (c+1)*ds]
			var s float32
			for i, x := range sub {
				s += x * row[i]
			}
			out[c] = s
		}
		return
	}
	for c := range out {
		row := book[c*ds : (c+1)*ds : (c+1)*ds]
		var s float32
		for i, x := range sub {
			d := x - row[i]
			s += d * d
		}
		out[c] = -s
	}
}

// sq8Dot returns Σ a[i]·c[i]: the level-dependent part of a query's inner
// product with an SQ8 code (a holds query·step).
func sq8Dot(a []float32, c []byte) float32 {
	c = c[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * float32(c[i])
		s1 += a[i+1] * float32(c[i+1])
		s2 += a[i+2] * float32(c[i+2])
		s3 += a[i+3] * float32(c[i+3])
	}
	for ; i < len(a); i++ {
		s0 += a[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sq8L2 returns Σ (b[i] − st[i]·c[i])²: the squared distance of a query to
// an SQ8 code (b holds query − min, st the steps).
func sq8L2(b, st []float32, c []byte) float32 {
	c = c[:len(b)]
	st = st[:len(b)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(b); i += 2 {
		d0 := b[i] - st[i]*float32(c[i])
		d1 := b[i+1] - st[i+1]*float32(c[i+1])
		s0 += d0 * d0
		s1 += d1 * d1
	}
	for ; i < len(b); i++ {
		d := b[i] - st[i]*float32(c[i])
		s0 += d * d
	}
	return s0 + s1
}

// sq4Dot is sq8Dot for SQ4 codes: two levels per byte, low nibble first; a
// has 2·len(c) entries (zero-padded).
func sq4Dot(a []float32, c []byte) float32 {
	a = a[:2*len(c)]
	var s0, s1 float32
	for j, x := range c {
		s0 += a[2*j] * float32(x&15)
		s1 += a[2*j+1] * float32(x>>4)
	}
	return s0 + s1
}

// sq4L2 is sq8L2 for SQ4 codes; b and st have 2·len(c) entries (zero-padded).
func sq4L2(b, st []float32, c []byte) float32 {
	b = b[:2*len(c)]
	st = st[:2*len(c)]
	var s0, s1 float32
	for j, x := range c {
		d0 := b[2*j] - st[2*j]*float32(x&15)
		d1 := b[2*j+1] - st[2*j+1]*float32(x>>4)
		s0 += d0 * d0
		s1 += d1 * d1
	}
	return s0 + s1
}
