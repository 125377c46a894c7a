package seismic

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrConfig reports an invalid Config or SearchParams.
	ErrConfig = errors.New("seismic: invalid config")
	// ErrInput reports malformed input vectors: unsorted or duplicate
	// indices, mismatched lengths, non-finite values.
	ErrInput = errors.New("seismic: invalid input")
	// ErrFormat reports a corrupt or unsupported index file.
	ErrFormat = errors.New("seismic: bad index format")
	// ErrChecksum reports an index file whose bytes do not match the
	// checksum written with them; it comes wrapped with ErrFormat.
	ErrChecksum = errors.New("seismic: checksum mismatch")
	// ErrClosed reports use of an index after Close.
	ErrClosed = errors.New("seismic: index closed")
)

// Pruning selects the static pruning rule of the posting lists.
type Pruning uint8

const (
	// PruneGlobal keeps the NPostings·dim largest entries of the whole
	// collection, each list capped at MaxFraction·NPostings entries.
	PruneGlobal Pruning = iota
	// PruneFixed keeps the NPostings largest entries of every list.
	PruneFixed
	// PruneMass keeps, in every list, its largest postings until a share
	// of the list's L1 mass derived from how concentrated the list's
	// weights are (adaptive.go), and at least MinPostings of them. Flat
	// lists (BM25-like weights) keep almost everything; peaked lists
	// (learned sparse weights) prune hard.
	PruneMass
)

// ValueType selects how the forward index stores values.
type ValueType uint8

const (
	// ValueF32 stores values as float32 (exact scores).
	ValueF32 ValueType = iota
	// ValueF16 stores values as IEEE half floats (half the memory, scores
	// within about 0.05% of exact); the default.
	ValueF16
)

// Config controls how an index is built. The zero value is not valid; start
// from DefaultConfig.
type Config struct {
	// Pruning is the static pruning rule. Default PruneMass: every list is
	// pruned by retained mass, derived from the segment's own weights.
	Pruning Pruning
	// NPostings is the mean number of postings kept per list (PruneGlobal)
	// or the exact cap per list (PruneFixed). 0 means automatic:
	// AutoKeep × nnz / (number of used components), at least 16.
	// Default 0.
	NPostings int
	// AutoKeep is the fraction of all entries kept when NPostings is 0.
	// Default 0.25: on SPLADE-like data it scores far fewer documents per
	// query at 95% recall than 0.12 (the share the Seismic paper keeps on MS
	// MARCO), at the price of an index 1.9x the forward index instead of
	// 1.45x.
	AutoKeep float64
	// MinPostings is the floor of postings kept per list under PruneMass
	// (lists shorter than it are kept whole). 0 means automatic:
	// ⌈√n/8⌉ for n documents, within [16, 64]. Default 0.
	MinPostings int
	// MaxFraction caps each list at MaxFraction·NPostings entries under
	// PruneGlobal. Default 1.5.
	MaxFraction float64
	// Beta is the fraction of a list's documents sampled as k-means
	// centroids; each centroid becomes a block. 0 means automatic: the
	// number of blocks follows the list's length L, blocks of about
	// 8 + 2·log2(L/64) documents (adaptive.go). Default 0.
	Beta float64
	// DocCut is the number of a document's largest components used to
	// assign it to a centroid. Default 30: on SPLADE-like data the clusters
	// are tighter than with 15 (recall at 200,000 documents up about 0.5
	// point for the same number of scored documents) for about 15% more
	// build CPU time; 50 gains another 0.5 point for about 30% more.
	DocCut int
	// MinClusterSize dissolves clusters with fewer documents into their
	// next-best centroid. Default 3 (fewer, fuller blocks: fewer summaries
	// to evaluate and store).
	MinClusterSize int
	// Alpha is the fraction of the L1 mass of a block's coordinate-wise max
	// kept in its summary. 0 means automatic: derived from how flat the
	// segment's posting lists are, from 0.1 for peaked (learned sparse)
	// weights to 0.9 for flat (BM25-like) ones (adaptive.go). Default 0.
	// On SPLADE-like data 0.12 was the tuned constant (the paper uses 0.4).
	Alpha float64
	// Values selects the forward index value type. Default ValueF16: with
	// narrow ids a document is then one run of 4-byte (id, value) entries,
	// a third less memory to fetch per scored document than ValueF32, with
	// scores within about 0.05% (the half float's relative precision is
	// 2^-11). Collections with a value beyond the half range (|v| > 65504)
	// keep float32 values.
	Values ValueType
	// KNN is κ, the number of nearest neighbours stored per document for
	// SeismicWave refinement (SearchParams.KNN); 0 disables the graph.
	// Default 10: 4·κ bytes per document (about 0.055× the float32 forward
	// index on SPLADE-like data) buy about a fifth fewer scored documents
	// at 95% recall.
	KNN int
	// KNNBlocks builds the kNN graph from block co-membership: a
	// document's neighbours are the best of the other documents in the
	// blocks that hold it in the lists of its KNNBlocks heaviest components
	// (that are in its pruned lists). 0 builds the graph by searching the
	// index with every document instead (SeismicWave's construction, with
	// KNNParams), which costs a full search per document. Default 3.
	KNNBlocks int
	// KNNParams are the search parameters used to build the kNN graph when
	// KNNBlocks is 0. Default: DefaultSearchParams() with QueryCut 20.
	KNNParams SearchParams
	// Reorder lays documents out in the forward index by the block of their
	// heaviest component, so that the documents of a block sit next to each
	// other in memory and scoring a block streams instead of jumping.
	// Results still use the input row numbers. Default true.
	Reorder bool
	// Seed fixes the centroid sampling, so builds are deterministic.
	// Default 42.
	Seed uint64
	// Workers is the number of build goroutines; 0 means GOMAXPROCS.
	// Default 0.
	Workers int
	// Calibrate measures, at the end of the build, which search parameters
	// reach which recall against exact scoring, on pseudo-queries drawn
	// from the documents (calibrate.go), and stores the table in the index.
	// Default true.
	Calibrate bool
	// CalibrationQueries is the number of pseudo-queries. Default 96.
	CalibrationQueries int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	kp := DefaultSearchParams()
	kp.QueryCut = 20
	return Config{
		Pruning: PruneMass, AutoKeep: 0.25, MaxFraction: 1.5,
		DocCut: 30, MinClusterSize: 3, KNN: 10,
		Values: ValueF16, KNNBlocks: 3, KNNParams: kp, Reorder: true, Seed: 42,
		Calibrate: true, CalibrationQueries: 96,
	}
}

