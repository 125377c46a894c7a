package faulttest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-search/shoal/shard/seismic"
)

// TestCorruptSeismicValues checks the corrupter against the real format: it
// changes the file in place and only the checksum notices, so the
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
		if bytes.Equal(raw, buf.Bytes()) {
			t.Fatalf("values %v: the corrupter changed nothing", vt)
		}
		// The header and the layout are intact: only the checksum can tell.
		if _, err := seismic.Load(bytes.NewReader(raw)); !errors.Is(err, seismic.ErrFormat) {
			t.Fatalf("values %v: Load of the corrupted file: got %v, want a checksum error", vt, err)
		}
	}
}
