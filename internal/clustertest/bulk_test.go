package clustertest_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
)

// tokenIndexes reads the per-shard log indexes of a consistency token
// ("v1.<uid>.<shard>-<index>...").
func tokenIndexes(t *testing.T, tok string) map[int]uint64 {
	t.Helper()
	parts := strings.Split(tok, ".")
	out := map[int]uint64{}
	for _, p := range parts[2:] {
		s, i, ok := strings.Cut(p, "-")
		shard, err1 := strconv.Atoi(s)
		idx, err2 := strconv.ParseUint(i, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("token %q: bad part %q", tok, p)
		}
		out[shard] = idx
	}
	return out
}

// TestLargeWriteSplitIntoEntries upserts one request whose shard parts are
// larger than the 4 MiB raft entry cap: each is replicated as several
// entries, the answer counts every document, and its token (the last
// entry's index) reads all of them back on any replica.
func TestLargeWriteSplitIntoEntries(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "big", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 30522}})
	first := upsert(t, c, "big", []api.Document{{ID: "first", Sparse: &api.SparseVector{Indices: []uint32{1}, Values: []float32{1}}}})
	before := tokenIndexes(t, first.Token)

	// 700 documents of 2,000 terms: about 11 MB of entries, 5.6 MB a shard.
	r := rand.New(rand.NewPCG(6, 13))
	docs := make([]api.Document, 700)
	for i := range docs {
		docs[i] = api.Document{ID: fmt.Sprintf("big-%04d", i), Sparse: randSparse(r, 30522, 2000)}
	}
	wr := upsert(t, c, "big", docs)
	if wr.Upserted != len(docs) {
		t.Fatalf("upserted %d, want %d", wr.Upserted, len(docs))
	}
	after := tokenIndexes(t, wr.Token)
	for s := range 2 {
		// One entry would advance the shard's log by 1 (a leader change adds
		// a no-op, so more is fine); a split part by at least 2.
		if after[s] < before[s]+2 {
			t.Errorf("shard %d: log index went from %d to %d; want the part split into 2 or more entries", s, before[s], after[s])
		}
	}
	for _, i := range []int{0, 1, 349, 350, 698, 699} {
		var got api.Document
		c.MustDo(t, "GET", "/v1/collections/big/documents/"+docs[i].ID+"?token="+wr.Token, nil, &got)
		if got.Sparse == nil || len(got.Sparse.Indices) != 2000 || got.Sparse.Indices[7] != docs[i].Sparse.Indices[7] {
			t.Fatalf("%s read back wrong", docs[i].ID)
		}
	}
}
