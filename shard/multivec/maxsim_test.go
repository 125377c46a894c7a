package multivec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMaxSimMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dim := range []int{1, 3, 7, 8, 9, 16, 17, 100, 128} {
		for _, nq := range []int{1, 2, 3, 4, 5, 7, 32} {
			for _, nd := range []int{1, 2, 3, 4, 5, 7, 80} {
				q, d := randVecs(rng, nq, dim), randVecs(rng, nd, dim)
				want := maxSimNaive(q, d, dim)
				for _, simd := range []bool{false, true} {
					if simd && !hasSIMD {
						continue
					}
					useSIMD = simd
					got := MaxSim(q, d, dim, nil)
					useSIMD = hasSIMD
					old := maxSimWith(maxSimUpdateOld, q, d, dim, make([]float32, nq))
					if math.Abs(float64(old)-want) > 1e-4*math.Max(1, math.Abs(want))*float64(dim) {
						t.Fatalf("dim %d nq %d nd %d old kernel: got %v, want %v", dim, nq, nd, old, want)
					}
					if math.Abs(float64(got)-want) > 1e-4*math.Max(1, math.Abs(want))*float64(dim) {
						t.Fatalf("dim %d nq %d nd %d simd %v: got %v, want %v", dim, nq, nd, simd, got, want)
					}
				}
			}
		}
	}
}

func TestMaxSimEmpty(t *testing.T) {
	if got := MaxSim([]float32{1, 2}, nil, 2, nil); got != 0 {
		t.Fatalf("empty doc: got %v, want 0", got)
	}
}

func TestMaxSimNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	q, d := randVecs(rng, 32, 128), randVecs(rng, 80, 128)
	maxes := make([]float32, 32)
	if a := testing.AllocsPerRun(50, func() { MaxSim(q, d, 128, maxes) }); a != 0 {
		t.Fatalf("MaxSim allocates %v times per run, want 0", a)
	}
}

// TestMaxSimPathsAgree checks that the SIMD and pure-Go kernels give the same
// scores up to float32 rounding (they sum in different orders).
func TestMaxSimPathsAgree(t *testing.T) {
	if !hasSIMD {
		t.Skip("no SIMD kernel in this build")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{32, 80, 128}, {5, 7, 128}, {32, 161, 96}, {3, 9, 300}} {
		q, d := randVecs(rng, sz[0], sz[2]), randVecs(rng, sz[1], sz[2])
		simd := MaxSim(q, d, sz[2], nil)
		pure := WithPureGo(func() float32 { return MaxSim(q, d, sz[2], nil) })
		if math.Abs(float64(simd-pure)) > 1e-4*math.Max(1, math.Abs(float64(simd))) {
			t.Fatalf("%v: simd %v, pure Go %v", sz, simd, pure)
		}
	}
}
