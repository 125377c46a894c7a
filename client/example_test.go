package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/client/clienttest"
)

// Example creates a collection, writes two documents and reads one back
// with a search that waits for the write (its token as consistency).
func Example() {
	srv := clienttest.NewServer() // stands in for a running `shoal dev`
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(srv.URL)
	if err != nil {
		panic(err)
	}
	if _, err := c.CreateCollection(ctx, api.CollectionSpec{
		Name:       "notes",
		Shards:     2,
		Sparse:     &api.SparseField{MaxTerm: 30522},
		Dense:      &api.DenseField{Dim: 2, Metric: api.MetricCosine},
		Attributes: map[string]string{"topic": api.AttrKeyword},
	}); err != nil {
		panic(err)
	}
	w, err := c.Upsert(ctx, "notes", []api.Document{
		{ID: "moon", Sparse: &api.SparseVector{Indices: []uint32{4231}, Values: []float32{1.5}}, Dense: []float32{1, 0}, Attributes: map[string]any{"topic": "astronomy"}},
		{ID: "cat", Sparse: &api.SparseVector{Indices: []uint32{4937}, Values: []float32{1.2}}, Dense: []float32{0, 1}, Attributes: map[string]any{"topic": "animals"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("upserted", w.Upserted)

	res, err := c.Search(ctx, "notes", api.SearchRequest{
		K:           1,
		Sparse:      &api.SparseVector{Indices: []uint32{4231}, Values: []float32{1}},
		Consistency: &api.Consistency{Token: w.Token},
	})
	if err != nil {
		panic(err)
	}
	for _, h := range res.Hits {
		fmt.Printf("%s %.2f\n", h.ID, h.Score)
	}
	// Output:
	// upserted 2
	// moon 1.50
}

// ExampleError shows how to tell error kinds apart with errors.Is and read
// the offending field from *client.Error.
func ExampleError() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)

	_, err := c.GetCollection(ctx, "missing")
	fmt.Println(errors.Is(err, client.ErrNotFound))

	_, _ = c.CreateCollection(ctx, api.CollectionSpec{Name: "vecs", Dense: &api.DenseField{Dim: 3}})
	_, err = c.Upsert(ctx, "vecs", []api.Document{{ID: "a", Dense: []float32{1, 2}}})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code, e.Field)
	}
	fmt.Println(errors.Is(err, client.ErrBadRequest))
	// Output:
	// true
	// 400 bad_request documents[0].dense
	// true
}

// ExampleClient_Cluster prints each shard replica's raft role.
func ExampleClient_Cluster() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)
	_, _ = c.CreateCollection(ctx, api.CollectionSpec{Name: "c", Replication: 3, Sparse: &api.SparseField{MaxTerm: 100}})

	st, err := c.Cluster(ctx)
	if err != nil {
		panic(err)
	}
	for _, sh := range st.Shards {
		for _, r := range sh.Replicas {
			fmt.Println(sh.Collection, sh.Shard, r.Node, r.Role)
		}
	}
	// Output:
	// c 0 node-1 leader
	// c 0 node-2 follower
	// c 0 node-3 follower
}
