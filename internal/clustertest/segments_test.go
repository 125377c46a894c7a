package clustertest_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/replication"
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
				c.MustDo(t, "POST", "/v1/collections/seg/search", api.SearchRequest{K: 10, Sparse: q, Filter: filter, Params: &api.SearchParams{QueryCut: 30}}, &sr)
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
	c.Restart(t)
	waitSegmentsBuilt(t, c)
	check("after restart", nil, func(*api.Document) bool { return true })
}

// TestSnapshotCatchUp stops a node, writes and seals enough for raft to
// compact its log past the node's position, and restarts the node: it must
// catch up by snapshot transfer, segments and all.
func TestSnapshotCatchUp(t *testing.T) {
	cfg := shard.DefaultConfig()
	cfg.SealDocs = 100
	cfg.MinIndexDocs = 50
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Shard: &cfg,
		Raft: replication.Config{SnapshotThreshold: 32, SnapshotInterval: 200 * time.Millisecond, TrailingLogs: 8}})
	createCollection(t, c, api.CollectionSpec{Name: "cu", Shards: 1, Replication: 3, Sparse: &api.SparseField{MaxTerm: 1000}})
	r := rand.New(rand.NewPCG(41, 41))
	stored := map[string]*api.Document{}
	load := func(from, to int) {
		for i := from; i < to; i += 10 {
			var b []api.Document
			for j := i; j < min(i+10, to); j++ {
				b = append(b, api.Document{ID: docID(j), Sparse: randSparse(r, 1000, 15)})
			}
			upsert(t, c, "cu", b)
			for j := range b {
				stored[b[j].ID] = &b[j]
			}
		}
	}
	load(0, 100)
	if err := c.StopNode(2); err != nil {
		t.Fatal(err)
	}
	load(100, 700) // 60 writes and several seals: far past TrailingLogs
	c.MustDo(t, "DELETE", "/v1/collections/cu/documents/"+docID(3), nil, nil)
	delete(stored, docID(3))
	time.Sleep(time.Second) // let the snapshot interval pass on the survivors
	if err := c.StartNode(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var cl api.ClusterStatus
		c.MustDo(t, "GET", "/v1/cluster", nil, &cl)
		docs := map[string]int{}
		for _, rs := range cl.Shards[0].Replicas {
			docs[rs.Node] = rs.Documents
		}
		if docs["n3"] == len(stored) && docs["n1"] == len(stored) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not catch up: %+v", cl.Shards[0].Replicas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitSegmentsBuilt(t, c)
	_, metrics := c.Do("GET", "/metrics", nil, nil)
	if !regexp.MustCompile(`shoal_replication_snapshot_restores_total\{group="cu-[0-9a-f]+-0",node="n3"\} [1-9]`).Match(metrics) {
		t.Fatalf("n3 did not restore a snapshot; metrics:\n%s", grepLines(metrics, "snapshot_restores"))
	}
	// Every replica, n3 included, must hold exactly the acknowledged documents:
	// exact searches (NATS picks a replica each time) equal the reference.
	for qi := 0; qi < 20; qi++ {
		q := randSparse(r, 1000, 20)
		for rep := 0; rep < 3; rep++ {
			sr := search(t, c, "cu", api.SearchRequest{K: 10, Sparse: q, Params: &api.SearchParams{Exact: true}})
			sameHits(t, fmt.Sprintf("query %d", qi), sr.Hits, exactSparse(stored, q, 10))
		}
	}
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

func grepLines(b []byte, sub string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
