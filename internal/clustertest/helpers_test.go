package clustertest_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
)

// randSparse returns a random sparse vector over [0, maxTerm).
func randSparse(r *rand.Rand, maxTerm, nnz int) *api.SparseVector {
	set := map[uint32]bool{}
	for len(set) < nnz {
		set[uint32(r.IntN(maxTerm))] = true
	}
	v := &api.SparseVector{}
	for t := range set {
		v.Indices = append(v.Indices, t)
	}
	sort.Slice(v.Indices, func(i, j int) bool { return v.Indices[i] < v.Indices[j] })
	for range v.Indices {
		v.Values = append(v.Values, float32(r.IntN(1000)+1)/100)
	}
	return v
}

func randDense(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// sparseDot matches the engine's accumulation order exactly.
func sparseDot(q, d *api.SparseVector) float32 {
	var s float32
	i, j := 0, 0
	for i < len(q.Indices) && j < len(d.Indices) {
		switch {
		case q.Indices[i] < d.Indices[j]:
			i++
		case q.Indices[i] > d.Indices[j]:
			j++
		default:
			s += q.Values[i] * d.Values[j]
			i++
			j++
		}
	}
	return s
}

// exactSparse returns the exact top-k of docs for q, best first, ties by id.
func exactSparse(docs map[string]*api.Document, q *api.SparseVector, k int) []api.Hit {
	var hits []api.Hit
	for id, d := range docs {
		if d.Sparse == nil {
			continue
		}
		// only documents sharing a term with the query (all values here
		// are positive, so that is a positive score)
		if s := sparseDot(q, d.Sparse); s > 0 {
			hits = append(hits, api.Hit{ID: id, Score: s})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// sameHits checks got against the exact want: equal scores rank by rank, and
// equal ids wherever scores do not tie.
func sameHits(t *testing.T, what string, got, want []api.Hit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d hits, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range want {
		if math.Abs(float64(got[i].Score-want[i].Score)) > 1e-4*math.Max(1, math.Abs(float64(want[i].Score))) {
			t.Fatalf("%s: rank %d: got %v, want %v\ngot  %v\nwant %v", what, i, got[i], want[i], got, want)
		}
		if got[i].ID != want[i].ID {
			tie := (i > 0 && want[i-1].Score == want[i].Score) || (i+1 < len(want) && want[i+1].Score == want[i].Score)
			if !tie {
				t.Fatalf("%s: rank %d: got id %s, want %s", what, i, got[i].ID, want[i].ID)
			}
		}
	}
}

func docID(i int) string { return fmt.Sprintf("doc-%05d", i) }

// doFunc is clustertest.HTTP's Do.
type doFunc func(method, path string, in, out any) (int, []byte)

// waitSegmentsReady polls GET /v1/cluster until no replica of collection
// has a segment building (or awaiting activation) and at least minReady of
// their segments are ready (indexed and in use).
func waitSegmentsReady(t *testing.T, do doFunc, collection, what string, minReady int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var cl api.ClusterStatus
		do("GET", "/v1/cluster", nil, &cl)
		ready, building := 0, 0
		for _, sh := range cl.Shards {
			if sh.Collection != collection {
				continue
			}
			for _, rep := range sh.Replicas {
				for _, sg := range rep.Segments {
					switch sg.State {
					case "ready":
						ready++
					case "building":
						building++
					}
				}
			}
		}
		if ready >= minReady && building == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: segments not ready: %+v", what, cl.Shards)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recallOf returns the share of want's ids found in got, failing the test
// when got holds a deleted id.
func recallOf(t *testing.T, what string, got, want []api.Hit, deleted map[string]bool) float64 {
	t.Helper()
	ids := map[string]bool{}
	for _, h := range want {
		ids[h.ID] = true
	}
	hit := 0
	for _, h := range got {
		if deleted[h.ID] {
			t.Fatalf("%s: deleted %s returned", what, h.ID)
		}
		if ids[h.ID] {
			hit++
		}
	}
	if len(want) == 0 {
		return 1
	}
	return float64(hit) / float64(len(want))
}
