package faulttest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-search/shoal/shard/seismic"
)

// TestCorruptSeismicValues checks the corrupter against the real format: the
// file still loads (ids, offsets and header intact) and scores change, so the
// corrupt-segment scenario fails loudly if the format moves on.
func TestCorruptSeismicValues(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var f seismic.Forward
	f.Offsets = []int64{0}
	for d := 0; d < 400; d++ {
		v := randSparse(r, 200, 8)
		f.Indices = append(f.Indices, v.Indices...)
		f.Values = append(f.Values, v.Values...)
		f.Offsets = append(f.Offsets, int64(len(f.Indices)))
	}
	f.Dim = 200
	for _, vt := range []seismic.ValueType{seismic.ValueF16, seismic.ValueF32} {
		cfg := seismic.DefaultConfig()
		cfg.Values = vt
		ix, err := seismic.Build(f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "seg.sparse")
		var buf bytes.Buffer
		if _, err := ix.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CorruptSeismicValues(path); err != nil {
			t.Fatalf("values %v: %v", vt, err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bad, err := seismic.Load(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("values %v: the corrupted file no longer loads: %v", vt, err)
		}
		p := seismic.DefaultSearchParams()
		var worst float32
		for d := 0; d < 40; d++ {
			q := seismic.Vector{Indices: f.Indices[f.Offsets[d]:f.Offsets[d+1]], Values: f.Values[f.Offsets[d]:f.Offsets[d+1]]}
			good := ix.Search(q, 1, p, nil, nil)
			got := bad.Search(q, 1, p, nil, nil)
			if len(good) > 0 && len(got) > 0 {
				worst = max(worst, got[0].Score/good[0].Score)
			}
		}
		if worst < 10 {
			t.Fatalf("values %v: corrupted scores at most %.1f× the true ones; the corruption did not reach the values", vt, worst)
		}
	}
}
