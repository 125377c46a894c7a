//go:build amd64 && !purego

package seismic

import "github.com/shoal-search/shoal/internal/cpufeat"

//go:noescape
func dotPackedAVX2(ps *uint32, n int, q *float32) float32

//go:noescape
func sum16AVX2(ts *uint16, codes *uint8, n int, q *float32) (sq, sc float32)

// useSIMD selects the AVX2 gather kernels; tests switch it off to compare.
var useSIMD = cpufeat.AVX2FMA

// dotPackedFast is dotPacked through AVX2 gathers for the first multiple of
// 16 entries. Every gathered index is below 1<<16, inside q.
func dotPackedFast(ps []uint32, q *[1 << 16]float32) float32 {
	n := len(ps) &^ 15
	if !useSIMD || n == 0 {
		return dotPacked(ps, q)
	}
	s := dotPackedAVX2(&ps[0], n, &q[0]) * 0x1p112
	if n < len(ps) {
		s += dotPacked(ps[n:], q)
	}
	return s
}

// sum16Fast is sum16 through AVX2 gathers for the first multiple of 8
// entries.
func sum16Fast(ts []uint16, codes []uint8, q *[1 << 16]float32, lo, scale float32) float32 {
	n := len(ts) &^ 7
	if !useSIMD || n == 0 {
		return sum16(ts, codes, q, lo, scale)
	}
	codes = codes[:len(ts)]
	sq, sc := sum16AVX2(&ts[0], &codes[0], n, &q[0])
	for j := n; j < len(ts); j++ {
		w := q[ts[j]]
		sq += w
		sc += w * float32(codes[j])
	}
	return lo*sq + scale*sc
}
