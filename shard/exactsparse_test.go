package shard

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestExactSparseSegments builds segments with SparseKind "exact" and checks
// that they are searched through the block-max index, answer like exact
// scoring (after deletes and overwrites), and that their files load on a
// restart with the same kind and are rebuilt with the other kind.
func TestExactSparseSegments(t *testing.T) {
	cfg := segConfig()
	cfg.Sparse.Kind = SparseExact
	cfg.Dir = t.TempDir()
	s, err := Open(testSchema(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(41, 41))
	idx := sealSegments(r, "x", 3, 300, applier(t, s))
	for i := 0; i < 300; i += 5 {
		idx++
		apply(t, s, idx, Op{DeleteID: fmt.Sprintf("x1-%d", i)})
	}
	for i := 1; i < 300; i += 9 {
		idx++
		apply(t, s, idx, Op{Doc: skewedDoc(r, fmt.Sprintf("x2-%d", i))})
	}
	waitBuilt(t, s)
	s.mu.RLock()
	for _, sg := range s.segs {
		if ix := sg.idx.Load(); ix == nil || ix.exact == nil || ix.sparse != nil {
			t.Errorf("segment %d: got index %+v, want an exact sparse index only", sg.id, ix)
		}
	}
	s.mu.RUnlock()
	queries := make([]*Document, 30)
	for i := range queries {
		queries[i] = skewedDoc(r, "q")
	}
	check := func(s *Shard, what string) {
		t.Helper()
		for _, q := range queries {
			got, err := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse})
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Sparse) != len(want.Sparse) {
				t.Fatalf("%s: got %d hits, want %d", what, len(got.Sparse), len(want.Sparse))
			}
			for i := range got.Sparse {
				g, w := got.Sparse[i], want.Sparse[i]
				if g.ID != w.ID || math.Abs(float64(g.Score-w.Score)) > 1e-5*math.Abs(float64(w.Score)) {
					t.Fatalf("%s: hit %d: got %v, want %v\ngot  %v\nwant %v", what, i, g, w, got.Sparse, want.Sparse)
				}
			}
		}
	}
	check(s, "built")
	var snap bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2, err := Open(testSchema(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	waitBuilt(t, s2)
	if n := s2.loaded.Load(); n != 3 {
		t.Fatalf("%d segments loaded from files, want 3", n)
	}
	check(s2, "loaded")
	s2.Close()

	cfg.Sparse.Kind = SparseSeismic
	s3, err := Open(testSchema(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	waitBuilt(t, s3)
	if n := s3.loaded.Load(); n != 0 {
		t.Fatalf("%d segments loaded from exact files with kind seismic, want 0 (rebuilt)", n)
	}
	s3.mu.RLock()
	for _, sg := range s3.segs {
		if ix := sg.idx.Load(); ix == nil || ix.sparse == nil || ix.exact != nil {
			t.Errorf("segment %d: got index %+v, want a seismic index only", sg.id, ix)
		}
	}
	s3.mu.RUnlock()
}

func TestSparseKindValidate(t *testing.T) {
	c := DefaultConfig()
	for _, k := range []string{"", SparseSeismic, SparseExact} {
		c.Sparse.Kind = k
		if err := c.Validate(); err != nil {
			t.Errorf("kind %q: %v", k, err)
		}
	}
	c.Sparse.Kind = "bm25"
	if err := c.Validate(); err == nil {
		t.Error(`kind "bm25": valid, want an error`)
	}
	c.Sparse.Kind = SparseExact
	c.Blockmax.BlockSize = 3
	if err := c.Validate(); err == nil {
		t.Error("block size 3: valid, want an error")
	}
}
