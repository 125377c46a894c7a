package embtable

import "testing"

func TestChoose(t *testing.T) {
	cases := []struct {
		budget float64
		dim    int
		codec  Codec
		pqm    int
	}{
		{400, 100, F32, 0},
		{200, 100, F16, 0},
		{100, 100, SQ8, 0},
		{50, 100, SQ4, 0},
		{25, 100, PQ, 24},
		{12.5, 100, PQ, 11},
		{0.5, 100, PQ, 1},
		{104, 768, RaBitQ, 0},
		{96, 768, Binary, 0},
		{60, 768, PQ, 59},
	}
	for _, c := range cases {
		cfg := Choose(c.budget, c.dim)
		if cfg.Codec != c.codec || cfg.PQM != c.pqm {
			t.Errorf("Choose(%v, %d) = %s m=%d, want %s m=%d", c.budget, c.dim, cfg.Codec, cfg.PQM, c.codec, c.pqm)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Choose(%v, %d): %v", c.budget, c.dim, err)
		}
	}
}

// TestChooseFitsBudget builds what Choose picks and checks the resident size.
func TestChooseFitsBudget(t *testing.T) {
	const n, dim = 3000, 32
	data := synth(n, dim, 4)
	for _, budget := range []float64{128, 64, 32, 16, 8, 4} {
		cfg := Choose(budget, dim)
		cfg.TrainSample = 2000
		tab, err := Build(data, dim, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Codec parameters are amortised over only 3000 rows here: allow
		// for them.
		slack := float64(4*(len(tab.pqBook)+len(tab.mins)+len(tab.steps)+len(tab.center))) / n
		if got := tab.BytesPerVector(); got > budget+slack {
			t.Errorf("budget %v: %s uses %.2f bytes per vector", budget, cfg.Codec, got)
		}
	}
}
