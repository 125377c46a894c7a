package multivec

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
	"github.com/shoal-search/shoal/shard/embtable"
)

// Store holds multi-vector documents, numbered 0..n-1 in the order given to
// Build, with their (possibly clustered) vectors under a storage codec, and
// the optional candidate indexes: MUVERA encodings and an IVF over all stored
// vectors.
//
// A Store is immutable once built or loaded: Search, Score and Rerank are
// safe for any number of concurrent callers; each takes pooled scratch.
type Store struct {
	cfg     Config
	offsets []uint32 // n+1 vector offsets
	tokens  int64    // token vectors received before clustering

	f32    []float32
	f16    []vecmath.F16
	sq8    []uint8
	sqMin  []float32
	sqStep []float32

	fde    *FDE
	fdeTab *embtable.Table
	// fdeMapped: fdeTab's rescoring copy is mapped from a sidecar file
	// (Load); Close releases it.
	fdeMapped bool
	vecTab    *embtable.Table
	docOf     []uint32 // stored vector row → document, for vecTab

	pool sync.Pool
}

// scratch is the per-search working memory.
type scratch struct {
	q      []float32
	maxes  []float32
	dec    []float32
	fq     []float32
	heap   *topk.Heap
	items  []topk.Item
	accum  []float32
	lastQ  []int32
	touch  []uint32
	vecSel *roaring.Bitmap
}

// Build clusters, encodes and indexes docs (each row-major n_i×Dim) under
// cfg. Documents may be empty; they score 0. Build is deterministic for the
// same docs and cfg.
func Build(docs [][]float32, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dim := cfg.Dim
	for i, d := range docs {
		if len(d)%dim != 0 {
			return nil, fmt.Errorf("%w: document %d has %d floats, not a multiple of dim %d", ErrInput, i, len(d), dim)
		}
		if !vecmath.Finite(d) {
			return nil, fmt.Errorf("%w: document %d holds NaN or Inf", ErrInput, i)
		}
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Cluster every document independently (in parallel; the result does
	// not depend on the schedule).
	reduced := make([][]float32, len(docs))
	parallel(len(docs), workers, func(i int) {
		d := docs[i]
		if cfg.Normalize {
			d = append([]float32(nil), d...)
			for j := 0; j+dim <= len(d); j += dim {
				vecmath.Normalize(d[j : j+dim])
			}
		}
		reduced[i] = Cluster(nil, d, dim, cfg.Cluster, cfg.Normalize)
	})
	s := &Store{cfg: cfg, offsets: make([]uint32, len(docs)+1)}
	total := 0
	for i, r := range reduced {
		s.tokens += int64(len(docs[i]) / dim)
		total += len(r) / dim
		if total > math.MaxUint32 {
			return nil, fmt.Errorf("%w: more than 2^32 vectors", ErrInput)
		}
		s.offsets[i+1] = uint32(total)
	}
	flat := make([]float32, 0, total*dim)
	for _, r := range reduced {
		flat = append(flat, r...)
	}
	s.encodeStorage(flat)
	if cfg.FDE {
		fde, err := NewFDE(dim, cfg.FDEParams)
		if err != nil {
			return nil, err
		}
		s.fde = fde
		fd := fde.Dim()
		enc := make([]float32, len(docs)*fd)
		parallel(len(docs), workers, func(i int) {
			fde.EncodeDoc(enc[i*fd:i*fd:(i+1)*fd], reduced[i])
		})
		tc := cfg.FDETable
		tc.Metric = embtable.IP
		if s.fdeTab, err = embtable.Build(enc, fd, tc); err != nil {
			return nil, fmt.Errorf("multivec: fde table: %w", err)
		}
	}
	if cfg.CentroidIVF && total > 0 {
		tc := cfg.CentroidTable
		tc.Metric = embtable.IP
		if tc.NList == 0 {
			tc.NList = max(1, int(math.Sqrt(float64(total))/4))
		}
		tc.NList = min(tc.NList, total)
		var err error
		if s.vecTab, err = embtable.Build(flat, dim, tc); err != nil {
			return nil, fmt.Errorf("multivec: centroid table: %w", err)
		}
		s.docOf = docOfRows(s.offsets)
	}
	return s, nil
}

// docOfRows maps every stored vector row to its document.
func docOfRows(offsets []uint32) []uint32 {
	docOf := make([]uint32, offsets[len(offsets)-1])
	for d := 0; d+1 < len(offsets); d++ {
		for r := offsets[d]; r < offsets[d+1]; r++ {
			docOf[r] = uint32(d)
		}
	}
	return docOf
}

// parallel runs f(0..n-1) on up to workers goroutines.
func parallel(n, workers int, f func(i int)) {
	if workers <= 1 || n < 2 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next += 16
				mu.Unlock()
				if i >= n {
					return
				}
				for j := i; j < min(i+16, n); j++ {
					f(j)
				}
			}
		}()
	}
	wg.Wait()
}

