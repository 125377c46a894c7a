package blockmax

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/topk"
)

// end marks an exhausted cursor.
const end = math.MaxUint32

// cursor walks one query term's posting list.
type cursor struct {
	docs  []uint32  // the list's documents
	vals  []float32 // and values
	last  []uint32  // its blocks' last documents
	bmax  []uint8   // and value bounds (codes)
	w     float32   // query weight
	bs    float64   // w·scale: a block's bound is bs·code (w > 0)
	ub    float64   // bound of w·v over the whole list, >= 0
	neg   bool      // w < 0: block bounds do not apply, ub does
	qpos  int32     // position of the term in the query
	pos   int       // current posting
	blk   int       // current block (>= the block of pos)
	doc   uint32    // docs[pos], or end
	shift uint32
}

// blockBound bounds w·v over the cursor's current block.
func (c *cursor) blockBound() float64 {
	if c.blk >= len(c.last) {
		return 0
	}
	if c.neg {
		return c.ub
	}
	return c.bs * float64(c.bmax[c.blk])
}

// next moves to the following posting.
func (c *cursor) next() {
	c.pos++
	if c.pos >= len(c.docs) {
		c.doc, c.blk = end, len(c.last)
		return
	}
	c.doc = c.docs[c.pos]
	c.blk = c.pos >> c.shift
}

// shallow moves the block pointer to the block that would hold d, without
// touching the postings, and reports whether there is one.
func (c *cursor) shallow(d uint32) bool {
	for c.blk < len(c.last) && c.last[c.blk] < d {
		c.blk++
	}
	return c.blk < len(c.last)
}

