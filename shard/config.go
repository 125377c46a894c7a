package shard

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/embtable"
	"github.com/shoal-search/shoal/shard/multivec"
	"github.com/shoal-search/shoal/shard/seismic"
)

// Config tunes a shard engine. Every replica of a shard must use the same
// Config: segment builds depend on it.
type Config struct {
	// SealDocs is the write-buffer size at which the leader proposes a seal.
	// Default 50000.
	SealDocs int
	// MinIndexDocs is the smallest segment that gets indexes; smaller ones
	// are searched exactly. Default 1000.
	MinIndexDocs int
	// MaxSegments is the segment count above which the leader proposes to
	// compact the smallest ones. Default 8.
	MaxSegments int
	// CompactDeleted is the fraction of deleted rows at which a segment is
	// rewritten by compaction. Default 0.2.
	CompactDeleted float64
	// BuildConcurrency bounds the segment builds running at once. Default 1.
	BuildConcurrency int
	// MergeFactor drives the tiered merge policy: segments fall into tiers
	// by size (tier t holds about SealDocs·MergeFactor^t live documents), and
	// when MergeFactor built segments share a tier the leader proposes to
	// merge them into one of the next tier. Default 4; 0 turns the policy off.
	MergeFactor int
	// MaxMergeDocs is the size above which the merge policy leaves a segment
	// alone (a forced compaction still merges it). Default 5,000,000.
	MaxMergeDocs int
	// ActivateByCommand makes searches use a built segment's indexes only
	// once an activation command (Op.Activate, proposed by the leader when
	// its own build is done) has been applied: every replica then switches
	// at the same log index, and replicas at the same index answer alike.
	// Until then the segment is scored exactly, or through the segments a
	// compaction replaced. Default false (indexes are used once built); the
	// node sets it for replicated shards.
	ActivateByCommand bool
	// SearchParallelism bounds the goroutines one search uses to search
	// segments at once. Default GOMAXPROCS.
	SearchParallelism int
	// Seismic configures sparse indexes. Default seismic.DefaultConfig().
	Seismic seismic.Config
	// SparseKind selects the sparse index that sealed segments build:
	// SparseSeismic (approximate) or SparseExact (shard/blockmax: the exact
	// top k, for flat BM25-like weights). Segment files of the other kind
	// are not used; a segment whose files hold the other kind builds again.
	// Default "" (SparseSeismic).
	SparseKind SparseKind
	// Blockmax configures exact sparse indexes (SparseKind SparseExact).
	// Default blockmax.DefaultConfig().
	Blockmax blockmax.Config
	// Dense configures dense tables; Metric and Codec come from the schema.
	// Default embtable.DefaultConfig() with rescoring from f32.
	Dense embtable.Config
	// Multi configures multi-vector stores; Dim and Normalize come from the
	// schema. Default multivec.DefaultConfig() (MUVERA candidates).
	Multi multivec.Config
	// Dir, when set, is where built segment indexes are saved (one set of
	// files per segment, in the index packages' versioned formats), so that
	// a restart loads them instead of building them again. Default "" (no
	// files).
	Dir string
	// Logger receives build logs; default discard.
	Logger *slog.Logger
	// OnCorrupt, when set, is called once for every segment file that
	// fails its checksum or its consistency checks on load (kind is
	// "sparse", "blockmax", "dense", "dense.rescore", "multi" or "ok"; path names the
	// file). The shard has already logged it, discarded the segment's files
	// and queued a rebuild from the segment's documents. Wire it to a
	// metric. Default nil.
	OnCorrupt func(kind, path string, err error)
}

// DefaultConfig returns the defaults described on Config.
func DefaultConfig() Config {
	return Config{
		SealDocs:          50000,
		MinIndexDocs:      1000,
		MaxSegments:       8,
		CompactDeleted:    0.2,
		BuildConcurrency:  1,
		MergeFactor:       4,
		MaxMergeDocs:      5000000,
		SearchParallelism: runtime.GOMAXPROCS(0),
		Seismic:           seismic.DefaultConfig(),
		Blockmax:          blockmax.DefaultConfig(),
		Dense:             embtable.DefaultConfig(),
		Multi:             multivec.DefaultConfig(),
	}
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.SealDocs < 1:
		return errors.New("shard: SealDocs must be at least 1")
	case c.MinIndexDocs < 1:
		return errors.New("shard: MinIndexDocs must be at least 1")
	case c.MaxSegments < 1:
		return errors.New("shard: MaxSegments must be at least 1")
	case c.CompactDeleted <= 0 || c.CompactDeleted > 1:
		return errors.New("shard: CompactDeleted must be in (0, 1]")
	case c.BuildConcurrency < 1:
		return errors.New("shard: BuildConcurrency must be at least 1")
	case c.MergeFactor < 0 || c.MergeFactor == 1:
		return errors.New("shard: MergeFactor must be 0 (off) or at least 2")
	case c.MergeFactor > 0 && c.MaxMergeDocs < 1:
		return errors.New("shard: MaxMergeDocs must be at least 1")
	case c.SearchParallelism < 1:
		return errors.New("shard: SearchParallelism must be at least 1")
	case c.SparseKind != "" && c.SparseKind != SparseSeismic && c.SparseKind != SparseExact:
		return fmt.Errorf("shard: SparseKind %q is not %q or %q", c.SparseKind, SparseSeismic, SparseExact)
	case c.SparseKind == SparseExact:
		if err := c.Blockmax.Validate(); err != nil {
			return fmt.Errorf("shard: Blockmax: %w", err)
		}
	}
	return nil
}

// SparseKind names the index kind of sealed segments' sparse vectors.
type SparseKind string

const (
	// SparseSeismic is the Seismic index (shard/seismic): approximate,
	// fast on learned sparse vectors. The default.
	SparseSeismic SparseKind = "seismic"
	// SparseExact is the exact block-max index (shard/blockmax): the exact
	// top k with dynamic pruning, for flat (BM25-like) weights where
	// Seismic's static pruning loses recall.
	SparseExact SparseKind = "exact"
)

// exactSparse reports whether segments build the exact sparse index.
func (c *Config) exactSparse() bool { return c.SparseKind == SparseExact }

// QueryParams are the per-query knobs of the indexes. Zero values keep each
// index's default.
type QueryParams struct {
	// QueryCut and HeapFactor tune Seismic.
	QueryCut   int
	HeapFactor float32
	// NProbe and Oversample tune dense tables (and NProbe the multi-vector
	// candidate table).
	NProbe     int
	Oversample int
	// Candidates is how many multi-vector candidates are reranked by exact
	// MaxSim.
	Candidates int
}
