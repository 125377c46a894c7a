package blockmax

import (
	"math"
	"math/bits"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/topk"
)

// window is the largest number of document ids scored together (see
// search), and firstWindow the smallest (the first window's).
const (
	window      = 8192
	firstWindow = 512
)

// scanRatio is the number of window postings per candidate up to which a
// non-essential term is added to the candidates by a pass over its postings
// instead of a probe per candidate (a probe costs about as much as that
// many postings of a pass).
const scanRatio = 4

// exhaustiveBelow is the collection size up to which search scores every
// posting (in query order, into one window's accumulator) instead of
// pruning: on small collections most of the work happens before θ is
// known, and pruning costs more than it saves (SciFact, 5,183 documents:
// about 2× slower than exact-taat with pruning). At most window.
// Tests lower it to check the pruned path on small collections.
var exhaustiveBelow = window

// end marks an exhausted cursor.
const end = math.MaxUint32

// cursor walks one query term's posting list forwards.
type cursor struct {
	docs  []uint32  // the list's documents
	vals  []float32 // and values
	last  []uint32  // its blocks' last documents
	bmax  []uint8   // and value bounds (codes)
	w     float32   // query weight
	bs    float64   // w·scale: a block's bound is bs·code (w > 0)
	ub    float64   // bound of w·v over the whole list, >= 0
	wub   float64   // bound over the current window
	wblk  int       // blocks of the list in the current window
	wend  int       // the last block that may hold documents of the window
	neg   bool      // w < 0: block bounds do not apply, ub does
	pos   int       // current posting
	blk   int       // current block (>= the block of pos)
	shift uint32
}

// blockBound bounds w·v over block b.
func (c *cursor) blockBound(b int) float64 {
	if c.neg {
		return c.ub
	}
	return c.bs * float64(c.bmax[b])
}

// windowBound moves the block pointer to the first block that may hold a
// document >= lo and returns the bound of w·v over the documents in
// [lo, hi) (0 when the list has none there) and the number of blocks that
// may hold them. Block b holds documents in (last[b-1], last[b]].
func (c *cursor) windowBound(lo, hi uint32) (float64, int) {
	last := c.last
	c.blk = gallop(last, c.blk, lo)
	b := c.blk
	if b == len(last) || b > 0 && last[b-1]+1 >= hi {
		c.wend = b
		return 0, 0
	}
	e := min(gallop(last, b, hi-1), len(last)-1) // the last block that may hold documents < hi
	c.wend = e
	if c.neg {
		return c.ub, e - b + 1
	}
	var code uint8
	for _, v := range c.bmax[b : e+1] {
		code = max(code, v)
	}
	return c.bs * float64(code), e - b + 1
}

