//go:build !amd64 || purego

package seismic

// useSIMD is false: this build has only the pure-Go kernels.
var useSIMD = false

func dotPackedFast(ps []uint32, q *[1 << 16]float32) float32 { return dotPacked(ps, q) }

func sum16Fast(ts []uint16, codes []uint8, q *[1 << 16]float32, lo, scale float32) float32 {
	return sum16(ts, codes, q, lo, scale)
}
