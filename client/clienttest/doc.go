// Package clienttest serves shoal's HTTP API from memory, for tests and
// examples of code that uses package client (shoalctl's among them). It
// keeps collections and documents in maps and answers searches exactly; it
// has no shards, raft or persistence. It checks requests loosely: enough to
// exercise error paths, not the coordinator's full validation.
//
//	srv := clienttest.NewServer()
//	defer srv.Close()
//	c, _ := client.New(srv.URL)
package clienttest
