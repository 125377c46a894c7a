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
// The kernel walks the document in blocks of four vectors and the query in
// pairs, so each loaded query component feeds four products and each loaded
// document component two.
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
// with any vector of d.
func maxSimUpdate(q, d []float32, dim int, maxes []float32) {
	nq, nd := len(q)/dim, len(d)/dim
	j := 0
	for ; j+4 <= nd; j += 4 {
		d0 := d[j*dim : (j+1)*dim]
		d1 := d[(j+1)*dim : (j+2)*dim]
		d2 := d[(j+2)*dim : (j+3)*dim]
		d3 := d[(j+3)*dim : (j+4)*dim]
		i := 0
		for ; i+2 <= nq; i += 2 {
			a, b := dot2x4(q[i*dim:(i+1)*dim], q[(i+1)*dim:(i+2)*dim], d0, d1, d2, d3)
			maxes[i] = max(maxes[i], a[0], a[1], a[2], a[3])
			maxes[i+1] = max(maxes[i+1], b[0], b[1], b[2], b[3])
		}
		if i < nq {
			a := dot1x4(q[i*dim:(i+1)*dim], d0, d1, d2, d3)
			maxes[i] = max(maxes[i], a[0], a[1], a[2], a[3])
		}
	}
	for ; j < nd; j++ {
		dj := d[j*dim : (j+1)*dim]
		for i := 0; i < nq; i++ {
			maxes[i] = max(maxes[i], dot(q[i*dim:(i+1)*dim], dj))
		}
	}
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

// dot1x4 returns the inner products of q with d0..d3.
func dot1x4(q, d0, d1, d2, d3 []float32) [4]float32 {
	n := len(q)
	d0, d1, d2, d3 = d0[:n], d1[:n], d2[:n], d3[:n]
	var a0, a1, a2, a3 float32
	for k := 0; k < n; k++ {
		x := q[k]
		a0 += x * d0[k]
		a1 += x * d1[k]
		a2 += x * d2[k]
		a3 += x * d3[k]
	}
	return [4]float32{a0, a1, a2, a3}
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
