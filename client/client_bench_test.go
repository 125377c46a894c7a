package client_test

import (
	"context"
	"testing"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/client/clienttest"
)

// BenchmarkSearch measures one Search round trip against the in-memory
// server: request encoding, HTTP over loopback and answer decoding.
func BenchmarkSearch(b *testing.B) {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, err := client.New(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateCollection(ctx, api.CollectionSpec{Name: "c", Sparse: &api.SparseField{MaxTerm: 1000}}); err != nil {
		b.Fatal(err)
	}
	docs := make([]api.Document, 100)
	for i := range docs {
		docs[i] = api.Document{ID: string(rune('a'+i%26)) + string(rune('0'+i/26)), Sparse: &api.SparseVector{Indices: []uint32{uint32(i), uint32(i + 100)}, Values: []float32{1, 0.5}}}
	}
	if _, err := c.Upsert(ctx, "c", docs); err != nil {
		b.Fatal(err)
	}
	req := api.SearchRequest{K: 10, Sparse: &api.SparseVector{Indices: []uint32{5, 105}, Values: []float32{1, 1}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Search(ctx, "c", req); err != nil {
			b.Fatal(err)
		}
	}
}
