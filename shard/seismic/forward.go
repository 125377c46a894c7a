package seismic

import (
	"fmt"
	"math"
)

// Vector is one sparse vector: component ids and their values. Build input
// needs strictly ascending ids; query vectors may be in any order (repeated
// ids add up).
type Vector struct {
	// Indices are the component (term) ids.
	Indices []uint32
	// Values are the weights, one per index.
	Values []float32
}

// Forward is a collection of sparse vectors in compressed-row form: row i
// has Indices[Offsets[i]:Offsets[i+1]] and the values at the same positions.
// Row numbers become document ids 0..Len()-1.
type Forward struct {
	// Offsets has Len()+1 entries, starting at 0.
	Offsets []int64
	// Indices holds all rows' component ids, each row strictly ascending.
	Indices []uint32
	// Values holds all rows' values.
	Values []float32
	// Dim is the vocabulary size; 0 means one more than the largest id.
	Dim uint32
}

// Len returns the number of rows.
func (f Forward) Len() int {
	if len(f.Offsets) == 0 {
		return 0
	}
	return len(f.Offsets) - 1
}

// Row returns row i; its slices alias f.
func (f Forward) Row(i int) Vector {
	a, b := f.Offsets[i], f.Offsets[i+1]
	return Vector{Indices: f.Indices[a:b], Values: f.Values[a:b]}
}

// Validate checks the compressed-row invariants (offsets cover the entries,
// ids strictly ascending within a row and below Dim when it is set, values
// finite) and returns the vocabulary size. Errors wrap ErrInput.
func (f Forward) Validate() (uint32, error) { return f.validate() }

// validate checks the CSR invariants and returns the vocabulary size.
func (f Forward) validate() (uint32, error) {
	if len(f.Offsets) == 0 {
		return f.Dim, nil
	}
	if f.Offsets[0] != 0 || f.Offsets[len(f.Offsets)-1] != int64(len(f.Indices)) || len(f.Indices) != len(f.Values) {
		return 0, fmt.Errorf("%w: offsets do not cover indices and values", ErrInput)
	}
	dim := uint64(f.Dim)
	for i := 0; i < f.Len(); i++ {
		a, b := f.Offsets[i], f.Offsets[i+1]
		if b < a {
			return 0, fmt.Errorf("%w: row %d: offsets decrease", ErrInput, i)
		}
		for j := a; j < b; j++ {
			if j > a && f.Indices[j] <= f.Indices[j-1] {
				return 0, fmt.Errorf("%w: row %d: indices not strictly ascending", ErrInput, i)
			}
			v := float64(f.Values[j])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("%w: row %d: non-finite value", ErrInput, i)
			}
		}
		if b > a {
			if t := uint64(f.Indices[b-1]) + 1; t > dim {
				if f.Dim != 0 {
					return 0, fmt.Errorf("%w: row %d: index %d not below dim %d", ErrInput, i, t-1, f.Dim)
				}
				dim = t
			}
		}
	}
	if dim > math.MaxUint32 {
		dim = math.MaxUint32
	}
	return uint32(dim), nil
}

// f16 converts the IEEE half-float bits in the low 16 bits of h to float32,
// exactly for every finite value (subnormals included), without a table:
// the exponent and mantissa are moved to their float32 places and the
// exponent bias difference (2^112) is applied by one multiplication.
// Build never stores infinities or NaNs (values beyond the half range keep
// float32 storage).
func f16(h uint32) float32 {
	return math.Float32frombits((h&0x7fff)<<13|(h&0x8000)<<16) * 0x1p112
}

// The four scoring kernels: narrow (uint16) or wide (uint32) compact term
// ids, float32 or half values. The narrow kernels index a 65,536-entry array,
// so the compiler drops the bounds check on the query lookup.

func dot16f32(ts []uint16, vs []float32, q *[1 << 16]float32) float32 {
	vs = vs[:len(ts)]
	var s0, s1 float32
	j := 0
	for ; j+1 < len(ts); j += 2 {
		s0 += q[ts[j]] * vs[j]
		s1 += q[ts[j+1]] * vs[j+1]
	}
	if j < len(ts) {
		s0 += q[ts[j]] * vs[j]
	}
	return s0 + s1
}

func dot16f16(ts []uint16, vs []uint16, q *[1 << 16]float32) float32 {
	vs = vs[:len(ts)]
	var s float32
	for j, t := range ts {
		s += q[t] * f16(uint32(vs[j]))
	}
	return s
}

// dotPacked scores packed entries (id | f16<<16). The half bits are moved
// to their float32 places by one arithmetic shift and a mask, which gives
// the value times 2^-112; the sum is scaled back once at the end (exact: a
// power-of-two scale commutes with rounding while nothing underflows, and
// half floats times query weights stay far above float32's normal range).
func dotPacked(ps []uint32, q *[1 << 16]float32) float32 {
	const mask = 0x8fffe000 // sign, then exponent and mantissa after >>3
	var s0, s1 float32
	j := 0
	for ; j+1 < len(ps); j += 2 {
		a, b := ps[j], ps[j+1]
		s0 += q[uint16(a)] * math.Float32frombits(uint32(int32(a)>>3)&mask)
		s1 += q[uint16(b)] * math.Float32frombits(uint32(int32(b)>>3)&mask)
	}
	if j < len(ps) {
		a := ps[j]
		s0 += q[uint16(a)] * math.Float32frombits(uint32(int32(a)>>3)&mask)
	}
	return (s0 + s1) * 0x1p112
}

func dot32f32(ts []uint32, vs []float32, q []float32) float32 {
	vs = vs[:len(ts)]
	var s float32
	for j, t := range ts {
		s += q[t] * vs[j]
	}
	return s
}

func dot32f16(ts []uint32, vs []uint16, q []float32) float32 {
	vs = vs[:len(ts)]
	var s float32
	for j, t := range ts {
		s += q[t] * f16(uint32(vs[j]))
	}
	return s
}

// sum16 returns Σ q[t]·(lo + code·scale) over a quantized summary.
func sum16(ts []uint16, codes []uint8, q *[1 << 16]float32, lo, scale float32) float32 {
	codes = codes[:len(ts)]
	var sq, sc float32
	for j, t := range ts {
		w := q[t]
		sq += w
		sc += w * float32(codes[j])
	}
	return lo*sq + scale*sc
}

func sum32(ts []uint32, codes []uint8, q []float32, lo, scale float32) float32 {
	codes = codes[:len(ts)]
	var sq, sc float32
	for j, t := range ts {
		w := q[t]
		sq += w
		sc += w * float32(codes[j])
	}
	return lo*sq + scale*sc
}
