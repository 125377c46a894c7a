// Package dataset reads the benchmark and test sets in ../shared/data and
// generates synthetic ones: TEXMEX .fvecs/.ivecs/.bvecs files and a
// clustered, anisotropic dense generator (vecs*.go), sparse-vector JSONL
// (sparse*.go) and multi-vector sets (multivec*.go).
//
//	base, dim, err := dataset.ReadFvecs("../shared/data/glove/glove100k_base.fvecs")
//	if err != nil {
//		return err
//	}
//	n := len(base) / dim // rows are base[i*dim : (i+1)*dim]
//
//	cfg := dataset.DefaultDenseSynthConfig()
//	synth, err := dataset.SyntheticDense(1_000_000, cfg, 0) // 1M × 128, row-major
package dataset
