// Package embtable stores dense embeddings compressed and searches them:
// codecs (f32, f16, SQ8, SQ4, PQ with asymmetric distance tables, binary
// sign codes with popcount, RaBitQ with its error bound), flat or IVF
// (k-means coarse partitions, nprobe) scans, a roaring-bitmap filter, and
// rescoring of oversample·k candidates from a higher-precision copy that
// Open maps from disk, so resident memory stays at the codes.
//
// Rows are numbered 0..n-1 in the order given to Build, and builds are
// deterministic for the same data and Config. A Table is immutable: Search
// is safe for concurrent callers. Scores are higher-is-better (the inner
// product, the cosine, or the negated squared L2 distance).
//
//	cfg := embtable.DefaultConfig()
//	cfg.Codec, cfg.Metric, cfg.NList, cfg.PQM = embtable.PQ, embtable.Cosine, 256, 16
//	tab, err := embtable.Build(vectors, dim, cfg)
//	if err != nil {
//		return err
//	}
//	p := embtable.SearchParams{NProbe: 32, Oversample: 10, Rescore: true}
//	best := tab.Search(query, 10, p, nil, nil) // []topk.Item, best first
//
// Choose picks a codec and its parameters for a memory budget in bytes per
// vector; docs/embtable.md gives the rules and every knob.
package embtable
