package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDotL2(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 40; n++ {
		a, b := make([]float32, n), make([]float32, n)
		var dot, l2 float64
		for i := range a {
			a[i], b[i] = r.Float32()-0.5, r.Float32()-0.5
			dot += float64(a[i]) * float64(b[i])
			d := float64(a[i]) - float64(b[i])
			l2 += d * d
		}
		if got := Dot(a, b); math.Abs(float64(got)-dot) > 1e-5 {
			t.Fatalf("n=%d: Dot got %v, want %v", n, got, dot)
		}
		if got := L2Sq(a, b); math.Abs(float64(got)-l2) > 1e-5 {
			t.Fatalf("n=%d: L2Sq got %v, want %v", n, got, l2)
		}
	}
}

func TestF16RoundTrip(t *testing.T) {
	for _, f := range []float32{0, 1, -1, 0.5, 65504, 1e-5, -2.75, 3.140625, 6.1035156e-05} {
		if got := ToF16(f).Float32(); got != f && math.Abs(float64(got-f)) > 1e-7 {
			t.Fatalf("f16(%v) = %v", f, got)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 10000; i++ {
		f := (r.Float32() - 0.5) * 100
		got := ToF16(f).Float32()
		if rel := math.Abs(float64(got-f)) / math.Max(math.Abs(float64(f)), 1e-3); rel > 1e-3 {
			t.Fatalf("f16(%v) = %v, relative error %v", f, got, rel)
		}
	}
	if !math.IsInf(float64(ToF16(1e6).Float32()), 1) {
		t.Fatal("1e6 should overflow to +Inf")
	}
	// every half value survives a round trip
	for h := 0; h < 1<<16; h++ {
		f := F16(h).Float32()
		if f != f {
			continue
		}
		if back := ToF16(f); back != F16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestFinite(t *testing.T) {
	if !Finite([]float32{1, 2}) || Finite([]float32{float32(math.NaN())}) || Finite([]float32{float32(math.Inf(1))}) {
		t.Fatal("Finite misjudged")
	}
}
