package shard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/shoal-search/shoal/internal/vecmath"
)

func testSchema() Schema {
	return Schema{SparseMaxTerm: 1000, DenseDim: 4, DenseMetric: MetricCosine, MultiDim: 2, MultiMetric: MetricIP,
		Attributes: map[string]AttrKind{"lang": AttrKeyword, "year": AttrInt}}
}

func randDoc(r *rand.Rand, id string) *Document {
	n := r.IntN(20) + 1
	set := map[uint32]bool{}
	for len(set) < n {
		set[uint32(r.IntN(1000))] = true
	}
	var idx []uint32
	for t := range set {
		idx = append(idx, t)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = r.Float32() + 0.01
	}
	dense := []float32{r.Float32() - .5, r.Float32() - .5, r.Float32() - .5, r.Float32() - .5}
	multi := make([]float32, 2*(r.IntN(4)+1))
	for i := range multi {
		multi[i] = r.Float32() - .5
	}
	lang := "en"
	if r.IntN(2) == 0 {
		lang = "de"
	}
	return &Document{ID: id, Sparse: SparseVec{idx, vals}, Dense: dense, Multi: multi,
		Attrs: map[string]Attr{"lang": {Kind: AttrKeyword, Str: lang}, "year": {Kind: AttrInt, Int: int64(2000 + r.IntN(20))}}}
}

func mustApply(t *testing.T, s *Shard, index uint64, b Batch) ApplyResult {
	t.Helper()
	cmd, err := EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Apply(index, cmd)
	if err != nil {
		t.Fatalf("apply %d: %v", index, err)
	}
	res, err := DecodeApplyResult(resp)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestApplySearchDelete(t *testing.T) {
	s, err := New(testSchema())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	var ops []Op
	docs := map[string]*Document{}
	for i := 0; i < 300; i++ {
		d := randDoc(r, string(rune('a'+i%26))+string(rune('0'+i/26)))
		ops = append(ops, Op{Doc: d})
		docs[d.ID] = d
	}
	if res := mustApply(t, s, 1, Batch{Ops: ops}); res.Upserted != 300 {
		t.Fatalf("got %d upserted, want 300", res.Upserted)
	}
	// overwrite one, delete another
	d0 := randDoc(r, ops[0].Doc.ID)
	docs[d0.ID] = d0
	delete(docs, ops[1].Doc.ID)
	res := mustApply(t, s, 2, Batch{Ops: []Op{{Doc: d0}, {DeleteID: ops[1].Doc.ID}, {DeleteID: "nope"}}})
	if res.Upserted != 1 || res.Deleted != 1 {
		t.Fatalf("got %+v, want 1 upserted 1 deleted", res)
	}
	if s.Len() != 299 || s.AppliedIndex() != 2 {
		t.Fatalf("got len %d applied %d", s.Len(), s.AppliedIndex())
	}
	if got, ok := s.Get(d0.ID); !ok || got.Dense[0] != d0.Dense[0] || len(got.Sparse.Indices) != len(d0.Sparse.Indices) {
		t.Fatal("overwritten document not returned")
	}
	q := randDoc(r, "q")
	filter := Filter{{Field: "lang", Any: []Attr{{Kind: AttrKeyword, Str: "en"}}}}
	got, err := s.Search(context.Background(), Query{K: 10, Sparse: &q.Sparse, Dense: q.Dense, Multi: q.Multi, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	// reference
	var ws, wd, wm []Hit
	for _, d := range docs {
		if d.Attrs["lang"].Str != "en" {
			continue
		}
		if sc, overlap := sparseScore(q.Sparse.Indices, q.Sparse.Values, d.Sparse.Indices, d.Sparse.Values); overlap {
			ws = append(ws, Hit{d.ID, sc})
		}
		wd = append(wd, Hit{d.ID, denseScore(MetricCosine, q.Dense, vnorm(q.Dense), d.Dense, vnorm(d.Dense))})
		ms, _ := maxSim(q.Multi, d.Multi, 2, false, nil)
		wm = append(wm, Hit{d.ID, ms})
	}
	for name, pair := range map[string][2][]Hit{"sparse": {got.Sparse, ws}, "dense": {got.Dense, wd}, "multi": {got.Multi, wm}} {
		g, w := pair[0], pair[1]
		SortHits(w)
		w = w[:10]
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("%s hit %d: got %v, want %v", name, i, g[i], w[i])
			}
		}
	}
}

func vnorm(v []float32) float32 { return vecmath.Norm(v) }

func TestApplyRejectsBadBatchWhole(t *testing.T) {
	s, _ := New(testSchema())
	r := rand.New(rand.NewPCG(2, 2))
	mustApply(t, s, 1, Batch{Ops: []Op{{Doc: randDoc(r, "keep")}}})
	bad := randDoc(r, "bad")
	bad.Dense = []float32{1, 2}
	cmd, _ := EncodeBatch(Batch{Ops: []Op{{Doc: randDoc(r, "new")}, {DeleteID: "keep"}, {Doc: bad}}})
	_, err := s.Apply(2, cmd)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "documents[2].dense" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want a field error on documents[2].dense", err)
	}
	if _, ok := s.Get("keep"); !ok || s.Len() != 1 {
		t.Fatal("a rejected batch changed the shard")
	}
	if s.AppliedIndex() != 2 {
		t.Fatalf("applied index %d, want 2", s.AppliedIndex())
	}
}