// Validate reports whether c can build an index.
func (c Config) Validate() error {
	switch {
	case c.Pruning > PruneMass:
		return fmt.Errorf("%w: unknown pruning %d", ErrConfig, c.Pruning)
	case c.NPostings < 0:
		return fmt.Errorf("%w: n_postings %d < 0", ErrConfig, c.NPostings)
	case c.Pruning != PruneMass && c.NPostings == 0 && !(c.AutoKeep > 0 && c.AutoKeep <= 1):
		return fmt.Errorf("%w: auto_keep %v not in (0, 1]", ErrConfig, c.AutoKeep)
	case c.Pruning == PruneGlobal && !(c.MaxFraction >= 1):
		return fmt.Errorf("%w: max_fraction %v < 1", ErrConfig, c.MaxFraction)
	case c.MinPostings < 0:
		return fmt.Errorf("%w: min_postings %d < 0", ErrConfig, c.MinPostings)
	case !(c.Beta >= 0 && c.Beta <= 1):
		return fmt.Errorf("%w: beta %v not in [0, 1] (0: automatic)", ErrConfig, c.Beta)
	case c.DocCut < 1:
		return fmt.Errorf("%w: doc_cut %d < 1", ErrConfig, c.DocCut)
	case c.MinClusterSize < 1:
		return fmt.Errorf("%w: min_cluster_size %d < 1", ErrConfig, c.MinClusterSize)
	case !(c.Alpha >= 0 && c.Alpha <= 1):
		return fmt.Errorf("%w: alpha %v not in [0, 1] (0: automatic)", ErrConfig, c.Alpha)
	case c.CalibrationQueries < 0 || c.CalibrationQueries > 4096:
		return fmt.Errorf("%w: calibration_queries %d not in [0, 4096]", ErrConfig, c.CalibrationQueries)
	case c.Values > ValueF16:
		return fmt.Errorf("%w: unknown value type %d", ErrConfig, c.Values)
	case c.KNN < 0 || c.KNN > 1024:
		return fmt.Errorf("%w: knn %d not in [0, 1024]", ErrConfig, c.KNN)
	case c.KNNBlocks < 0:
		return fmt.Errorf("%w: knn_blocks %d < 0", ErrConfig, c.KNNBlocks)
	case c.Workers < 0:
		return fmt.Errorf("%w: workers %d < 0", ErrConfig, c.Workers)
	}
	if c.KNN > 0 && c.KNNBlocks == 0 {
		if err := c.KNNParams.Validate(); err != nil {
			return fmt.Errorf("knn params: %w", err)
		}
	}
	return nil
}

// SearchParams are the per-query knobs. The zero value is not valid; start
// from DefaultSearchParams.
type SearchParams struct {
	// QueryCut is the number of the query's largest components whose lists
	// are walked. Default 10.
	QueryCut int
	// HeapFactor skips a block when the heap is full and its summary score
	// is below HeapFactor × the k-th best score. Higher is faster and less
	// exact; summaries underestimate (they keep only Alpha of the mass), so
	// values below 1 are the accurate end. Default 0.7: with the default
	// Alpha 0.12 summaries, 0.8 lost 2 points of recall after compaction in
	// the cluster test's skewed data (0.947 against 0.967).
	HeapFactor float32
	// FirstListOrder visits the blocks of the first list in decreasing
	// summary score, so the heap fills with good documents early.
	// Default true.
	FirstListOrder bool
	// KNN re-scores the stored neighbours of the results when the index
	// has a kNN graph (Config.KNN > 0); no effect otherwise. Default true.
	KNN bool
	// FilterExactBelow makes a filtered search score every allowed document
	// exactly when the filter allows fewer than this many. Default 5000.
	FilterExactBelow int
}

// DefaultSearchParams returns the documented defaults.
func DefaultSearchParams() SearchParams {
	return SearchParams{QueryCut: 10, HeapFactor: 0.7, FirstListOrder: true, KNN: true, FilterExactBelow: 5000}
}

// Validate reports whether p is usable.
func (p SearchParams) Validate() error {
	switch {
	case p.QueryCut < 1:
		return fmt.Errorf("%w: query_cut %d < 1", ErrConfig, p.QueryCut)
	case !(p.HeapFactor > 0) || math.IsInf(float64(p.HeapFactor), 0):
		return fmt.Errorf("%w: heap_factor %v must be positive", ErrConfig, p.HeapFactor)
	case p.FilterExactBelow < 0:
		return fmt.Errorf("%w: filter_exact_below %d < 0", ErrConfig, p.FilterExactBelow)
	}
	return nil
}
