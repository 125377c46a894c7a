// Package seismic is a Seismic index for learned sparse vectors (Bruch,
// Nardini, Rulli, Venturini, SIGIR 2024), with the optional kNN-graph
// refinement of SeismicWave (CIKM 2024).
//
// An index holds a forward index (each document's sorted components and
// values), statically pruned posting lists split into blocks by shallow
// k-means, and one u8-quantized summary per block. A query walks the lists
// of its QueryCut heaviest components, skips a block when its summary score
// is below HeapFactor times the current k-th best score, and scores every
// other document exactly, once, from the forward index.
//
// With DefaultConfig the build derives its pruning, blocks and summaries
// from the documents (Adaptive) and calibrates itself against exact scoring
// on pseudo-queries drawn from them (Calibration): ParamsFor gives the
// settings that reached a recall target.
//
//	idx, err := seismic.Build(seismic.Forward{Offsets: off, Indices: ids, Values: vals}, seismic.DefaultConfig())
//	if err != nil { ... }
//	p, entry, _ := idx.ParamsFor(0.95, seismic.DefaultSearchParams())
//	if !entry.Reached { ... } // no setting reached 0.95: score exactly
//	top := idx.Search(seismic.Vector{Indices: qi, Values: qv}, 10, p, nil, nil)
//
// Document ids are the row numbers 0..n-1 of the build input. Build is
// deterministic for the same input and Config.Seed and uses all cores.
// Search is safe for concurrent use and does not allocate per query beyond
// its result. Exact and ScanSearch are the exact baselines. WriteTo, Load
// and Open store and restore an index in a versioned binary format.
package seismic
