package multivec

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/shoal-search/shoal/internal/vecmath"
	"github.com/shoal-search/shoal/shard/embtable"
)

// BuildFunc builds the store that Build(docs, cfg) builds for docs[i] =
// doc(i), i in [0, n), without holding the corpus as float32: it keeps only
// the encoded vectors, the FDEs (as float32 until the FDE table is built)
// and one document per worker. It is for corpora whose float32 form does not
// fit in memory (100,000 documents of ~160 tokens × 128 dims are 8.3 GB;
// under SQ8 they are 2.1 GB).
//
// doc is called twice per document, from up to Workers goroutines at once:
// a first pass counts the stored vectors, learns the SQ8 range and encodes
// the FDEs; a second pass encodes the vectors into storage allocated to the
// exact size. It must return the same vectors for the same i both times (a
// deterministic generator, or a reader); BuildFunc does not keep the
// returned slice. CentroidIVF is not supported (its table needs every
// stored vector as float32): BuildFunc returns ErrConfig.
func BuildFunc(n int, doc func(i int) []float32, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CentroidIVF {
		return nil, errorf("BuildFunc does not support CentroidIVF")
	}
	if n < 0 || n > math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d documents", ErrInput, n)
	}
	dim := cfg.Dim
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	s := &Store{cfg: cfg, offsets: make([]uint32, n+1)}
	var fde *FDE
	var enc []float32
	fd := 0
	if cfg.FDE {
		var err error
		if fde, err = NewFDE(dim, cfg.FDEParams); err != nil {
			return nil, err
		}
		fd = fde.Dim()
		enc = make([]float32, n*fd)
	}

	// Pass 1: vector counts, SQ8 range, FDEs.
	counts := make([]uint32, n)
	tokens := make([]uint32, n)
	errs := make([]error, n)
	var mu sync.Mutex
	rng := newSQ8Range(dim)
	parallel(n, workers, func(i int) {
		r, t, err := reduceDoc(doc(i), i, cfg)
		if err != nil {
			errs[i] = err
			return
		}
		counts[i], tokens[i] = uint32(len(r)/dim), uint32(t)
		if cfg.Codec == SQ8 {
			local := newSQ8Range(dim)
			local.add(r)
			mu.Lock()
			rng.merge(local)
			mu.Unlock()
		}
		if fde != nil {
			fde.EncodeDoc(enc[i*fd:i*fd:(i+1)*fd], r)
		}
	})
	total := 0
	for i := range n {
		if errs[i] != nil {
			return nil, errs[i]
		}
		s.tokens += int64(tokens[i])
		total += int(counts[i])
		if total > math.MaxUint32 {
			return nil, fmt.Errorf("%w: more than 2^32 vectors", ErrInput)
		}
		s.offsets[i+1] = uint32(total)
	}
	if fde != nil {
		s.fde = fde
		tc := cfg.FDETable
		tc.Metric = embtable.IP
		var err error
		if s.fdeTab, err = embtable.Build(enc, fd, tc); err != nil {
			return nil, fmt.Errorf("multivec: fde table: %w", err)
		}
		enc = nil
	}

	// Pass 2: encode the vectors into storage of the exact size.
	if cfg.Codec == SQ8 {
		s.sqMin, s.sqStep = rng.params()
	}
	s.allocStorage(total)
	parallel(n, workers, func(i int) {
		r, _, err := reduceDoc(doc(i), i, cfg)
		if err == nil && uint32(len(r)/dim) != counts[i] {
			err = fmt.Errorf("%w: document %d changed between the passes of BuildFunc", ErrInput, i)
		}
		if err != nil {
			errs[i] = err
			return
		}
		s.encodeRows(int(s.offsets[i])*dim, r)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// reduceDoc checks document i, normalizes a copy of its rows when
// configured and clusters it; it returns the stored vectors and the token
// count.
func reduceDoc(d []float32, i int, cfg Config) ([]float32, int, error) {
	dim := cfg.Dim
	if len(d)%dim != 0 {
		return nil, 0, fmt.Errorf("%w: document %d has %d floats, not a multiple of dim %d", ErrInput, i, len(d), dim)
	}
	if !vecmath.Finite(d) {
		return nil, 0, fmt.Errorf("%w: document %d holds NaN or Inf", ErrInput, i)
	}
	if cfg.Normalize {
		d = append([]float32(nil), d...)
		for j := 0; j+dim <= len(d); j += dim {
			vecmath.Normalize(d[j : j+dim])
		}
	}
	return Cluster(nil, d, dim, cfg.Cluster, cfg.Normalize), len(d) / dim, nil
}