// encodeStorage keeps flat under the configured codec.
func (s *Store) encodeStorage(flat []float32) {
	switch s.cfg.Codec {
	case F32:
		s.f32 = flat
	case F16:
		s.f16 = make([]vecmath.F16, len(flat))
		s.encodeRows(0, flat)
	case SQ8:
		r := newSQ8Range(s.cfg.Dim)
		r.add(flat)
		s.sqMin, s.sqStep = r.params()
		s.sq8 = make([]uint8, len(flat))
		s.encodeRows(0, flat)
	}
}

// allocStorage makes room for total vectors under the codec (SQ8 parameters
// must be set already).
func (s *Store) allocStorage(total int) {
	switch n := total * s.cfg.Dim; s.cfg.Codec {
	case F32:
		s.f32 = make([]float32, n)
	case F16:
		s.f16 = make([]vecmath.F16, n)
	case SQ8:
		s.sq8 = make([]uint8, n)
	}
}

// encodeRows writes the vectors x at stored value offset off (a multiple of
// Dim) of the allocated storage. Rows of different documents may be encoded
// concurrently.
func (s *Store) encodeRows(off int, x []float32) {
	switch s.cfg.Codec {
	case F32:
		copy(s.f32[off:off+len(x)], x)
	case F16:
		dst := s.f16[off : off+len(x)]
		for i, v := range x {
			dst[i] = vecmath.ToF16(v)
		}
	case SQ8:
		dim := s.cfg.Dim
		dst := s.sq8[off : off+len(x)]
		for i := 0; i+dim <= len(x); i += dim {
			for j, v := range x[i : i+dim] {
				if s.sqStep[j] == 0 {
					continue
				}
				c := math.Round(float64((v - s.sqMin[j]) / s.sqStep[j]))
				dst[i+j] = uint8(min(255, max(0, c)))
			}
		}
	}
}

// sq8Range accumulates the per-dimension range of the SQ8 codec.
type sq8Range struct{ lo, hi []float32 }

