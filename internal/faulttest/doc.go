// Package faulttest is shoal's fault suite: it runs multi-process clusters
// (one `shoal infra` process with the embedded etcd and NATS, `shoal node`
// processes and a `shoal coordinator`, on 127.0.0.1), drives a bounded load
// that records a history of every write and read, injects faults (SIGKILL,
// SIGSTOP, restarts, a full disk, a raft partition, corrupted files) and
// checks the history: acknowledged writes lost, linearizability of strong
// reads and writes per key (porcupine), eventual reads of values never
// written, search results against an exact reference, and replicas that
// differ.
//
// The scenarios live in the package's tests and run only with SHOAL_FAULT=1
// (docs/reliability.md):
//
//	SHOAL_FAULT=1 go test -count=1 -p 1 -run . ./internal/faulttest -timeout 12m
//
// The pieces can be used on their own:
//
//	c, _ := faulttest.Start(ctx, faulttest.Config{Bin: bin, Dir: dir})
//	defer c.Close()
//	h := faulttest.NewHistory()
//	l := &faulttest.Load{HTTP: c.HTTP, W: w, H: h}
//	go l.Run(ctx)
//	c.Nodes[0].Kill()
//	res := faulttest.Linearizable(h.Ops(), 30*time.Second)
package faulttest
