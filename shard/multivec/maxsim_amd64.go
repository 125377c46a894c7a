//go:build amd64 && !purego

package multivec

import "github.com/shoal-search/shoal/internal/cpufeat"

//go:noescape
func dot2x4AVX(q0, q1, d0, d1, d2, d3 *float32, n int, out *[8]float32)

// hasSIMD reports whether the CPU and OS support AVX2 and FMA.
var hasSIMD = cpufeat.AVX2FMA

// dot2x4SIMD is dot2x4 through AVX2/FMA for the first multiple of eight
// components and pure Go for the rest.
func dot2x4SIMD(q0, q1, d0, d1, d2, d3 []float32) (a, b [4]float32) {
	n := len(q0)
	n8 := n &^ 7
	var out [8]float32
	if n8 > 0 {
		q1, d0, d1, d2, d3 = q1[:n], d0[:n], d1[:n], d2[:n], d3[:n]
		dot2x4AVX(&q0[0], &q1[0], &d0[0], &d1[0], &d2[0], &d3[0], n8, &out)
	}
	a = [4]float32{out[0], out[1], out[2], out[3]}
	b = [4]float32{out[4], out[5], out[6], out[7]}
	if n8 < n {
		ta, tb := dot2x4(q0[n8:], q1[n8:n], d0[n8:n], d1[n8:n], d2[n8:n], d3[n8:n])
		for i := range a {
			a[i] += ta[i]
			b[i] += tb[i]
		}
	}
	return a, b
}
