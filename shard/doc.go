// Package shard is one replica's search engine: it holds a shard's documents
// (sparse vector, dense vector, multi-vector and attributes), applies the
// replicated commands that change them, searches them, and writes and reads
// snapshots of the whole state.
//
// The engine knows no network, raft or etcd: the node service decodes wire
// messages, proposes Batch commands through raft, and every replica feeds the
// committed commands to Apply in log order. Apply is deterministic, so all
// replicas hold the same documents after the same log prefix.
//
//	s, _ := shard.New(shard.Schema{SparseMaxTerm: 30522})
//	cmd, _ := shard.EncodeBatch(shard.Batch{Ops: []shard.Op{{Doc: &shard.Document{ID: "a",
//		Sparse: shard.SparseVec{Indices: []uint32{3, 17}, Values: []float32{0.4, 1.3}}}}}})
//	_, _ = s.Apply(1, cmd)
//	res, _ := s.Search(ctx, shard.Query{K: 10, Sparse: &shard.SparseVec{Indices: []uint32{3}, Values: []float32{1}}})
//
// Version 0 of the engine scores every live document exactly; the approximate
// indexes (Seismic, compressed embedding tables, clustered multi-vectors) plug
// in as sealed segments later.
package shard
