package clienttest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/client/clienttest"
)

// ExampleServer_FailNext makes the server answer 503 twice; the client's
// retries of an idempotent call get through on the third attempt, while a
// client without retries sees ErrUnavailable.
func ExampleServer_FailNext() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	c, _ := client.New(srv.URL) // 3 attempts by default
	srv.FailNext(503, 503)
	_, err := c.ListCollections(ctx)
	fmt.Println(err, srv.Requests())

	once, _ := client.New(srv.URL, client.WithRetry(1, 0))
	srv.FailNext(503)
	_, err = once.ListCollections(ctx)
	fmt.Println(errors.Is(err, client.ErrUnavailable))
	// Output:
	// <nil> 3
	// true
}
