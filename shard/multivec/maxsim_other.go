//go:build !amd64 || purego

package multivec

// hasSIMD is false: this build has only the pure-Go kernel.
var hasSIMD = false

func dot2x4SIMD(q0, q1, d0, d1, d2, d3 []float32) (a, b [4]float32) {
	return dot2x4(q0, q1, d0, d1, d2, d3)
}
