package seismic

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/shoal-search/shoal/internal/vecmath"
)

// TestF16Decode checks the table-free half-float decoder against the exact
// conversion for every finite bit pattern, subnormals and zeros included.
func TestF16Decode(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue // Inf and NaN are never stored
		}
		want := vecmath.F16(h).Float32()
		if got := f16(uint32(h)); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("f16(%#04x) = %v, want %v", h, got, want)
		}
	}
}

// TestFitsHalf checks that values beyond the half range keep float32
// storage.
func TestFitsHalf(t *testing.T) {
	f := Forward{Offsets: []int64{0, 2}, Indices: []uint32{1, 2}, Values: []float32{1, 70000}}
	cfg := DefaultConfig()
	cfg.Values = ValueF16
	ix, err := Build(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ix.half {
		t.Fatal("value 70000 stored as a half float")
	}
	got := ix.Search(Vector{Indices: []uint32{2}, Values: []float32{1}}, 1, DefaultSearchParams(), nil, nil)
	if len(got) != 1 || got[0].Score != 70000 {
		t.Errorf("got %v, want score 70000", got)
	}
}

// TestPrefetch runs the prefetch routine over every small length and
// alignment (it must not fault or write).
func TestPrefetch(t *testing.T) {
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := 0; off < 130; off++ {
		for n := 1; off+n <= len(buf); n += 37 {
			prefetch(unsafe.Pointer(&buf[off]), uintptr(n))
		}
	}
	for i := range buf {
		if buf[i] != byte(i) {
			t.Fatal("prefetch changed memory")
		}
	}
}

// TestDotPacked checks the packed kernel against the plain sum of decoded
// values.
func TestDotPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var q [1 << 16]float32
	for i := range 2000 {
		q[r.IntN(1<<16)] = float32(r.NormFloat64()) * 3
		_ = i
	}
	for n := 0; n < 300; n += 7 {
		ps := make([]uint32, n)
		var want0, want1 float32
		for j := range ps {
			v := float32(r.NormFloat64()) * float32(math.Pow(10, float64(r.IntN(6)-3)))
			id := uint32(r.IntN(1 << 16))
			ps[j] = id | uint32(vecmath.ToF16(v))<<16
			x := q[id] * f16(ps[j]>>16)
			if j%2 == 0 {
				want0 += x
			} else {
				want1 += x
			}
		}
		if got, want := dotPacked(ps, &q), want0+want1; got != want {
			t.Fatalf("n=%d: dotPacked = %v, want %v", n, got, want)
		}
	}
}

// TestSIMDKernels checks the gather kernels against the pure-Go ones on
// rows of every length up to 80 (so every tail length), ids over the whole
// 16-bit range and values of both signs.
func TestSIMDKernels(t *testing.T) {
	if !useSIMD {
		t.Skip("no AVX2/FMA here (or a purego build): only the pure-Go kernels run")
	}
	r := rand.New(rand.NewPCG(1, 2))
	var q [1 << 16]float32
	for i := range q {
		if r.IntN(4) == 0 {
			q[i] = r.Float32()*4 - 1
		}
	}
	ps := make([]uint32, 80)
	ts := make([]uint16, 80)
	codes := make([]uint8, 80)
	for n := 0; n <= 80; n++ {
		for trial := 0; trial < 20; trial++ {
			for j := 0; j < n; j++ {
				id := uint32(r.IntN(1 << 16))
				v := r.Float32()*8 - 2
				ps[j] = id | uint32(vecmath.ToF16(v))<<16
				ts[j] = uint16(id)
				codes[j] = uint8(r.IntN(256))
			}
			want, got := dotPacked(ps[:n], &q), dotPackedFast(ps[:n], &q)
			if !close32(got, want) {
				t.Fatalf("dotPacked n=%d: SIMD %v, Go %v", n, got, want)
			}
			want, got = sum16(ts[:n], codes[:n], &q, 0.25, 0.01), sum16Fast(ts[:n], codes[:n], &q, 0.25, 0.01)
			if !close32(got, want) {
				t.Fatalf("sum16 n=%d: SIMD %v, Go %v", n, got, want)
			}
		}
	}
}

// close32 allows for the different summation order of the kernels.
func close32(a, b float32) bool {
	d := math.Abs(float64(a - b))
	return d <= 1e-4*max(1, math.Abs(float64(a)), math.Abs(float64(b)))
}