// gallop returns the first i >= from with last[i] >= x, or len(last).
func gallop(last []uint32, from int, x uint32) int {
	lo, hi, step := from, from, 1
	for hi < len(last) && last[hi] < x {
		lo = hi + 1
		hi += step
		step <<= 1
	}
	hi = min(hi, len(last))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if last[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// seek moves to the first posting >= d and returns it, or end.
func (c *cursor) seek(d uint32) uint32 {
	// Candidates are close together: count the next 16 postings below d
	// without branching on each (the list is sorted, so the count is the
	// offset of the first posting >= d).
	docs := c.docs
	if p := c.pos; p+16 <= len(docs) {
		next := docs[p : p+16 : p+16]
		n := 0
		for _, x := range next {
			n += int(b2u(x < d))
		}
		if n < 16 {
			c.pos = p + n
			return next[n]
		}
		c.pos = p + 16
	}
	for c.blk < len(c.last) && c.last[c.blk] < d {
		c.blk++
	}
	if c.blk >= len(c.last) {
		c.pos = len(c.docs)
		return end
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
	c.pos = lo
	return c.docs[lo]
}

// until returns the first posting at or after pos with a document >= hi,
// the current window's end (len(docs) when there is none).
func (c *cursor) until(hi uint32) int {
	b := c.wend // the last block that may hold documents < hi
	if b < len(c.last) && c.last[b] < hi {
		b++
	}
	if b >= len(c.last) {
		return len(c.docs)
	}
	lo, e := max(c.pos, b<<c.shift), min(len(c.docs), (b+1)<<c.shift)
	for lo < e {
		mid := int(uint(lo+e) >> 1)
		if c.docs[mid] < hi {
			lo = mid + 1
		} else {
			e = mid
		}
	}
	return lo
}

// lookup returns the value of document d in the list, without moving the
// cursor.
func (c *cursor) lookup(d uint32) (float32, bool) {
	// Gallop from the block pointer, then binary search.
	lo, step := 0, 1
	hi := lo
	for hi < len(c.last) && c.last[hi] < d {
		lo = hi + 1
		hi += step
		step <<= 1
	}
	hi = min(hi, len(c.last))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c.last[mid] < d {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	b := lo
	if b == len(c.last) {
		return 0, false
	}
	a, e := b<<c.shift, min(len(c.docs), (b+1)<<c.shift)
	for a < e {
		mid := int(uint(a+e) >> 1)
		if c.docs[mid] < d {
			a = mid + 1
		} else {
			e = mid
		}
	}
	if a < len(c.docs) && c.docs[a] == d {
		return c.vals[a], true
	}
	return 0, false
}

// scored is a document with its approximate score.
type scored struct {
	d uint32
	a float32
}

// Scratch is the per-query memory of Search. A Scratch serves one search at
// a time; Search takes one from the index's pool when given nil.
type Scratch struct {
	cur  []cursor // in query order
	ord  []int32  // cursors by window bound, ascending
	coll []scored // documents that may be in the top k
	acc  [window]float32
	hit  [window / 64]uint64
	heap *topk.Heap
	// Scored is the number of candidates the last search probed beyond
	// their essential lists (in full, or until their bound fell to the
	// k-th best score).
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
// candidates probed (Scratch.Scored), for benchmarks.
func (ix *Index) SearchCounted(q Vector, k int, dst []topk.Item) ([]topk.Item, int) {
	s, _ := ix.pool.Get().(*Scratch)
	if s == nil {
		s = NewScratch()
	}
	dst = ix.Search(q, k, nil, s, dst)
	n := s.Scored
	ix.pool.Put(s)
	return dst, n
}

// search is block-max MaxScore over windows of document ids (512 ids at
// first, doubling up to 8192, so that θ is set after few documents). In
// each window every term gets the bound of its blocks that overlap the
// window (0 when it has no posting there), and the terms are split by that
// bound: the smallest ones, whose bounds add up to less than cut (θ, the
// k-th best score so far, less a rounding margin), are non-essential, since
// a document only they hold cannot be in the top k. The essential terms'
// postings in the window are added term at a time into a dense float32
// accumulator, marking the documents they touch (the candidates). Then the
// non-essential terms with few postings in the window (at most scanRatio per
// candidate), largest bound first, are added the same way: a pass over a
// few postings costs less than a probe per candidate. Last, each candidate
// in id order is dropped as soon as its score plus the bounds of the terms
// not yet probed falls below cut, probing those terms (forward cursor
// seeks) from the largest bound down. A window where every term is
// non-essential is skipped whole.
//
// Scores and exactness. Accumulated scores are approximate: float32 sums
// in another order than exact-taat's. The margin bounds the difference
// (m terms: (m+2)·2^-22·Σ|w|·max|v|, more than float32 rounding of either
// order can make), and θ is the k-th best approximate score. Every document
// whose approximate score reaches cut is collected; the exact top k is
// among them, since its members score at least θ less the margin. At the
// end, the collected documents still at or above the final cut are scored
// canonically, as term-at-a-time scoring does (float32 products added in
// query order, by binary search in each list), and the top k taken from
// those scores, ties to the smaller id. A document whose approximate score
// is within the margin of 0 does not raise θ (its exact score may be 0,
// which is no result).
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
			w: w, shift: ix.shift,
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
		s.cur = append(s.cur, c)
	}
	m := len(s.cur)
	h := s.heap
	h.Reset(k)
	if m == 0 {
		return dst
	}
	if ix.n <= exhaustiveBelow {
		return ix.exhaustive(s, k, filter, dst)
	}
	margin := mass * float64(m+2) * 0x1p-22
	cur := s.cur
	if cap(s.ord) < m {
		s.ord = make([]int32, m)
	}
	ord := s.ord[:m]
	for i := range ord {
		ord[i] = int32(i)
	}
	acc, hit := &s.acc, &s.hit
	// θ is the k-th best approximate score; a document whose bound is
	// below cut cannot be in the exact top k.
	theta := math.Inf(-1)
	cut := theta
	s.coll = s.coll[:0]
	// Windows start small, so that θ is set after few documents (the first
	// window is scored in full), and double up to window.
	for lo, size := 0, firstWindow; lo < ix.n; lo, size = lo+size, min(2*size, window) {
		wlo, whi := uint32(lo), uint32(min(ix.n, lo+size))
		// Window bounds, and the terms sorted by them (insertion sort from
		// the previous window's order, which is usually close).
		for i := range cur {
			cur[i].wub, cur[i].wblk = cur[i].windowBound(wlo, whi)
		}
		for i := 1; i < m; i++ {
			for j := i; j > 0 && less(cur, ord[j], ord[j-1]); j-- {
				ord[j], ord[j-1] = ord[j-1], ord[j]
			}
		}
		ess, nonEss := 0, 0.0
		for ess < m && nonEss+cur[ord[ess]].wub < cut {
			nonEss += cur[ord[ess]].wub
			ess++
		}
		if ess == m {
			continue
		}
		// Essential terms, term at a time.
		for _, i := range ord[ess:] {
			c := &cur[i]
			if c.wub == 0 && !c.neg {
				continue
			}
			if c.seek(wlo) >= whi {
				continue
			}
			e := c.until(whi)
			docs, vals := c.docs[c.pos:e], c.vals[c.pos:e]
			vals = vals[:len(docs)]
			w := c.w
			for i, d := range docs {
				x := (d - wlo) & (window - 1)
				acc[x] += w * vals[i]
				hit[x>>6] |= 1 << (x & 63)
			}
			c.pos = e
		}
		// Non-essential terms with few postings here, compared with the
		// candidates, are cheaper to add to the candidates' scores in one
		// pass over their postings than by probing each candidate: from
		// the largest bound down, while a term's window postings are at
		// most scanRatio per candidate.
		cands := 0
		for _, w := range hit {
			cands += bits.OnesCount64(w)
		}
		probe := ess // cur[ord[:probe]] are probed
		// A scanned term adds to documents that are not candidates too;
		// their accumulators are cleared with the window.
		dirty := false
		for probe > 0 {
			c := &cur[ord[probe-1]]
			if c.wblk<<c.shift > scanRatio*cands {
				break
			}
			probe--
			nonEss -= c.wub
			if c.wub == 0 && !c.neg || c.seek(wlo) >= whi {
				continue
			}
			e := c.until(whi)
			docs, vals := c.docs[c.pos:e], c.vals[c.pos:e]
			vals = vals[:len(docs)]
			w := c.w
			for i, d := range docs {
				acc[(d-wlo)&(window-1)] += w * vals[i]
			}
			dirty = true
			c.pos = e
		}
		nonEss = 0
		for _, i := range ord[:probe] {
			nonEss += cur[i].wub
		}
		ess = probe
		// Candidates, in id order.
		for wi := range hit {
			for word := hit[wi]; word != 0; word &= word - 1 {
				x := wi<<6 | bits.TrailingZeros64(word)
				sc := float64(acc[x])
				acc[x] = 0
				if sc+nonEss < cut {
					continue
				}
				d := wlo + uint32(x)
				if filter != nil && !filter.Contains(d) {
					continue
				}
				s.Scored++
				rest := nonEss
				for j := ess - 1; j >= 0 && sc+rest >= cut; j-- {
					c := &cur[ord[j]]
					rest -= c.wub
					if c.wub == 0 && !c.neg {
						continue
					}
					if c.seek(d) == d {
						sc += float64(c.w) * float64(c.vals[c.pos])
					}
				}
				if sc+rest < cut {
					continue
				}
				a := float32(sc)
				s.coll = append(s.coll, scored{d, a})
				// A document whose approximate score is within the margin
				// of 0 may score exactly 0, which is no result: it must
				// not raise θ.
				if math.Abs(float64(a)) > margin && h.Push(d, a) && h.Full() {
					theta = float64(h.Threshold())
					cut = theta - 2*margin
				}
			}
			hit[wi] = 0
		}
		if dirty {
			clear(acc[:whi-wlo])
		}
	}
	// The exact top k is among the documents collected with an
	// approximate score of at least cut: score them canonically.
	h.Reset(k)
	for _, c := range s.coll {
		if float64(c.a) >= cut {
			if f := canonical(cur, c.d); f != 0 {
				h.Push(c.d, f)
			}
		}
	}
	return h.Sorted(dst)
}

// less orders cursors by window bound, then by query position.
func less(cur []cursor, a, b int32) bool {
	if cur[a].wub != cur[b].wub {
		return cur[a].wub < cur[b].wub
	}
	return a < b
}

// canonical returns d's score as term-at-a-time scoring computes it: the
// float32 products added in query order. The conversion rounds each
// product, so no platform fuses it into a multiply-add.
func canonical(cur []cursor, d uint32) float32 {
	var f float32
	for i := range cur {
		c := &cur[i]
		if v, ok := c.lookup(d); ok {
			f += float32(c.w * v)
		}
	}
	return f
}

// b2u converts a bool to 0 or 1 without a branch.
func b2u(b bool) uint8 {
	return *(*uint8)(unsafe.Pointer(&b))
}

// exhaustive scores every posting of the query's lists into the dense
// accumulator, each term in query order, so the float32 scores are the
// canonical ones. The collection fits one window (ix.n <= window).
func (ix *Index) exhaustive(s *Scratch, k int, filter *roaring.Bitmap, dst []topk.Item) []topk.Item {
	h := s.heap
	acc := s.acc[:ix.n]
	for i := range s.cur {
		c := &s.cur[i]
		vals := c.vals[:len(c.docs)]
		w := c.w
		for p, d := range c.docs {
			acc[d] += float32(w * vals[p])
		}
	}
	for x, f := range acc {
		if f == 0 {
			continue
		}
		acc[x] = 0
		if (!h.Full() || f >= h.Min()) && (filter == nil || filter.Contains(uint32(x))) {
			s.Scored++
			h.Push(uint32(x), f)
		}
	}
	return h.Sorted(dst)
}
