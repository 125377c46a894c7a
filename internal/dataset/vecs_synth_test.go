package dataset

import "testing"

func TestSyntheticDense(t *testing.T) {
	cfg := DefaultDenseSynthConfig()
	cfg.Dim, cfg.Clusters = 16, 10
	a, err := SyntheticDense(500, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SyntheticDense(500, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := SyntheticDense(500, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 500*16 {
		t.Fatalf("got %d values, want %d", len(a), 500*16)
	}
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d differs between identical draws", i)
		}
		same = same && a[i] == q[i]
	}
	if same {
		t.Fatal("streams 0 and 1 are identical")
	}
	// Anisotropy: the per-dimension variance must vary widely.
	var lo, hi float64 = 1e9, 0
	for j := 0; j < 16; j++ {
		var s, s2 float64
		for i := 0; i < 500; i++ {
			x := float64(a[i*16+j])
			s += x
			s2 += x * x
		}
		v := s2/500 - (s/500)*(s/500)
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi < 1.5*lo {
		t.Errorf("variance range [%.3f, %.3f] is nearly isotropic", lo, hi)
	}
	cfg.Clusters = 0
	if _, err := SyntheticDense(1, cfg, 0); err == nil {
		t.Error("0 clusters: got nil error")
	}
}
