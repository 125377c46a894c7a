package embtable

// Choose returns a Config (codec and its parameters; everything else at its
// default) that keeps a flat table of dim-dimensional vectors within
// budgetBytesPerVector resident bytes per vector, following the advice of the
// VLDB 2024 study of embedding compression by memory budget: light scalar
// quantization while the budget allows it (it is robust and needs no
// training), product quantization once the compression passes 8×, and
// binary codes only in high dimensions where their error shrinks. The rules,
// with b the budget and d the dimension:
//
//   - b ≥ 4d: F32 (no rescoring copy needed).
//   - b ≥ 2d: F16.
//   - b ≥ d: SQ8.
//   - b ≥ d/2: SQ4.
//   - d ≥ 256 and b ≥ ⌈d/64⌉·8 + 8: RaBitQ (1 bit per dimension plus two
//     floats; its error bound tightens as 1/√d).
//   - d ≥ 512 and b ≥ ⌈d/64⌉·8: Binary.
//   - otherwise PQ with m = ⌊b⌋ − 1 subspaces (at least 1, at most d), which
//     leaves about a byte for the codebooks on tables of 100k vectors or more.
//
// Every choice below F32 keeps an f32 rescoring copy (on disk after Save);
// search with Rescore and an Oversample of 2–4 for SQ, 10–50 for PQ and
// RaBitQ. An IVF partition (Config.NList) costs 4 more bytes per vector for
// row ids: subtract them from the budget first.
func Choose(budgetBytesPerVector float64, dim int) Config {
	cfg := DefaultConfig()
	b, d := budgetBytesPerVector, float64(dim)
	words := float64((dim+63)/64) * 8
	switch {
	case b >= 4*d:
		cfg.Codec, cfg.Rescore = F32, NoRescore
	case b >= 2*d:
		cfg.Codec = F16
	case b >= d:
		cfg.Codec = SQ8
	case b >= d/2:
		cfg.Codec = SQ4
	case dim >= 256 && b >= words+8:
		cfg.Codec = RaBitQ
	case dim >= 512 && b >= words:
		cfg.Codec = Binary
	default:
		cfg.Codec = PQ
		cfg.PQM = max(1, min(dim, int(b)-1))
	}
	return cfg
}
