package multivec

import "math"

// negInf is the starting value of every per-query-vector maximum.
var negInf = float32(math.Inf(-1))

// MaxSim returns the late-interaction (Chamfer) score of the query q against
// the document d: the sum over query vectors of the largest inner product
// with any document vector. Both are row-major with dim columns. A document
// with no vectors scores 0. maxes is scratch of at least len(q)/dim floats;
// MaxSim allocates only when it is shorter.
//
// The AVX2/FMA kernel walks the document in blocks of four vectors and the
// query in pairs; the pure-Go kernel (maxSimUpdate) in 4×2 blocks.
func MaxSim(q, d []float32, dim int, maxes []float32) float32 {
	nq, nd := len(q)/dim, len(d)/dim
	if nq == 0 || nd == 0 {
		return 0
	}
	if len(maxes) < nq {
		maxes = make([]float32, nq)
	}
	maxes = maxes[:nq]
	for i := range maxes {
		maxes[i] = negInf
	}
	if useSIMD {
		maxSimUpdateSIMD(q, d, dim, maxes)
	} else {
		maxSimUpdate(q, d, dim, maxes)
	}
	var s float32
	for _, m := range maxes {
		s += m
	}
	return s
}

// useSIMD selects the assembly kernel; tests flip it to compare the paths.
var useSIMD = hasSIMD

// SIMD reports whether MaxSim uses the AVX2/FMA kernel on this machine
// (build with -tags purego for the pure-Go path everywhere).
func SIMD() bool { return useSIMD }

// maxSimUpdateSIMD is maxSimUpdate with the SIMD block kernel.
func maxSimUpdateSIMD(q, d []float32, dim int, maxes []float32) {
	nq, nd := len(q)/dim, len(d)/dim
	j := 0
	for ; j+4 <= nd; j += 4 {
		d0 := d[j*dim : (j+1)*dim]
		d1 := d[(j+1)*dim : (j+2)*dim]
		d2 := d[(j+2)*dim : (j+3)*dim]
		d3 := d[(j+3)*dim : (j+4)*dim]
		for i := 0; i < nq; i += 2 {
			q0 := q[i*dim : (i+1)*dim]
			q1 := q0
			if i+1 < nq {
				q1 = q[(i+1)*dim : (i+2)*dim]
			}
			a, b := dot2x4SIMD(q0, q1, d0, d1, d2, d3)
			maxes[i] = max(maxes[i], a[0], a[1], a[2], a[3])
			if i+1 < nq {
				maxes[i+1] = max(maxes[i+1], b[0], b[1], b[2], b[3])
			}
		}
	}
	if j < nd {
		maxSimUpdate(q, d[j*dim:], dim, maxes)
	}
}

// maxSimUpdate raises maxes[i] to the largest inner product of query vector i
// with any vector of d (pure Go).
//
// It walks the document in pairs of vectors and the query in quads: a 4×2
// register block keeps 8 independent accumulator chains (so both floating
// point add units stay busy), loads each query component once for 2 products
// and each document component once for 4, and unrolls dim by 8 with one
// bounds check per 8 components. Eight accumulators, four query and two
// document values fit the 15 SSE registers the Go ABI leaves; larger blocks
// spill (measured: 3×2, 2×4 and 4×3 are slower, see docs/multivec.md).
func maxSimUpdate(q, d []float32, dim int, maxes []float32) {
	nq, nd := len(q)/dim, len(d)/dim
	maxes = maxes[:nq]
	j := 0
	for ; j+2 <= nd; j += 2 {
		d0 := d[j*dim : (j+1)*dim]
		d1 := d[(j+1)*dim : (j+2)*dim]
		i := 0
		for ; i+4 <= nq; i += 4 {
			r := dot4x2(q[i*dim:(i+1)*dim], q[(i+1)*dim:(i+2)*dim], q[(i+2)*dim:(i+3)*dim], q[(i+3)*dim:(i+4)*dim], d0, d1)
			m := maxes[i : i+4 : i+4]
			m[0] = max(m[0], r[0], r[4])
			m[1] = max(m[1], r[1], r[5])
			m[2] = max(m[2], r[2], r[6])
			m[3] = max(m[3], r[3], r[7])
		}
		for ; i < nq; i++ {
			a, b := dot1x2(q[i*dim:(i+1)*dim], d0, d1)
			maxes[i] = max(maxes[i], a, b)
		}
	}
	if j < nd {
		dj := d[j*dim : (j+1)*dim]
		i := 0
		for ; i+4 <= nq; i += 4 {
			r := dot4x1(q[i*dim:(i+1)*dim], q[(i+1)*dim:(i+2)*dim], q[(i+2)*dim:(i+3)*dim], q[(i+3)*dim:(i+4)*dim], dj)
			m := maxes[i : i+4 : i+4]
			m[0] = max(m[0], r[0])
			m[1] = max(m[1], r[1])
			m[2] = max(m[2], r[2])
			m[3] = max(m[3], r[3])
		}
		for ; i < nq; i++ {
			maxes[i] = max(maxes[i], dot(q[i*dim:(i+1)*dim], dj))
		}
	}
}

