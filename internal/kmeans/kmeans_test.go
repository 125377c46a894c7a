package kmeans

import (
	"math/rand/v2"
	"testing"
)

// blobs returns n points of dimension dim around k well separated centers.
func blobs(n, dim, k int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	centers := make([]float32, k*dim)
	for i := range centers {
		centers[i] = float32(rng.NormFloat64() * 10)
	}
	out := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		c := i % k
		for j := 0; j < dim; j++ {
			out[i*dim+j] = centers[c*dim+j] + float32(rng.NormFloat64()*0.1)
		}
	}
	return out
}

func TestTrainSeparatesBlobs(t *testing.T) {
	const n, dim, k = 2000, 8, 5
	data := blobs(n, dim, k, 7)
	cent, err := Train(data, dim, k, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := Assign(data, dim, cent, L2, 0, nil)
	// Points generated from the same center must share a cluster.
	for i := k; i < n; i++ {
		if a[i] != a[i%k] {
			t.Fatalf("point %d in cluster %d, want %d like point %d", i, a[i], a[i%k], i%k)
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	data := blobs(3000, 6, 20, 3)
	cfg := DefaultConfig()
	cfg.SampleSize = 2500
	cfg.Workers = 1
	a, err := Train(data, 6, 16, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 4
	b, err := Train(data, 6, 16, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("centroid value %d differs: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestTrainSmallInputAndIP(t *testing.T) {
	data := []float32{1, 0, 0, 1, -1, 0}
	cent, err := Train(data, 2, 5, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(cent) != 10 {
		t.Fatalf("got %d values, want 10", len(cent))
	}
	cfg := DefaultConfig()
	cfg.Metric = IP
	cfg.Init = InitSampled
	if _, err := Train(blobs(500, 4, 3, 1), 4, 3, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(data, 0, 2, cfg); err == nil {
		t.Fatal("dim 0: got nil error")
	}
}

func TestNearestN(t *testing.T) {
	cent := []float32{0, 0, 1, 1, 5, 5, 2, 2}
	got := NearestN([]float32{1.9, 1.9}, cent, L2, 2, make([]float32, 4), nil)
	if len(got) != 2 || got[0] != 3 || got[1] != 1 {
		t.Fatalf("got %v, want [3 1]", got)
	}
	if c, _ := Nearest([]float32{4, 4}, cent, L2); c != 2 {
		t.Fatalf("got %d, want 2", c)
	}
}

func TestConcurrentAssign(t *testing.T) {
	data := blobs(3000, 4, 4, 9)
	cent, err := Train(data, 4, 4, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := Assign(data, 4, cent, L2, 3, nil)
	b := Assign(data, 4, cent, L2, 1, nil)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d: %d vs %d", i, a[i], b[i])
		}
	}
}
