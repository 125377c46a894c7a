// Package client is the Go SDK of shoal's HTTP API. It imports only the
// standard library and the wire types of package api.
//
// Every method takes a context first, sends one JSON request to a
// coordinator and returns the decoded answer. Failed requests return a
// *Error that matches, under errors.Is, the sentinel of its code
// (ErrNotFound, ErrBadRequest, ErrConflict, ErrTooLarge, ErrUnavailable,
// ErrTimeout, ErrInternal); Field names the offending request field.
// Idempotent calls (GETs and Search) are retried on 503 and on connection
// errors (see WithRetry); writes never are.
//
//	c, err := client.New("http://127.0.0.1:7700", client.WithTimeout(10*time.Second))
//	if err != nil {
//		return err
//	}
//	w, err := c.Upsert(ctx, "quickstart", []api.Document{{
//		ID:     "doc-1",
//		Sparse: &api.SparseVector{Indices: []uint32{4774, 8753}, Values: []float32{1.2, 0.8}},
//	}})
//	if err != nil {
//		return err
//	}
//	res, err := c.Search(ctx, "quickstart", api.SearchRequest{
//		K:           5,
//		Sparse:      &api.SparseVector{Indices: []uint32{4774}, Values: []float32{1}},
//		Consistency: &api.Consistency{Token: w.Token}, // read your write
//	})
//	if errors.Is(err, client.ErrNotFound) {
//		// no such collection
//	}
//
// The Example functions of this package run against a canned server.
package client
