package clustertest_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/internal/dataset"
)

// sharedData returns ../shared/data relative to the repository root, or
// skips the test when it is absent.
func sharedData(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not found at %s: %v", dir, err)
	}
	return dir
}

// TestSciFactSearchEquality loads 2,000 real SciFact BM25 documents into 2
// shards with rf 3 and checks 50 real queries against the exact top-10.
func TestSciFactSearchEquality(t *testing.T) {
	data := sharedData(t)
	docs, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "scifact", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 30522}})
	const n = 2000
	stored := map[string]*api.Document{}
	var batch []api.Document
	var tok string
	flush := func() {
		if len(batch) > 0 {
			tok = upsert(t, c, "scifact", batch).Token
			batch = nil
		}
	}
	for i := 0; i < n; i++ {
		idx, vals := docs.Row(i)
		d := api.Document{ID: docs.IDs[i], Sparse: &api.SparseVector{Indices: append([]uint32(nil), idx...), Values: append([]float32(nil), vals...)}}
		batch = append(batch, d)
		stored[d.ID] = &d
		if len(batch) == 500 {
			flush()
		}
	}
	flush()
	_ = tok
	for qi := 0; qi < 50; qi++ {
		idx, vals := queries.Row(qi)
		q := &api.SparseVector{Indices: idx, Values: vals}
		// Default (eventual) consistency: through one coordinator it still sees
		// every write that coordinator acknowledged.
		sr := search(t, c, "scifact", api.SearchRequest{K: 10, Sparse: q})
		sameHits(t, "scifact query "+queries.IDs[qi], sr.Hits, exactSparse(stored, q, 10))
	}
}
