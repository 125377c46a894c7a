package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// sparseDataDir returns ../shared/data relative to the repository root, or
// skips the test when it is absent.
func sparseDataDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present at %s", dir)
	}
	return dir
}

func TestParseSparseJSONL(t *testing.T) {
	in := `{"id": "d1", "indices": [1, 5, 9], "values": [0.5, 1, 2]}

{"id": 7, "indices": [], "values": []}
`
	s, err := ParseSparseJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || !slices.Equal(s.IDs, []string{"d1", "7"}) || s.Dim != 10 {
		t.Fatalf("got %d rows ids %v dim %d", s.Len(), s.IDs, s.Dim)
	}
	if idx, val := s.Row(0); !slices.Equal(idx, []uint32{1, 5, 9}) || val[2] != 2 {
		t.Errorf("row 0 = %v %v", idx, val)
	}
	for _, bad := range []string{
		`{"id":"a","indices":[2,1],"values":[1,1]}`,
		`{"id":"a","indices":[1,1],"values":[1,1]}`,
		`{"id":"a","indices":[1],"values":[1,2]}`,
		`{"indices":[1],"values":[1]}`,
		`{"id":"a","indices":[1],"values":[1]`,
	} {
		if _, err := ParseSparseJSONL(strings.NewReader(bad)); !errors.Is(err, ErrSparseFormat) {
			t.Errorf("%s: err %v, want ErrSparseFormat", bad, err)
		}
	}
}

func TestReadSciFactBM25(t *testing.T) {
	dir := sparseDataDir(t)
	d, err := ReadSparseJSONL(filepath.Join(dir, "scifact", "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 5183 || d.NNZ() != 818223 {
		t.Errorf("got %d docs, %d nnz; want 5183, 818223", d.Len(), d.NNZ())
	}
	q, err := ReadSparseJSONL(filepath.Join(dir, "scifact", "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Len() != 300 {
		t.Errorf("got %d queries, want 300", q.Len())
	}
	toy, err := ReadSparseJSONL(filepath.Join(dir, "msmarco-fixtures", "seismic-splade-toy", "documents.ids.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if toy.Len() != 20 || toy.Offsets[19] != toy.Offsets[18] {
		t.Errorf("toy: %d rows, want 20 with row 18 empty", toy.Len())
	}
}

func TestSparseCSRRoundTrip(t *testing.T) {
	c := DefaultSparseSynthConfig()
	c.Docs, c.Queries = 500, 0
	d, _, err := GenerateSparse(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSparseCSR(&buf, d); err != nil {
		t.Fatal(err)
	}
	raw := slices.Clone(buf.Bytes())
	got, err := ParseSparseCSR(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Offsets, d.Offsets) || !slices.Equal(got.Indices, d.Indices) || !slices.Equal(got.Values, d.Values) || got.Dim != d.Dim {
		t.Fatal("CSR round trip changed the data")
	}
	if _, err := ParseSparseCSR(bytes.NewReader(raw[:100])); err == nil {
		t.Error("truncated CSR accepted")
	}
}

func TestGenerateSparseCalibration(t *testing.T) {
	c := DefaultSparseSynthConfig()
	c.Docs, c.Queries = 20000, 300
	d, q, err := GenerateSparse(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	st := ComputeSparseStats(d)
	if st.NNZMean < 110 || st.NNZMean > 130 || st.NNZMin < 40 || st.NNZMax > 250 {
		t.Errorf("doc nnz mean %.1f [%d, %d], want about 120 in [40, 250]", st.NNZMean, st.NNZMin, st.NNZMax)
	}
	if st.TopDF[0] < 0.5 || st.TopDF[0] > 0.7 || st.Lists10to20 < 6 || st.Lists10to20 > 14 {
		t.Errorf("top df %.2f, %d lists at 10-20%%; want about 0.6 and 10", st.TopDF[0], st.Lists10to20)
	}
	if st.ValueMin <= 0 {
		t.Errorf("min value %v, want > 0", st.ValueMin)
	}
	qs := ComputeSparseStats(q)
	if qs.NNZMean < 38 || qs.NNZMean > 52 {
		t.Errorf("query nnz mean %.1f, want about 45", qs.NNZMean)
	}
	// Deterministic, and queries do not depend on the number of documents.
	c.Docs = 100
	d2, q2, _ := GenerateSparse(c)
	if !slices.Equal(q2.Indices, q.Indices) || !slices.Equal(d2.Indices, d.Indices[:d2.NNZ()]) {
		t.Error("generation is not deterministic / prefix-stable")
	}
}

func FuzzParseSparseJSONL(f *testing.F) {
	f.Add([]byte(`{"id": "d1", "indices": [1, 5, 9], "values": [0.5, 1, 2]}`))
	f.Add([]byte(`{"id": 3, "indices": [], "values": []}` + "\n" + `{"id":"x","indices":[0],"values":[1e3]}`))
	f.Add([]byte(`{"id":"a","indices":[2,1],"values":[1,1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSparseJSONL(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed input fails Validate: %v", err)
		}
	})
}

func FuzzParseSparseCSR(f *testing.F) {
	var buf bytes.Buffer
	s := NewSparse(2, 3)
	s.Append([]uint32{1, 4}, []float32{1, 2})
	s.Append([]uint32{0}, []float32{3})
	_ = WriteSparseCSR(&buf, s)
	f.Add(buf.Bytes())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSparseCSR(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed input fails Validate: %v", err)
		}
	})
}