func newSQ8Range(dim int) *sq8Range {
	r := &sq8Range{lo: make([]float32, dim), hi: make([]float32, dim)}
	for j := range r.lo {
		r.lo[j], r.hi[j] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	return r
}

// add widens the range to cover the rows of x.
func (r *sq8Range) add(x []float32) {
	dim := len(r.lo)
	for i := 0; i+dim <= len(x); i += dim {
		for j, v := range x[i : i+dim] {
			r.lo[j], r.hi[j] = min(r.lo[j], v), max(r.hi[j], v)
		}
	}
}

// merge widens r to cover o.
func (r *sq8Range) merge(o *sq8Range) {
	for j := range r.lo {
		r.lo[j], r.hi[j] = min(r.lo[j], o.lo[j]), max(r.hi[j], o.hi[j])
	}
}

// params returns the per-dimension minimum and step (255 levels); an empty
// dimension gets minimum 0 and step 0.
func (r *sq8Range) params() (mn, step []float32) {
	mn, step = make([]float32, len(r.lo)), make([]float32, len(r.lo))
	for j := range r.lo {
		lo, hi := r.lo[j], r.hi[j]
		if lo > hi {
			lo, hi = 0, 0
		}
		mn[j], step[j] = lo, (hi-lo)/255
	}
	return mn, step
}

// Len returns the number of documents.
func (s *Store) Len() int { return len(s.offsets) - 1 }

// Dim returns the vector dimension.
func (s *Store) Dim() int { return s.cfg.Dim }

// Config returns the configuration the store was built with.
func (s *Store) Config() Config { return s.cfg }

// Vectors returns the number of stored vectors (after clustering).
func (s *Store) Vectors() int { return int(s.offsets[len(s.offsets)-1]) }

// Tokens returns the number of token vectors the documents had before
// clustering (as received by Build).
func (s *Store) Tokens() int64 { return s.tokens }

// DocVectors returns the number of stored vectors of document doc.
func (s *Store) DocVectors(doc uint32) int {
	return int(s.offsets[doc+1] - s.offsets[doc])
}

// HasFDE reports whether the store has MUVERA candidates.
func (s *Store) HasFDE() bool { return s.fdeTab != nil }

// HasCentroidIVF reports whether the store has the IVF over stored vectors.
func (s *Store) HasCentroidIVF() bool { return s.vecTab != nil }

// VectorBytes returns the bytes of the stored document vectors under the
// codec (plus SQ8 parameters and offsets).
func (s *Store) VectorBytes() int64 {
	b := int64(4 * len(s.offsets))
	b += int64(4*len(s.f32) + 2*len(s.f16) + len(s.sq8) + 4*len(s.sqMin) + 4*len(s.sqStep))
	return b
}

// IndexBytes returns the resident bytes of the candidate indexes.
func (s *Store) IndexBytes() int64 {
	var b int64
	if s.fdeTab != nil {
		b += s.fdeTab.ResidentBytes()
	}
	if s.vecTab != nil {
		b += s.vecTab.ResidentBytes() + int64(4*len(s.docOf))
	}
	return b
}

// docVectors returns document doc's vectors as float32, decoding into buf
// when the codec is not F32.
func (s *Store) docVectors(doc uint32, buf []float32) ([]float32, []float32) {
	dim := s.cfg.Dim
	lo, hi := int(s.offsets[doc])*dim, int(s.offsets[doc+1])*dim
	switch s.cfg.Codec {
	case F32:
		return s.f32[lo:hi], buf
	case F16:
		if cap(buf) < hi-lo {
			buf = make([]float32, hi-lo)
		}
		out := buf[:hi-lo]
		for i, h := range s.f16[lo:hi] {
			out[i] = h.Float32()
		}
		return out, buf
	default:
		if cap(buf) < hi-lo {
			buf = make([]float32, hi-lo)
		}
		out := buf[:hi-lo]
		mn, st := s.sqMin, s.sqStep
		codes := s.sq8[lo:hi]
		for i := 0; i < len(codes); i += dim {
			o, c := out[i:i+dim], codes[i:i+dim]
			for j := range o {
				o[j] = mn[j] + st[j]*float32(c[j])
			}
		}
		return out, buf
	}
}

func (s *Store) getScratch() *scratch {
	if sc, ok := s.pool.Get().(*scratch); ok {
		return sc
	}
	return &scratch{heap: topk.New(10)}
}

// prepareQuery copies q into scratch, normalizing rows when configured.
func (s *Store) prepareQuery(sc *scratch, q []float32) []float32 {
	sc.q = append(sc.q[:0], q...)
	if s.cfg.Normalize {
		dim := s.cfg.Dim
		for j := 0; j+dim <= len(sc.q); j += dim {
			vecmath.Normalize(sc.q[j : j+dim])
		}
	}
	if n := len(q) / s.cfg.Dim; cap(sc.maxes) < n {
		sc.maxes = make([]float32, n)
	}
	return sc.q
}

// checkQuery reports whether q can be scored against the store.
func (s *Store) checkQuery(q []float32) bool {
	return len(q) > 0 && len(q)%s.cfg.Dim == 0
}

// Score returns the exact MaxSim of q against document doc (0 for an id
// outside the store or a malformed query).
func (s *Store) Score(q []float32, doc uint32) float32 {
	if !s.checkQuery(q) || int(doc) >= s.Len() {
		return 0
	}
	sc := s.getScratch()
	defer s.pool.Put(sc)
	qq := s.prepareQuery(sc, q)
	var d []float32
	d, sc.dec = s.docVectors(doc, sc.dec)
	return MaxSim(qq, d, s.cfg.Dim, sc.maxes)
}

// Rerank scores the documents ids by exact MaxSim and appends the best k to
// dst, best first. Ids outside the store are skipped.
func (s *Store) Rerank(q []float32, ids []uint32, k int, dst []topk.Item) []topk.Item {
	if !s.checkQuery(q) || k < 1 {
		return dst
	}
	sc := s.getScratch()
	defer s.pool.Put(sc)
	qq := s.prepareQuery(sc, q)
	sc.heap.Reset(k)
	for _, id := range ids {
		if int(id) < s.Len() {
			s.pushExact(sc, qq, id)
		}
	}
	return sc.heap.Sorted(dst)
}

func (s *Store) pushExact(sc *scratch, q []float32, id uint32) {
	var d []float32
	d, sc.dec = s.docVectors(id, sc.dec)
	if len(d) == 0 {
		sc.heap.Push(id, 0)
		return
	}
	sc.heap.Push(id, MaxSim(q, d, s.cfg.Dim, sc.maxes))
}

// Search returns the k best documents for the query multi-vector q
// (row-major, Dim columns) appended to dst, best first, scored by exact
// MaxSim over the candidates that p selects. filter, when not nil, holds the
// documents that may be returned. A malformed query or k < 1 returns dst
// unchanged.
func (s *Store) Search(q []float32, k int, p SearchParams, filter *roaring.Bitmap, dst []topk.Item) []topk.Item {
	if !s.checkQuery(q) || k < 1 || s.Len() == 0 {
		return dst
	}
	sc := s.getScratch()
	defer s.pool.Put(sc)
	qq := s.prepareQuery(sc, q)
	rerank := p.Rerank
	if rerank <= 0 {
		rerank = 10 * k
	}
	rerank = max(rerank, k)
	switch {
	case p.Candidates == ByFDE && s.fdeTab != nil:
		sc.fq = s.fde.EncodeQuery(sc.fq[:0], qq)
		sp := embtable.SearchParams{NProbe: p.NProbe, Oversample: max(1, p.Oversample), Rescore: p.Oversample > 1}
		sc.items = s.fdeTab.Search(sc.fq, rerank, sp, filter, sc.items[:0])
		sc.heap.Reset(k)
		for _, it := range sc.items {
			s.pushExact(sc, qq, it.ID)
		}
	case p.Candidates == ByCentroids && s.vecTab != nil:
		s.centroidCandidates(sc, qq, rerank, p, filter)
		sc.heap.Reset(k)
		for _, it := range sc.items {
			s.pushExact(sc, qq, it.ID)
		}
	default:
		sc.heap.Reset(k)
		if filter != nil {
			it := filter.Iterator()
			for it.HasNext() {
				id := it.Next()
				if int(id) >= s.Len() {
					break
				}
				s.pushExact(sc, qq, id)
			}
		} else {
			for id := 0; id < s.Len(); id++ {
				s.pushExact(sc, qq, uint32(id))
			}
		}
	}
	return sc.heap.Sorted(dst)
}

// centroidCandidates fills sc.items with the best rerank documents by the
// approximate score Σ_query-vector max similarity among the retrieved stored
// vectors (PLAID-style centroid interaction; a vector not retrieved adds 0).
func (s *Store) centroidCandidates(sc *scratch, q []float32, rerank int, p SearchParams, filter *roaring.Bitmap) {
	dim, n := s.cfg.Dim, s.Len()
	per := p.PerQueryVector
	if per <= 0 {
		per = 2 * rerank
	}
	if len(sc.accum) < n {
		sc.accum, sc.lastQ = make([]float32, n), make([]int32, n)
		for i := range sc.lastQ {
			sc.lastQ[i] = -1
		}
	}
	var vfilter *roaring.Bitmap
	if filter != nil {
		if sc.vecSel == nil {
			sc.vecSel = roaring.New()
		}
		sc.vecSel.Clear()
		it := filter.Iterator()
		for it.HasNext() {
			d := it.Next()
			if int(d) >= n {
				break
			}
			sc.vecSel.AddRange(uint64(s.offsets[d]), uint64(s.offsets[d+1]))
		}
		vfilter = sc.vecSel
	}
	sp := embtable.SearchParams{NProbe: p.NProbe, Oversample: 1}
	sc.touch = sc.touch[:0]
	for i := 0; i+dim <= len(q); i += dim {
		sc.items = s.vecTab.Search(q[i:i+dim], per, sp, vfilter, sc.items[:0])
		qi := int32(i / dim)
		for _, it := range sc.items {
			d := s.docOf[it.ID]
			if sc.lastQ[d] == qi {
				continue // items are best first: the first hit is the max
			}
			if sc.lastQ[d] == -1 {
				sc.touch = append(sc.touch, d)
				sc.accum[d] = 0
			}
			sc.lastQ[d] = qi
			sc.accum[d] += it.Score
		}
	}
	sc.heap.Reset(rerank)
	for _, d := range sc.touch {
		sc.heap.Push(d, sc.accum[d])
		sc.lastQ[d] = -1
	}
	sc.items = sc.heap.Sorted(sc.items[:0])
}
