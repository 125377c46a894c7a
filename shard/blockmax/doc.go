// Package blockmax is shoal's exact sparse index: full (unpruned) posting
// lists in document order, cut into fixed-size blocks that each carry an
// upper bound of their values, searched document at a time with block-max
// MaxScore. It returns the exact top k (the same documents, scores and
// order as term-at-a-time scoring over every posting, seismic.Exact) while
// skipping the postings that cannot reach the top k. It is the index for
// collections whose weights are flat (BM25-like), where Seismic's static
// pruning must lose recall.
//
//	ix, err := blockmax.Build(blockmax.Forward{Offsets: off, Indices: ids, Values: vals}, blockmax.DefaultConfig())
//	top := ix.Search(blockmax.Vector{Indices: qi, Values: qv}, 10, nil /* filter */, nil /* pooled scratch */, nil)
//	_, err = ix.WriteTo(w) // versioned, CRC32C-checked; Load / Open read it back
//
// Document ids are the row numbers 0..n-1 of the build input. Results are
// ordered by score, descending, ties to the smaller id.
package blockmax
