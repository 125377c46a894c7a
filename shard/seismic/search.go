package seismic

import (
	"slices"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/shoal-search/shoal/internal/topk"
)

// scratch is the per-query memory, reused through the index's pool.
type scratch struct {
	q       []float32         // dense query over compact ids
	q16     *[1 << 16]float32 // q as an array, for narrow indexes
	qt      []uint32          // compact ids set in q
	cut     []uint32          // the QueryCut heaviest query terms
	visited []uint64          // bit per document
	seen    []uint32          // documents marked in visited
	heap    *topk.Heap        // running top-k
	order   []blockScore      // first-list blocks by summary score
	res     []topk.Item       // results, for kNN expansion
	ts      []uint32          // row buffers for the kNN build
	vs      []float32         //
	scored  int               // documents scored by the last query
	blocks  int               // summaries evaluated by the last query
}

type blockScore struct {
	b uint32
	s float32
}

func (ix *Index) getScratch() *scratch {
	if s, ok := ix.pool.Get().(*scratch); ok {
		return s
	}
	qn := int(ix.m)
	if !ix.wide {
		qn = 1 << 16
	}
	s := &scratch{
		q:       make([]float32, qn),
		visited: make([]uint64, (ix.n+63)/64),
		heap:    topk.New(10),
	}
	if !ix.wide {
		s.q16 = (*[1 << 16]float32)(unsafe.Pointer(&s.q[0]))
	}
	return s
}

// Search returns the k best documents for q (highest inner product first,
// ties to the smaller id), appended to dst[:0]. Only documents in filter are
// returned when filter is not nil. Unknown or out-of-range query ids are
// ignored. Search is safe for concurrent use and does not allocate beyond
// growing dst (a filtered search may allocate a roaring iterator).
func (ix *Index) Search(q Vector, k int, p SearchParams, filter *roaring.Bitmap, dst []topk.Item) []topk.Item {
	dst = dst[:0]
	if k <= 0 || ix.n == 0 || ix.closed.Load() {
		return dst
	}
	s := ix.getScratch()
	ix.loadQuery(s, q)
	start := len(dst)
	dst = ix.search(s, k, p, filter, dst)
	ix.putScratch(s)
	ix.toRows(dst[start:])
	return dst
}

// loadQuery sets the dense query of s from q.
func (ix *Index) loadQuery(s *scratch, q Vector) {
	n := min(len(q.Indices), len(q.Values))
	for j := 0; j < n; j++ {
		c, ok := ix.compact(q.Indices[j])
		if !ok || q.Values[j] == 0 {
			continue
		}
		if s.q[c] == 0 {
			s.qt = append(s.qt, c)
		}
		s.q[c] += q.Values[j]
	}
}

// putScratch clears the query and visited state and returns s to the pool.
func (ix *Index) putScratch(s *scratch) {
	s.clearQuery()
	ix.pool.Put(s)
}

// clearQuery zeroes the dense query.
func (s *scratch) clearQuery() {
	for _, c := range s.qt {
		s.q[c] = 0
	}
	s.qt = s.qt[:0]
}

