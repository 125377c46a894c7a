package embtable

// rescoreCopy is the higher-precision copy of the vectors used to re-score
// candidates, in row order. It is either in memory (after Build) or mapped
// from a file (after Open).
type rescoreCopy struct {
	prec   Precision
	f32    []float32
	f16    []uint16
	mapped []byte // the mapping to release on Close, if any
}
