package multivec

import (
	"errors"
	"fmt"

	"github.com/shoal-search/shoal/shard/embtable"
)

// Sentinel errors of the package.
var (
	// ErrConfig reports an invalid Config or SearchParams.
	ErrConfig = errors.New("multivec: invalid config")
	// ErrFormat reports a malformed store file.
	ErrFormat = errors.New("multivec: malformed store file")
	// ErrVersion reports a store file of an unknown version.
	ErrVersion = errors.New("multivec: unsupported store version")
	// ErrChecksum reports a store file whose bytes do not match the
	// checksum written with them; it comes wrapped with ErrFormat.
	ErrChecksum = errors.New("multivec: checksum mismatch")
	// ErrInput reports a document or query that does not fit the store.
	ErrInput = errors.New("multivec: invalid input")
)

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// Codec is how document vectors are kept for exact MaxSim.
type Codec uint8

const (
	// F32 keeps float32 vectors (4·dim bytes each).
	F32 Codec = iota
	// F16 keeps IEEE half floats (2·dim bytes each).
	F16
	// SQ8 keeps one byte per dimension, scaled by a per-dimension minimum
	// and step learned over the whole store (dim bytes each).
	SQ8
)

// String returns the codec's lower-case name.
func (c Codec) String() string {
	switch c {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case SQ8:
		return "sq8"
	}
	return "unknown"
}

// ParseCodec returns the codec named s (f32, f16, sq8).
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "f32":
		return F32, nil
	case "f16":
		return F16, nil
	case "sq8":
		return SQ8, nil
	}
	return 0, errorf("unknown codec %q", s)
}

// Config describes a Store. Start from DefaultConfig and set Dim.
type Config struct {
	// Dim is the dimension of every vector. Required (no default).
	Dim int
	// Normalize scales every token and query vector to unit length, so
	// MaxSim sums cosines, and re-normalizes cluster centroids. Default true.
	Normalize bool
	// Cluster is the per-document reduction applied by Build. Default no
	// clustering.
	Cluster ClusterConfig
	// Codec is the storage of document vectors used by exact MaxSim.
	// Default F32.
	Codec Codec
	// FDE enables MUVERA candidates: one fixed-dimensional encoding per
	// document, indexed in an embtable.Table. Default true.
	FDE bool
	// FDEParams are the encoding's parameters. Default DefaultFDEConfig.
	FDEParams FDEConfig
	// FDETable is how the encodings are stored and searched; its Metric is
	// forced to IP and its Dim comes from FDEParams. Default: SQ8 codes, a
	// flat scan, no rescoring copy.
	FDETable embtable.Config
	// CentroidIVF enables PLAID-style candidates: every stored document
	// vector (a centroid when clustered) goes into one IVF table, queried
	// once per query vector. Default false.
	CentroidIVF bool
	// CentroidTable is the table of stored vectors for CentroidIVF; Metric
	// is forced to IP. Default: SQ8 codes, NList 0 meaning sqrt(vectors)/4,
	// no rescoring copy.
	CentroidTable embtable.Config
	// Workers bounds the goroutines of Build; 0 means GOMAXPROCS. The result
	// does not depend on it. Default 0.
	Workers int
}

// DefaultConfig returns the defaults documented on Config (Dim is left 0).
func DefaultConfig() Config {
	ft := embtable.DefaultConfig()
	ft.Codec, ft.Metric, ft.NList, ft.Rescore = embtable.SQ8, embtable.IP, 0, embtable.NoRescore
	ct := embtable.DefaultConfig()
	ct.Codec, ct.Metric, ct.NList, ct.Rescore = embtable.SQ8, embtable.IP, 0, embtable.NoRescore
	return Config{
		Normalize:     true,
		Cluster:       DefaultClusterConfig(),
		Codec:         F32,
		FDE:           true,
		FDEParams:     DefaultFDEConfig(),
		FDETable:      ft,
		CentroidTable: ct,
	}
}

// Validate reports whether c can build a store.
func (c Config) Validate() error {
	if c.Dim < 1 || c.Dim > 1<<16 {
		return errorf("dim %d outside [1, 65536]", c.Dim)
	}
	if c.Codec > SQ8 {
		return errorf("unknown codec %d", c.Codec)
	}
	if c.Workers < 0 {
		return errorf("workers %d < 0", c.Workers)
	}
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if c.FDE {
		if err := c.FDEParams.Validate(); err != nil {
			return err
		}
		if err := c.FDETable.Validate(); err != nil {
			return fmt.Errorf("%w: fde table: %v", ErrConfig, err)
		}
	}
	if c.CentroidIVF {
		if err := c.CentroidTable.Validate(); err != nil {
			return fmt.Errorf("%w: centroid table: %v", ErrConfig, err)
		}
	}
	return nil
}

// Candidates selects how Search finds the documents it scores exactly.
type Candidates uint8

const (
	// Exhaustive scores every (unfiltered) document by exact MaxSim.
	Exhaustive Candidates = iota
	// ByFDE takes the best documents by FDE inner product (MUVERA), then
	// reranks them by exact MaxSim.
	ByFDE
	// ByCentroids probes the IVF over all stored vectors with each query
	// vector, ranks documents by the sum of the best similarities found,
	// then reranks the best by exact MaxSim.
	ByCentroids
)

// String returns the candidate path's lower-case name.
func (c Candidates) String() string {
	switch c {
	case Exhaustive:
		return "exhaustive"
	case ByFDE:
		return "fde"
	case ByCentroids:
		return "centroids"
	}
	return "unknown"
}

// SearchParams are the per-query knobs of Search.
type SearchParams struct {
	// Candidates is the candidate path. Default ByFDE when the store has
	// FDEs, else Exhaustive.
	Candidates Candidates
	// Rerank is the number of candidates scored by exact MaxSim; 0 means
	// 10·k. Default 0.
	Rerank int
	// NProbe is the IVF lists scanned by the candidate table (FDE or
	// centroid) when it has IVF; 0 means the table default. Default 0.
	NProbe int
	// Oversample multiplies Rerank to give the candidates taken from the
	// FDE table's codes before it rescores them from its rescoring copy
	// (when the table has one, see Config.FDETable.Rescore); 0 or 1 means no
	// oversampling. Default 0.
	Oversample int
	// PerQueryVector is the number of stored vectors each query vector
	// retrieves on the ByCentroids path; 0 means 2·Rerank. Default 0.
	PerQueryVector int
}
