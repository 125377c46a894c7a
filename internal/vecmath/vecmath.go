// Package vecmath holds the float32 kernels that every index package shares:
// dot products, squared L2 distances, norms and float16 conversion. The
// kernels are pure Go, unrolled by four, and never allocate.
//
//	s := vecmath.Dot(q, v)
//	d := vecmath.L2Sq(q, v)
package vecmath

import "math"

// Dot returns the inner product of a and b over len(a) components; b must be
// at least as long as a.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// L2Sq returns the squared Euclidean distance between a and b.
func L2Sq(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// Norm returns the L2 norm of a.
func Norm(a []float32) float32 {
	return float32(math.Sqrt(float64(Dot(a, a))))
}

// Normalize scales a in place to unit L2 norm and returns its former norm. A
// zero vector is left as it is.
func Normalize(a []float32) float32 {
	n := Norm(a)
	if n == 0 {
		return 0
	}
	inv := 1 / n
	for i := range a {
		a[i] *= inv
	}
	return n
}

// Finite reports whether every component of a is neither NaN nor infinite.
func Finite(a []float32) bool {
	for _, x := range a {
		if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
			return false
		}
	}
	return true
}

// F16 is an IEEE 754 half-precision float stored in its bit pattern.
type F16 uint16

// ToF16 converts f to half precision, rounding to nearest even. Values beyond
// the half range become infinities.
func ToF16(f float32) F16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	mant := b & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return F16(sign | 0x7e00)
		}
		return F16(sign | 0x7c00)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return F16(sign | 0x7c00)
	}
	if e <= 0 {
		if e < -10 {
			return F16(sign)
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rounded := mant + half - 1 + ((mant >> shift) & 1)
		return F16(sign | uint16(rounded>>shift))
	}
	rounded := mant + 0xfff + ((mant >> 13) & 1)
	if rounded&0x800000 != 0 {
		rounded = 0
		e++
		if e >= 0x1f {
			return F16(sign | 0x7c00)
		}
	}
	return F16(sign | uint16(e)<<10 | uint16(rounded>>13))
}

// Float32 converts h to single precision exactly.
func (h F16) Float32() float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		for mant&0x400 == 0 {
			mant <<= 1
			exp--
		}
		exp++
		mant &= 0x3ff
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
