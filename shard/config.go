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
	// Sparse holds the collection's sparse search defaults; Sparse.Kind
	// selects the index that sealed segments build.
	Sparse SparseDefaults
	// Blockmax configures exact sparse indexes (shard/blockmax): built by
	// every segment when Sparse.Kind is SparseExact, and beside the Seismic
	// index by a segment whose calibration does not reach the collection's
	// target recall. Default blockmax.DefaultConfig().
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
		Sparse:            DefaultSparseDefaults(),
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
	}
	if err := c.Blockmax.Validate(); err != nil {
		return fmt.Errorf("shard: Blockmax: %w", err)
	}
	if err := c.Sparse.Validate(); err != nil {
		return err
	}
	return nil
}

// Sparse index kinds (SparseDefaults.Kind).
const (
	// SparseSeismic indexes sealed segments with Seismic (the default).
	SparseSeismic = "seismic"
	// SparseExact scores sparse vectors exactly: segments build the exact
	// block-max index (shard/blockmax) instead of Seismic.
	SparseExact = "exact"
)

// SparseDefaults are a collection's sparse search defaults. Every replica of
// a shard must use the same Kind (it decides what a segment builds); the
// search defaults may differ without harm.
type SparseDefaults struct {
	// Kind is SparseSeismic or SparseExact ("" is SparseSeismic). Default
	// SparseSeismic.
	Kind string
	// TargetRecall is the recall@10 a search aims for when the query gives
	// neither a target nor explicit knobs: each segment looks the settings
	// up in its calibration table (seismic.Calibration), and a segment
	// whose calibration did not reach the target is scored exactly.
	// Default 0.95 (0 also means 0.95).
	TargetRecall float64
	// QueryCut and HeapFactor, when set, are fixed Seismic knobs used
	// instead of the calibration table (a query's own knobs still win).
	// Default 0 (calibrated).
	QueryCut   int
	HeapFactor float32
}

// DefaultSparseDefaults returns the documented defaults.
func DefaultSparseDefaults() SparseDefaults {
	return SparseDefaults{Kind: SparseSeismic, TargetRecall: 0.95}
}

// Validate checks d.
func (d SparseDefaults) Validate() error {
	switch {
	case d.Kind != "" && d.Kind != SparseSeismic && d.Kind != SparseExact:
		return fmt.Errorf("shard: sparse kind %q, want %q or %q", d.Kind, SparseSeismic, SparseExact)
	case !(d.TargetRecall >= 0 && d.TargetRecall <= 1):
		return fmt.Errorf("shard: sparse target recall %v not in (0, 1] (0: default)", d.TargetRecall)
	case d.QueryCut < 0 || !(d.HeapFactor >= 0):
		return errors.New("shard: sparse query cut and heap factor must not be negative")
	}
	return nil
}

// exactSparse reports whether segments build the exact sparse index.
func (c *Config) exactSparse() bool { return c.Sparse.Kind == SparseExact }

// QueryParams are the per-query knobs of the indexes. Zero values keep each
// index's default.
type QueryParams struct {
	// QueryCut and HeapFactor tune Seismic; either one set makes the search
	// use fixed knobs instead of the segment's calibration table (the other
	// takes the collection's fixed knob or Seismic's default).
	QueryCut   int
	HeapFactor float32
	// TargetRecall asks each segment for the settings its calibration
	// found to reach this recall@10; 0 keeps the collection's default.
	TargetRecall float64
	// NProbe and Oversample tune dense tables (and NProbe the multi-vector
	// candidate table).
	NProbe     int
	Oversample int
	// Candidates is how many multi-vector candidates are reranked by exact
	// MaxSim.
	Candidates int
}