func TestValidation(t *testing.T) {
	sc := testSchema()
	cases := []struct {
		name  string
		mod   func(d *Document)
		field string
	}{
		{"unsorted", func(d *Document) { d.Sparse = SparseVec{[]uint32{5, 3}, []float32{1, 1}} }, "sparse.indices[1]"},
		{"dup", func(d *Document) { d.Sparse = SparseVec{[]uint32{3, 3}, []float32{1, 1}} }, "sparse.indices[1]"},
		{"range", func(d *Document) { d.Sparse = SparseVec{[]uint32{3, 1000}, []float32{1, 1}} }, "sparse.indices[1]"},
		{"nan", func(d *Document) { d.Dense[2] = float32(math.NaN()) }, "dense[2]"},
		{"inf", func(d *Document) { d.Multi[3] = float32(math.Inf(1)) }, "multivector[1][1]"},
		{"dim", func(d *Document) { d.Dense = d.Dense[:3] }, "dense"},
		{"attr", func(d *Document) { d.Attrs["nope"] = Attr{Kind: AttrInt} }, "attributes.nope"},
		{"attrtype", func(d *Document) { d.Attrs["year"] = Attr{Kind: AttrKeyword, Str: "x"} }, "attributes.year"},
		{"id", func(d *Document) { d.ID = "" }, "id"},
	}
	for _, c := range cases {
		d := randDoc(rand.New(rand.NewPCG(3, 3)), "x")
		c.mod(d)
		err := sc.Validate(d)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want field %s", c.name, err, c.field)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	s, _ := New(testSchema())
	r := rand.New(rand.NewPCG(4, 4))
	var ops []Op
	for i := 0; i < 100; i++ {
		ops = append(ops, Op{Doc: randDoc(r, string(rune('A'+i%26))+string(rune('a'+i/26)))})
	}
	mustApply(t, s, 7, Batch{Ops: ops})
	mustApply(t, s, 8, Batch{Ops: []Op{{DeleteID: ops[5].Doc.ID}}})
	sn := s.Snapshot()
	// writes after the snapshot do not show in it
	mustApply(t, s, 9, Batch{Ops: []Op{{DeleteID: ops[6].Doc.ID}}})
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	s2, _ := New(testSchema())
	if err := s2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if s2.Len() != 99 || s2.AppliedIndex() != 8 {
		t.Fatalf("restored len %d applied %d, want 99 and 8", s2.Len(), s2.AppliedIndex())
	}
	d, ok := s2.Get(ops[6].Doc.ID)
	if !ok || d.Attrs["year"] != ops[6].Doc.Attrs["year"] || len(d.Multi) != len(ops[6].Doc.Multi) {
		t.Fatal("restored document differs")
	}
	// a corrupt snapshot leaves the state alone
	if err := s2.Restore(bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Fatal("truncated snapshot restored")
	}
	if s2.Len() != 99 {
		t.Fatal("failed restore changed state")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 5))
	good, _ := EncodeBatch(Batch{Ops: []Op{{Doc: randDoc(r, "a")}, {DeleteID: "b"}}})
	f.Add(good)
	f.Add([]byte("SHC\x01\x01\x02\x01b"))
	f.Add([]byte{})
	ctl, _ := EncodeBatch(Batch{Ops: []Op{{Seal: true}, {Compact: []uint64{3, 9}}, {Activate: []uint64{12}}}})
	f.Add(ctl)
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBatch(p)
		if err != nil {
			return
		}
		// whatever decodes must re-encode to the same bytes and apply or be rejected cleanly
		again, err := EncodeBatch(b)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		if !bytes.Equal(again, p) {
			b2, err := DecodeBatch(again)
			if err != nil || len(b2.Ops) != len(b.Ops) {
				t.Fatalf("round trip changed the batch")
			}
		}
		s, _ := New(testSchema())
		_, _ = s.Apply(1, p)
	})
}

func FuzzRestore(f *testing.F) {
	s, _ := New(testSchema())
	r := rand.New(rand.NewPCG(6, 6))
	cmd, _ := EncodeBatch(Batch{Ops: []Op{{Doc: randDoc(r, "a")}, {Doc: randDoc(r, "b")}}})
	s.Apply(1, cmd)
	var buf bytes.Buffer
	s.Snapshot().WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add(mustReadF(f, "testdata/snapshot-v1.bin"))
	f.Add(mustReadF(f, "testdata/snapshot-v2.bin"))
	f.Add(mustReadF(f, "testdata/snapshot-v3.bin"))
	// a version-3 snapshot with a segment and its index files
	cfg := DefaultConfig()
	cfg.SealDocs, cfg.MinIndexDocs, cfg.Dir = 10, 5, f.TempDir()
	s3, _ := Open(testSchema(), cfg)
	for i := 0; i < 8; i++ {
		cmd, _ := EncodeBatch(Batch{Ops: []Op{{Doc: randDoc(r, fmt.Sprintf("d%d", i))}}})
		s3.Apply(uint64(i+1), cmd)
	}
	cmd, _ = EncodeBatch(Batch{Ops: []Op{{Seal: true}}})
	s3.Apply(9, cmd)
	s3.WaitBuilt(context.Background())
	buf.Reset()
	s3.Snapshot().WriteTo(&buf)
	s3.Close()
	f.Add(buf.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, p []byte) {
		s2, _ := New(testSchema())
		_ = s2.Restore(bytes.NewReader(p))
		// with a Dir, the segment files are written, and removed on error
		cfg := DefaultConfig()
		cfg.Dir = dir
		s4, _ := Open(testSchema(), cfg)
		if err := s4.Restore(bytes.NewReader(p)); err != nil {
			if left, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(left) != 0 {
				t.Fatalf("files left by a failed restore: %v", left)
			}
		}
		s4.Close()
		os.RemoveAll(dir)
	})
}

func mustReadF(f *testing.F, path string) []byte {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