// seek moves to the first posting >= d.
func (c *cursor) seek(d uint32) {
	if c.doc >= d {
		return
	}
	if !c.shallow(d) {
		c.pos, c.doc = len(c.docs), end
		return
	}
	lo := max(c.pos, c.blk<<c.shift)
	hi := min(len(c.docs), (c.blk+1)<<c.shift) - 1 // docs[hi] >= d
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c.docs[mid] < d {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	c.pos, c.doc = lo, c.docs[lo]
}

// part is one term's contribution to a document's score.
type part struct {
	qpos int32
	p    float32
}

// Scratch is the per-query memory of Search. A Scratch serves one search at
// a time; Search takes one from the index's pool when given nil.
type Scratch struct {
	cur   []cursor
	pre   []float64 // pre[i] = Σ ub of cur[:i+1]
	nbb   []float64 // block bounds of the non-essential cursors at the candidate
	parts []part
	heap  *topk.Heap
	// Scored is the number of candidates the last search scored (in full
	// or until their bound fell to the k-th best score).
	Scored int
}

// NewScratch returns an empty Scratch.
func NewScratch() *Scratch { return &Scratch{heap: topk.New(10)} }

// Search returns the exact top k of q (highest inner product first, ties to
// the smaller id), appended to dst[:0]: the same documents and scores as
// term-at-a-time scoring of every posting (seismic.Exact), which adds the
// float32 products w·v in query order. Documents whose score is 0 are not
// returned. Only documents in filter are returned when filter is not nil.
// Query ids the index does not know, zero and non-finite weights are
// ignored. s may be nil (a pooled one is used). Search is safe for
// concurrent use with distinct scratches.
func (ix *Index) Search(q Vector, k int, filter *roaring.Bitmap, s *Scratch, dst []topk.Item) []topk.Item {
	dst = dst[:0]
	if k <= 0 || ix.n == 0 || ix.closed.Load() {
		return dst
	}
	pooled := s == nil
	if pooled {
		s, _ = ix.pool.Get().(*Scratch)
		if s == nil {
			s = NewScratch()
		}
	}
	dst = ix.search(q, k, filter, s, dst)
	if pooled {
		ix.pool.Put(s)
	}
	return dst
}

// SearchCounted is Search without a filter that also returns the number of
// candidates scored (Scratch.Scored), for benchmarks.
func (ix *Index) SearchCounted(q Vector, k int, dst []topk.Item) ([]topk.Item, int) {
	s, _ := ix.pool.Get().(*Scratch)
	if s == nil {
		s = NewScratch()
	}
	s.Scored = 0
	dst = ix.Search(q, k, nil, s, dst)
	n := s.Scored
	ix.pool.Put(s)
	return dst, n
}

// search is block-max MaxScore. Cursors are sorted by their list bound ub,
// ascending; the first ones, whose bounds add up to at most the k-th best
// score θ, are non-essential: a document that only they hold cannot enter
// the top k, so candidates come from the essential cursors only, in
// document order, and non-essential lists are only probed (seek) for a
// candidate while its bound can still beat θ. Block bounds sharpen this
// twice: a run of documents up to the nearest block end is skipped when
// the current blocks of all cursors cannot beat θ, and a candidate is
// skipped when the blocks that hold it cannot.
//
// Scores and exactness. The heap holds canonical scores: the float32 sum
// of the float32 products in query order, the arithmetic of term-at-a-time
// scoring. Bounds are computed in float64 and compared with θ with a
// margin that covers float32 rounding of the canonical sum (m terms: at
// most (m+1)·2^-24·Σ|w|·max|v|), so no document that would enter the heap
// is ever skipped. Documents come in ascending order, so a document whose
// score equals θ loses the tie to the heap's k-th (smaller id) and may be
// skipped.
func (ix *Index) search(q Vector, k int, filter *roaring.Bitmap, s *Scratch, dst []topk.Item) []topk.Item {
	s.cur = s.cur[:0]
	s.Scored = 0
	nq := min(len(q.Indices), len(q.Values))
	var mass float64
	for j := 0; j < nq; j++ {
		w := q.Values[j]
		if w == 0 || math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			continue
		}
		l, ok := ix.list(q.Indices[j])
		if !ok {
			continue
		}
		a, e := ix.listOff[l], ix.listOff[l+1]
		b0, b1 := ix.listBlk[l], ix.listBlk[l+1]
		c := cursor{
			docs: ix.docs[a:e], vals: ix.vals[a:e], last: ix.blkLast[b0:b1], bmax: ix.blkMax[b0:b1],
			w: w, qpos: int32(j), shift: ix.shift,
		}
		wf := float64(w)
		hi, lo := float64(ix.listMax[l]), float64(ix.listMin[l])
		if w > 0 {
			c.ub = max(wf*hi, 0)
			c.bs = wf * float64(ix.scale[l])
		} else {
			c.ub = max(wf*lo, 0)
			c.neg = true
		}
		mass += math.Abs(wf) * max(math.Abs(hi), math.Abs(lo))
		c.doc = c.docs[0]
		s.cur = append(s.cur, c)
	}
	m := len(s.cur)
	h := s.heap
	h.Reset(k)
	if m == 0 {
		return dst
	}
	margin := mass * float64(m+2) * 0x1p-23
	cur := s.cur
	// Sort by bound, ascending (insertion sort: queries are short); ties by
	// query position, so the order is deterministic.
	for i := 1; i < m; i++ {
		for j := i; j > 0 && (cur[j].ub < cur[j-1].ub || cur[j].ub == cur[j-1].ub && cur[j].qpos < cur[j-1].qpos); j-- {
			cur[j], cur[j-1] = cur[j-1], cur[j]
		}
	}
	s.pre = s.pre[:0]
	var acc float64
	for i := range cur {
		acc += cur[i].ub
		s.pre = append(s.pre, acc)
	}
	pre := s.pre
	if cap(s.nbb) < m {
		s.nbb = make([]float64, m)
	}
	nbb := s.nbb[:m]
	theta := math.Inf(-1)
	ess := 0 // cur[:ess] are non-essential
	for {
		// The next candidate: the smallest document of an essential list.
		d := uint32(end)
		for i := ess; i < m; i++ {
			d = min(d, cur[i].doc)
		}
		if d == end {
			break
		}
		// Bounds from blocks. Non-essential lists: the block that would
		// hold d. Essential lists: their current blocks (all of them bound
		// the run up to the nearest block end; those at d bound d alone).
		runEnd := uint32(end)
		var nonEss float64
		for i := range ess {
			c := &cur[i]
			if c.doc != end && c.shallow(d) {
				nbb[i] = c.blockBound()
				runEnd = min(runEnd, c.last[c.blk])
			} else {
				nbb[i] = 0
			}
			nonEss += nbb[i]
		}
		var run, at float64
		for i := ess; i < m; i++ {
			c := &cur[i]
			if c.doc == end {
				continue
			}
			bb := c.blockBound()
			run += bb
			runEnd = min(runEnd, c.last[c.blk])
			if c.doc == d {
				at += bb
			}
		}
		if nonEss+run+margin <= theta {
			// No document in [d, runEnd] can enter the top k.
			for i := ess; i < m; i++ {
				cur[i].seek(runEnd + 1)
			}
			continue
		}
		if nonEss+at+margin <= theta || filter != nil && !filter.Contains(d) {
			for i := ess; i < m; i++ {
				if cur[i].doc == d {
					cur[i].next()
				}
			}
			continue
		}
		// Score d: essential lists first, then the non-essential ones from
		// the largest bound down while d can still beat θ.
		s.Scored++
		parts := s.parts[:0]
		var sc float64
		for i := ess; i < m; i++ {
			c := &cur[i]
			if c.doc == d {
				v := c.vals[c.pos]
				sc += float64(c.w) * float64(v)
				parts = append(parts, part{c.qpos, float32(c.w * v)})
				c.next()
			}
		}
		rest := 0.0
		for i := range ess {
			rest += nbb[i]
		}
		pruned := false
		for i := ess - 1; i >= 0; i-- {
			if sc+rest+margin <= theta {
				pruned = true
				break
			}
			rest -= nbb[i]
			c := &cur[i]
			c.seek(d)
			if c.doc == d {
				v := c.vals[c.pos]
				sc += float64(c.w) * float64(v)
				parts = append(parts, part{c.qpos, float32(c.w * v)})
			}
		}
		s.parts = parts
		if pruned || sc+margin <= theta {
			continue
		}
		// The canonical score: products added in query order.
		for i := 1; i < len(parts); i++ {
			for j := i; j > 0 && parts[j].qpos < parts[j-1].qpos; j-- {
				parts[j], parts[j-1] = parts[j-1], parts[j]
			}
		}
		var f float32
		for _, p := range parts {
			f = f + p.p
		}
		if f == 0 || !h.Push(d, f) || !h.Full() {
			continue
		}
		theta = float64(h.Threshold())
		for ess < m && pre[ess]+margin <= theta {
			ess++
		}
		if ess == m {
			break
		}
	}
	return h.Sorted(dst)
}
