package clustertest_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/shard"
)

// TestSegmentsInCluster loads enough documents to seal several segments per
// shard, deletes and overwrites some, compacts, and checks recall against
// exact search, that deleted documents never appear, that every replica
// answers the same, and that describe shows the segments.
func TestSegmentsInCluster(t *testing.T) {
	cfg := shard.DefaultConfig()
	cfg.SealDocs = 400
	cfg.MinIndexDocs = 200
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Shard: &cfg})
	createCollection(t, c, api.CollectionSpec{Name: "seg", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 5000}, Dense: &api.DenseField{Dim: 16, Metric: "cosine", Codec: "sq8"},
		Attributes: map[string]string{"tag": "keyword", "bucket": "int"}})
	r := rand.New(rand.NewPCG(31, 31))
	const n = 3000
	stored := map[string]*api.Document{}
	var batch []api.Document
	for i := 0; i < n; i++ {
		d := api.Document{ID: docID(i), Sparse: skewedSparse(r, 5000), Dense: randDense(r, 16),
			Attributes: map[string]any{"tag": fmt.Sprintf("t%d", i%10), "bucket": i % 100}}
		batch = append(batch, d)
		if len(batch) == 250 {
			upsert(t, c, "seg", batch)
			for j := range batch {
				stored[batch[j].ID] = &batch[j]
			}
			batch = nil
		}
	}
	deleted := map[string]bool{}
	for i := 0; i < n; i += 13 {
		c.MustDo(t, "DELETE", "/v1/collections/seg/documents/"+docID(i), nil, nil)
		delete(stored, docID(i))
		deleted[docID(i)] = true
	}
	var col api.Collection
	c.MustDo(t, "POST", "/v1/collections/seg/seal", nil, &col)
	waitSegmentsBuilt(t, c)
	c.MustDo(t, "GET", "/v1/collections/seg", nil, &col)
	segs := 0
	for _, p := range col.Placement {
		for _, sg := range p.Segments {
			if sg.State != "buffer" {
				segs++
			}
		}
	}
	if segs < 4 {
		t.Fatalf("want at least 4 segments, got %+v", col.Placement)
	}
	check := func(what string, filter map[string]any, keep func(*api.Document) bool) {
		t.Helper()
		var recall float64
		const nq = 30
		for qi := 0; qi < nq; qi++ {
			q := skewedSparse(r, 5000)
			var exact, got api.SearchResponse
			c.MustDo(t, "POST", "/v1/collections/seg/search", api.SearchRequest{K: 10, Sparse: q, Filter: filter, Params: &api.SearchParams{Exact: true}}, &exact)
			for rep := 0; rep < 3; rep++ {
				var sr api.SearchResponse
				c.MustDo(t, "POST", "/v1/collections/seg/search", api.SearchRequest{K: 10, Sparse: q, Filter: filter, Params: &api.SearchParams{QueryCut: 20}}, &sr)
				if rep == 0 {
					got = sr
				} else if fmt.Sprint(sr.Hits) != fmt.Sprint(got.Hits) {
					t.Fatalf("%s: replicas answer differently:\n%v\n%v", what, got.Hits, sr.Hits)
				}
			}
			for _, h := range got.Hits {
				if deleted[h.ID] {
					t.Fatalf("%s: deleted %s returned", what, h.ID)
				}
				if d := stored[h.ID]; d == nil || !keep(d) {
					t.Fatalf("%s: hit %s does not pass the filter", what, h.ID)
				}
			}
			want := map[string]bool{}
			for _, h := range exact.Hits {
				want[h.ID] = true
			}
			hit := 0
			for _, h := range got.Hits {
				if want[h.ID] {
					hit++
				}
			}
			if len(exact.Hits) > 0 {
				recall += float64(hit) / float64(len(exact.Hits))
			} else {
				recall++
			}
		}
		recall /= nq
		t.Logf("%s: recall@10 %.3f", what, recall)
		if recall < 0.95 {
			t.Fatalf("%s: recall@10 %.3f < 0.95", what, recall)
		}
	}
	check("no filter", nil, func(*api.Document) bool { return true })
	check("1% filter", map[string]any{"bucket": 7}, func(d *api.Document) bool { return d.Attributes["bucket"] == 7 })
	check("10% filter", map[string]any{"tag": "t3"}, func(d *api.Document) bool { return d.Attributes["tag"] == "t3" })
	check("50% filter", map[string]any{"tag": []any{"t0", "t1", "t2", "t3", "t4"}}, func(d *api.Document) bool {
		tag := d.Attributes["tag"].(string)
		return tag < "t5"
	})
	c.MustDo(t, "POST", "/v1/collections/seg/compact", nil, &col)
	// Replicas build the compacted segment each on its own; until they all
	// have, one may answer exactly and another through the new index.
	waitSegmentsBuilt(t, c)
	check("after compaction", nil, func(*api.Document) bool { return true })
}

// skewedSparse draws a sparse vector with heavy-tailed term frequencies.
func skewedSparse(r *rand.Rand, maxTerm int) *api.SparseVector {
	set := map[uint32]bool{}
	for len(set) < 40 {
		t := int(r.ExpFloat64() * float64(maxTerm) / 20)
		if t < maxTerm {
			set[uint32(t)] = true
		}
	}
	v := &api.SparseVector{}
	for t := range set {
		v.Indices = append(v.Indices, t)
	}
	sortU32(v.Indices)
	for range v.Indices {
		v.Values = append(v.Values, float32(r.ExpFloat64())+0.01)
	}
	return v
}

func sortU32(a []uint32) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// waitSegmentsBuilt waits until no replica has a segment building.
func waitSegmentsBuilt(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var cl api.ClusterStatus
		c.MustDo(t, "GET", "/v1/cluster", nil, &cl)
		building := 0
		for _, sh := range cl.Shards {
			for _, r := range sh.Replicas {
				for _, sg := range r.Segments {
					if sg.State == "building" {
						building++
					}
				}
			}
		}
		if building == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments still building: %+v", cl.Shards)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