// dot4x2 returns the inner products of q0..q3 with d0 (r[0..3]) and with d1
// (r[4..7]). All slices must have len(q0) components.
func dot4x2(q0, q1, q2, q3, d0, d1 []float32) (r [8]float32) {
	n := len(q0)
	q1, q2, q3, d0, d1 = q1[:n], q2[:n], q3[:n], d0[:n], d1[:n]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	k := 0
	for ; k+8 <= n; k += 8 {
		// Fixed-length views: one bounds check per view and 8 components.
		x0, x1, x2, x3 := q0[k:k+8:k+8], q1[k:k+8:k+8], q2[k:k+8:k+8], q3[k:k+8:k+8]
		y0, y1 := d0[k:k+8:k+8], d1[k:k+8:k+8]
		p0, p1, p2, p3 := x0[0], x1[0], x2[0], x3[0]
		v := y0[0]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w := y1[0]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[1], x1[1], x2[1], x3[1]
		v = y0[1]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[1]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[2], x1[2], x2[2], x3[2]
		v = y0[2]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[2]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[3], x1[3], x2[3], x3[3]
		v = y0[3]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[3]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[4], x1[4], x2[4], x3[4]
		v = y0[4]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[4]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[5], x1[5], x2[5], x3[5]
		v = y0[5]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[5]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[6], x1[6], x2[6], x3[6]
		v = y0[6]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[6]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
		p0, p1, p2, p3 = x0[7], x1[7], x2[7], x3[7]
		v = y0[7]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		w = y1[7]
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
	}
	for ; k < n; k++ {
		p0, p1, p2, p3 := q0[k], q1[k], q2[k], q3[k]
		v, w := d0[k], d1[k]
		a0 += p0 * v
		a1 += p1 * v
		a2 += p2 * v
		a3 += p3 * v
		b0 += p0 * w
		b1 += p1 * w
		b2 += p2 * w
		b3 += p3 * w
	}
	return [8]float32{a0, a1, a2, a3, b0, b1, b2, b3}
}

// dot4x1 returns the inner products of q0..q3 with d.
func dot4x1(q0, q1, q2, q3, d []float32) [4]float32 {
	n := len(q0)
	q1, q2, q3, d = q1[:n], q2[:n], q3[:n], d[:n]
	var a0, a1, a2, a3, c0, c1, c2, c3 float32
	k := 0
	for ; k+2 <= n; k += 2 {
		v, w := d[k], d[k+1]
		a0 += q0[k] * v
		a1 += q1[k] * v
		a2 += q2[k] * v
		a3 += q3[k] * v
		c0 += q0[k+1] * w
		c1 += q1[k+1] * w
		c2 += q2[k+1] * w
		c3 += q3[k+1] * w
	}
	for ; k < n; k++ {
		v := d[k]
		a0 += q0[k] * v
		a1 += q1[k] * v
		a2 += q2[k] * v
		a3 += q3[k] * v
	}
	return [4]float32{a0 + c0, a1 + c1, a2 + c2, a3 + c3}
}

// dot1x2 returns the inner products of q with d0 and d1.
func dot1x2(q, d0, d1 []float32) (float32, float32) {
	n := len(q)
	d0, d1 = d0[:n], d1[:n]
	var a0, a1, b0, b1 float32
	k := 0
	for ; k+2 <= n; k += 2 {
		x, y := q[k], q[k+1]
		a0 += x * d0[k]
		b0 += x * d1[k]
		a1 += y * d0[k+1]
		b1 += y * d1[k+1]
	}
	for ; k < n; k++ {
		a0 += q[k] * d0[k]
		b0 += q[k] * d1[k]
	}
	return a0 + a1, b0 + b1
}

// dot2x4 returns the inner products of q0 and q1 with d0..d3.
func dot2x4(q0, q1, d0, d1, d2, d3 []float32) (a, b [4]float32) {
	n := len(q0)
	q1, d0, d1, d2, d3 = q1[:n], d0[:n], d1[:n], d2[:n], d3[:n]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for k := 0; k < n; k++ {
		x, y := q0[k], q1[k]
		v0, v1, v2, v3 := d0[k], d1[k], d2[k], d3[k]
		a0 += x * v0
		a1 += x * v1
		a2 += x * v2
		a3 += x * v3
		b0 += y * v0
		b1 += y * v1
		b2 += y * v2
		b3 += y * v3
	}
	return [4]float32{a0, a1, a2, a3}, [4]float32{b0, b1, b2, b3}
}

// dot is the plain inner product over len(a) components.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for k := range a {
		s += a[k] * b[k]
	}
	return s
}

// maxSimNaive is the reference MaxSim, in float64, for tests.
func maxSimNaive(q, d []float32, dim int) float64 {
	nq, nd := len(q)/dim, len(d)/dim
	if nd == 0 {
		return 0
	}
	var s float64
	for i := 0; i < nq; i++ {
		best := math.Inf(-1)
		for j := 0; j < nd; j++ {
			var t float64
			for k := 0; k < dim; k++ {
				t += float64(q[i*dim+k]) * float64(d[j*dim+k])
			}
			best = math.Max(best, t)
		}
		s += best
	}
	return s
}

// WithPureGo runs f with the pure-Go kernel selected and returns its result.
// It is for benchmarks comparing the two paths and must not run while other
// goroutines use the package.
func WithPureGo[T any](f func() T) T {
	old := useSIMD
	useSIMD = false
	defer func() { useSIMD = old }()
	return f()
}