// search runs the query loaded in s.q / s.qt.
func (ix *Index) search(s *scratch, k int, p SearchParams, filter *roaring.Bitmap, dst []topk.Item) []topk.Item {
	if p.QueryCut < 1 {
		p.QueryCut = 1
	}
	h := s.heap
	h.Reset(k)
	s.scored, s.blocks = 0, 0
	if filter != nil && filter.GetCardinality() < uint64(p.FilterExactBelow) {
		it := filter.Iterator()
		for it.HasNext() {
			d := it.Next()
			if d >= uint32(ix.n) {
				break
			}
			if ix.inv != nil {
				d = ix.inv[d]
			}
			h.Push(d, ix.score(s, d))
		}
		return h.Sorted(dst)
	}
	// The QueryCut heaviest terms, heaviest first (insertion sort: queries
	// are short).
	s.cut = append(s.cut[:0], s.qt...)
	if lm := ix.listMax; lm != nil {
		// Version 2: by the most a list can add to a score, q_t·max(list
		// t), so that queries with flat weights (term counts) walk the
		// lists that matter first.
		for i := 1; i < len(s.cut); i++ {
			for j := i; j > 0 && heavierBound(s.q, lm, s.cut[j], s.cut[j-1]); j-- {
				s.cut[j], s.cut[j-1] = s.cut[j-1], s.cut[j]
			}
		}
	} else {
		for i := 1; i < len(s.cut); i++ {
			for j := i; j > 0 && heavier(s.q, s.cut[j], s.cut[j-1]); j-- {
				s.cut[j], s.cut[j-1] = s.cut[j-1], s.cut[j]
			}
		}
	}
	s.cut = s.cut[:min(len(s.cut), p.QueryCut)]
	// Start loading the block data of every walked list now: each list's
	// arrays are short runs that the hardware prefetcher would only pick up
	// after a few misses.
	for _, t := range s.cut {
		ix.prefetchList(t)
	}
	hf := p.HeapFactor
	for li, t := range s.cut {
		b0, b1 := ix.listBlk[t], ix.listBlk[t+1]
		if li == 0 && p.FirstListOrder && b1-b0 > 1 {
			s.order = s.order[:0]
			for b := b0; b < b1; b++ {
				s.order = append(s.order, blockScore{b, ix.summary(s, b)})
			}
			slices.SortFunc(s.order, func(x, y blockScore) int {
				switch {
				case x.s > y.s:
					return -1
				case x.s < y.s:
					return 1
				}
				return int(x.b) - int(y.b)
			})
			for _, bs := range s.order {
				if h.Full() && bs.s < hf*h.Threshold() {
					continue
				}
				ix.scoreBlock(s, bs.b, filter)
			}
			continue
		}
		for b := b0; b < b1; b++ {
			if h.Full() && ix.summary(s, b) < hf*h.Threshold() {
				continue
			}
			ix.scoreBlock(s, b, filter)
		}
	}
	if p.KNN && ix.knnK > 0 {
		s.res = h.Sorted(s.res[:0])
		for _, it := range s.res {
			h.Push(it.ID, it.Score)
		}
		for _, it := range s.res {
			for _, d := range ix.knn[int(it.ID)*ix.knnK : int(it.ID+1)*ix.knnK] {
				if s.visited[d>>6]&(1<<(d&63)) == 0 {
					ix.prefetchDoc(d)
				}
			}
		}
		for _, it := range s.res {
			for _, d := range ix.knn[int(it.ID)*ix.knnK : int(it.ID+1)*ix.knnK] {
				ix.visit(s, d, filter)
			}
		}
	}
	for _, d := range s.seen {
		s.visited[d>>6] = 0
	}
	s.seen = s.seen[:0]
	return h.Sorted(dst)
}

func heavierBound(q, lm []float32, a, b uint32) bool {
	x, y := q[a]*lm[a], q[b]*lm[b]
	if x != y {
		return x > y
	}
	return a < b
}

func heavier(q []float32, a, b uint32) bool {
	if q[a] != q[b] {
		return q[a] > q[b]
	}
	return a < b
}

// scoreBlock scores the unvisited documents of block b.
func (ix *Index) scoreBlock(s *scratch, b uint32, filter *roaring.Bitmap) {
	docs := ix.post[ix.blkOff[b]:ix.blkOff[b+1]]
	// Prefetch every unvisited document first, so that their cache misses
	// are in flight together, then score them.
	for _, d := range docs {
		if s.visited[d>>6]&(1<<(d&63)) == 0 {
			ix.prefetchDoc(d)
		}
	}
	for _, d := range docs {
		ix.visit(s, d, filter)
	}
}

// prefetchDoc prefetches document d's forward entries.
func (ix *Index) prefetchDoc(d uint32) {
	a, e := ix.fOff[d], ix.fOff[d+1]
	if a == e {
		return
	}
	n := uintptr(e - a)
	switch {
	case ix.packed():
		prefetch(unsafe.Pointer(&ix.fP[a]), n*4)
		return
	case ix.wide:
		prefetch(unsafe.Pointer(&ix.fT32[a]), n*4)
	default:
		prefetch(unsafe.Pointer(&ix.fT16[a]), n*2)
	}
	if ix.half {
		prefetch(unsafe.Pointer(&ix.fV16[a]), n*2)
	} else {
		prefetch(unsafe.Pointer(&ix.fV32[a]), n*4)
	}
}

