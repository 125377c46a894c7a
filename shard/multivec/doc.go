// Package multivec stores multi-vector (late-interaction, ColBERT-like)
// documents and searches them by exact MaxSim (the Chamfer similarity: the
// sum over query vectors of the best inner product with any document
// vector).
//
// Documents can be reduced when they are added, as a server can do post hoc
// (CRISP-style per-document k-means with a fixed k or a ratio of the token
// count, or Ward-linkage token pooling), or arrive already clustered. The
// stored vectors are kept in f32, f16 or SQ8. Candidates come from MUVERA
// fixed-dimensional encodings indexed in an embtable.Table, or from an IVF
// over all stored vectors (PLAID-style centroid interaction), and are
// reranked by exact MaxSim with a blocked kernel (AVX2/FMA on amd64, pure Go
// elsewhere).
//
// Documents are numbered 0..n-1 in the order given to Build. A Store is
// immutable: Search is safe for concurrent callers.
//
//	cfg := multivec.DefaultConfig()
//	cfg.Dim = 128
//	cfg.Cluster.Method, cfg.Cluster.Ratio = multivec.KMeans, 0.25
//	st, err := multivec.Build(docs, cfg) // docs[i] is row-major n_i×128
//	if err != nil {
//		return err
//	}
//	p := multivec.SearchParams{Candidates: multivec.ByFDE, Rerank: 200}
//	best := st.Search(query, 10, p, nil, nil) // []topk.Item, best first
//
// docs/multivec.md describes every parameter and the measured trade-offs.
package multivec