// prefetchList prefetches the block offsets, postings and summaries of
// list t.
func (ix *Index) prefetchList(t uint32) {
	b0, b1 := ix.listBlk[t], ix.listBlk[t+1]
	if b0 == b1 {
		return
	}
	nb := uintptr(b1 - b0)
	prefetch(unsafe.Pointer(&ix.blkOff[b0]), (nb+1)*8)
	prefetch(unsafe.Pointer(&ix.sumOff[b0]), (nb+1)*8)
	prefetch(unsafe.Pointer(&ix.sMin[b0]), nb*4)
	prefetch(unsafe.Pointer(&ix.sScale[b0]), nb*4)
	if p0, p1 := ix.blkOff[b0], ix.blkOff[b1]; p1 > p0 {
		prefetch(unsafe.Pointer(&ix.post[p0]), uintptr(p1-p0)*4)
	}
	if a, e := ix.sumOff[b0], ix.sumOff[b1]; e > a {
		prefetch(unsafe.Pointer(&ix.sCode[a]), uintptr(e-a))
		if ix.wide {
			prefetch(unsafe.Pointer(&ix.sT32[a]), uintptr(e-a)*4)
		} else {
			prefetch(unsafe.Pointer(&ix.sT16[a]), uintptr(e-a)*2)
		}
	}
}

// visit scores document d once per query.
func (ix *Index) visit(s *scratch, d uint32, filter *roaring.Bitmap) {
	w, bit := d>>6, uint64(1)<<(d&63)
	if s.visited[w]&bit != 0 {
		return
	}
	s.visited[w] |= bit
	s.seen = append(s.seen, d)
	if filter != nil && !filter.Contains(ix.rowOf(d)) {
		return
	}
	s.scored++
	s.heap.Push(d, ix.score(s, d))
}

// score returns the exact inner product of document d with the query.
func (ix *Index) score(s *scratch, d uint32) float32 {
	a, e := ix.fOff[d], ix.fOff[d+1]
	switch {
	case ix.packed():
		return dotPackedFast(ix.fP[a:e], s.q16)
	case !ix.wide && !ix.half:
		return dot16f32(ix.fT16[a:e], ix.fV32[a:e], s.q16)
	case !ix.wide:
		return dot16f16(ix.fT16[a:e], ix.fV16[a:e], s.q16)
	case !ix.half:
		return dot32f32(ix.fT32[a:e], ix.fV32[a:e], s.q)
	default:
		return dot32f16(ix.fT32[a:e], ix.fV16[a:e], s.q)
	}
}

// summary returns the quantized summary score of block b.
func (ix *Index) summary(s *scratch, b uint32) float32 {
	s.blocks++
	a, e := ix.sumOff[b], ix.sumOff[b+1]
	if ix.wide {
		return sum32(ix.sT32[a:e], ix.sCode[a:e], s.q, ix.sMin[b], ix.sScale[b])
	}
	return sum16Fast(ix.sT16[a:e], ix.sCode[a:e], s.q16, ix.sMin[b], ix.sScale[b])
}

// SearchCounted is Search without a filter that also returns the number of
// documents it scored exactly, for benchmarks and tuning.
func (ix *Index) SearchCounted(q Vector, k int, p SearchParams, dst []topk.Item) ([]topk.Item, int) {
	dst = dst[:0]
	if k <= 0 || ix.n == 0 || ix.closed.Load() {
		return dst, 0
	}
	s := ix.getScratch()
	ix.loadQuery(s, q)
	dst = ix.search(s, k, p, nil, dst)
	n := s.scored
	ix.putScratch(s)
	ix.toRows(dst)
	return dst, n
}

// searchCounts is SearchCounted that also reports the number of block
// summaries evaluated (for tuning tests).
func (ix *Index) searchCounts(q Vector, k int, p SearchParams, dst []topk.Item) ([]topk.Item, int, int) {
	s := ix.getScratch()
	ix.loadQuery(s, q)
	dst = ix.search(s, k, p, nil, dst[:0])
	sc, bl := s.scored, s.blocks
	ix.putScratch(s)
	ix.toRows(dst)
	return dst, sc, bl
}
