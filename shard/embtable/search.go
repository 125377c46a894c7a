package embtable

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/kmeans"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
)

// scratch is the per-query state of Search, pooled per table.
type scratch struct {
	q       []float32 // the query, normalised for cosine
	lut     []float32 // PQ: ADC tables, codeLen×256
	sqA     []float32 // SQ: query·step (IP) or query−min (L2), zero-padded
	sqSteps []float32 // SQ: steps, zero-padded to sqA's length
	qw      []uint64  // binary: query bits; RaBitQ: four bit planes
	qrot    []float32 // RaBitQ: rotated query
	qres    []float32 // RaBitQ: rotated residual from the current list
	cdist   []float32 // IVF: distance to each centroid
	probes  []int32   // IVF: lists to scan
	cand    heap
	final   heap
	items   []topk.Item

	// RaBitQ constants of the current list.
	vl, delta, constTerm, nQC, cq float32
	// SQ: Σ query·min (IP).
	sqConst float32
	// rescored counts the candidates the last search re-scored (for tests).
	rescored int
}

func (t *Table) getScratch() *scratch {
	if s, ok := t.pool.Get().(*scratch); ok {
		return s
	}
	s := &scratch{q: make([]float32, t.dim)}
	switch t.codec {
	case SQ8, SQ4:
		width := t.dim
		if t.codec == SQ4 {
			width = 2 * t.codeLen
		}
		s.sqA = make([]float32, width)
		s.sqSteps = make([]float32, width)
		copy(s.sqSteps, t.steps)
	case PQ:
		s.lut = make([]float32, t.codeLen*256)
	case Binary:
		s.qw = make([]uint64, t.codeLen)
	case RaBitQ:
		s.qw = make([]uint64, 4*t.codeLen)
		s.qrot = make([]float32, t.rdim)
		s.qres = make([]float32, t.rdim)
	}
	if t.nlist > 0 {
		s.cdist = make([]float32, t.nlist)
	}
	return s
}

// Search returns the k best rows for the query q appended to dst, best first.
// Scores are higher-is-better: the inner product, the cosine, or the negated
// squared L2 distance; without rescoring they are the codec's estimates
// (for Binary, the negated Hamming distance). filter, when not nil, holds the
// rows that may be returned. A query of the wrong dimension or k < 1 returns
// dst unchanged. Search is safe for concurrent use and does not allocate once
// its pooled scratch has grown.
func (t *Table) Search(q []float32, k int, p SearchParams, filter *roaring.Bitmap, dst []topk.Item) []topk.Item {
	if len(q) != t.dim || k < 1 || t.n == 0 {
		return dst
	}
	s := t.getScratch()
	defer t.pool.Put(s)
	copy(s.q, q)
	if t.metric == Cosine {
		vecmath.Normalize(s.q)
	}
	t.prepare(s)
	rescore := p.Rescore && t.RescorePrecision() != NoRescore
	nc := k
	if rescore && p.Oversample > 1 {
		nc = k * p.Oversample
	}
	s.cand.reset(nc)
	bound := rescore && t.codec == RaBitQ
	if t.nlist == 0 {
		t.scan(s, 0, t.n, 0, filter, bound)
	} else {
		nprobe := p.NProbe
		if nprobe <= 0 {
			nprobe = 16
		}
		km := kmeans.L2
		if t.innerIP() {
			km = kmeans.IP
		}
		s.probes = kmeans.NearestN(s.q, t.cents, km, nprobe, s.cdist, s.probes)
		for _, l := range s.probes {
			t.scan(s, int(t.offsets[l]), int(t.offsets[l+1]), int(l), filter, bound)
		}
	}
	if !rescore {
		return s.cand.sorted(dst)
	}
	return t.rescoreCandidates(s, k, bound, dst)
}

// rescoreCandidates re-scores s.cand from the rescoring copy and appends the
// best k to dst. With bound set the candidates are ranked by their upper
// bound, and it stops at the first one that cannot beat the k-th exact score.
func (t *Table) rescoreCandidates(s *scratch, k int, bound bool, dst []topk.Item) []topk.Item {
	s.items = s.cand.sorted(s.items[:0])
	s.final.reset(k)
	s.rescored = 0
	for _, it := range s.items {
		// With RaBitQ the candidates come in order of their upper bound:
		// once it falls below the k-th exact score, no later one can enter.
		if bound && s.final.full() && it.Score < s.final.threshold() {
			break
		}
		s.final.push(it.ID, t.exact(s.q, it.ID))
		s.rescored++
	}
	return s.final.sorted(dst)
}

// prepare builds the per-query state of the codec: ADC tables, query bits,
// or the rotated query.
func (t *Table) prepare(s *scratch) {
	q, dim := s.q, t.dim
	ip := t.innerIP()
	switch t.codec {
	case SQ8, SQ4:
		// IP: score = Σ q·min + Σ (q·step)·level. L2: score =
		// −Σ ((q − min) − step·level)². Padding entries stay zero.
		s.sqConst = 0
		for j := 0; j < dim; j++ {
			if ip {
				s.sqA[j] = q[j] * t.steps[j]
				s.sqConst += q[j] * t.mins[j]
			} else {
				s.sqA[j] = q[j] - t.mins[j]
			}
		}
	case PQ:
		for j := 0; j < t.codeLen; j++ {
			lo, hi := int(t.pqSplit[j]), int(t.pqSplit[j+1])
			subScores(q[lo:hi], t.pqBook[256*lo:256*hi], ip, s.lut[j<<8:(j+1)<<8])
		}
	case Binary:
		clear(s.qw)
		for i, v := range q {
			if v > t.center[i] {
				s.qw[i>>6] |= 1 << (i & 63)
			}
		}
	case RaBitQ:
		clear(s.qres)
		copy(s.qres, q)
		rotate(t.rot, s.qres, s.qrot)
		if t.nlist == 0 {
			t.prepareList(s, 0)
		}
	}
}

// prepareList centres the rotated query on list l's centroid, normalises it
// and quantizes it to four bits per dimension as bit planes.
func (t *Table) prepareList(s *scratch, l int) {
	rd := t.rdim
	rc := t.rcent[l*rd : (l+1)*rd]
	res := s.qres
	vl, vr := float32(math.Inf(1)), float32(math.Inf(-1))
	for i := range res {
		res[i] = s.qrot[i] - rc[i]
	}
	s.nQC = vecmath.Norm(res)
	if t.metric == IP {
		s.cq = vecmath.Dot(rc, s.qrot)
	}
	inv := float32(0)
	if s.nQC > 0 {
		inv = 1 / s.nQC
	}
	for i := range res {
		res[i] *= inv
		vl = min(vl, res[i])
		vr = max(vr, res[i])
	}
	delta := (vr - vl) / 15
	w := t.codeLen
	clear(s.qw)
	sumU := 0
	for i, v := range res {
		u := 0
		if delta > 0 {
			u = int((v-vl)/delta + 0.5)
			u = max(0, min(15, u))
		}
		sumU += u
		for b := 0; b < 4; b++ {
			if u&(1<<b) != 0 {
				s.qw[b*w+i>>6] |= 1 << (i & 63)
			}
		}
	}
	s.vl, s.delta = vl, delta
	s.constTerm = vl*float32(rd) + delta*float32(sumU)
}

// scan scores positions [lo, hi) of list l into s.cand. With bound set,
// RaBitQ candidates are ranked by the upper bound of their score.
func (t *Table) scan(s *scratch, lo, hi, l int, filter *roaring.Bitmap, bound bool) {
	if lo >= hi {
		return
	}
	if t.codec == RaBitQ && t.nlist > 0 {
		t.prepareList(s, l)
	}
	ip := t.innerIP()
	cl := t.codeLen
	h := &s.cand
	switch t.codec {
	case F32:
		for pos := lo; pos < hi; pos++ {
			id := t.rowAt(pos)
			if filter != nil && !filter.Contains(id) {
				continue
			}
			v := t.f32[pos*cl : (pos+1)*cl]
			if ip {
				h.offer(id, vecmath.Dot(s.q, v))
			} else {
				h.offer(id, -vecmath.L2Sq(s.q, v))
			}
		}
	case F16:
		tab := f16Lookup()
		for pos := lo; pos < hi; pos++ {
			id := t.rowAt(pos)
			if filter != nil && !filter.Contains(id) {
				continue
			}
			v := t.f16[pos*cl : (pos+1)*cl]
			if ip {
				h.offer(id, dotF16(tab, s.q, v))
			} else {
				h.offer(id, -l2F16(tab, s.q, v))
			}
		}
	case SQ8:
		a, st, c0 := s.sqA, s.sqSteps, s.sqConst
		for pos := lo; pos < hi; pos++ {
			id := t.rowAt(pos)
			if filter != nil && !filter.Contains(id) {
				continue
			}
			code := t.codes8[pos*cl : (pos+1)*cl]
			if ip {
				h.offer(id, c0+sq8Dot(a, code))
			} else {
				h.offer(id, -sq8L2(a, st, code))
			}
		}
	case SQ4:
		a, st, c0 := s.sqA, s.sqSteps, s.sqConst
		for pos := lo; pos < hi; pos++ {
			id := t.rowAt(pos)
			if filter != nil && !filter.Contains(id) {
				continue
			}
			code := t.codes8[pos*cl : (pos+1)*cl]
			if ip {
				h.offer(id, c0+sq4Dot(a, code))
			} else {
				h.offer(id, -sq4L2(a, st, code))
			}
		}
	case PQ:
		lut := s.lut
		for pos := lo; pos < hi; pos++ {
			id := t.rowAt(pos)
			if filter != nil && !filter.Contains(id) {
				continue
			}
			h.offer(id, lutScore(lut, t.codes8[pos*cl:(pos+1)*cl]))
		}
	case Binary:
		for pos := lo; pos < hi; pos++ {
			id := t.rowAt(pos)
			if filter != nil && !filter.Contains(id) {
				continue
			}
			h.offer(id, -float32(hamming(s.qw, t.words[pos*cl:(pos+1)*cl])))
		}
	case RaBitQ:
		t.scanRaBitQ(s, lo, hi, filter, bound)
	}
}

// scanRaBitQ scores RaBitQ codes with the unbiased estimator; with bound set
// it pushes the upper end of the error bound instead of the estimate.
func (t *Table) scanRaBitQ(s *scratch, lo, hi int, filter *roaring.Bitmap, bound bool) {
	cl, st := t.codeLen, t.auxStride
	rd := float32(t.rdim)
	invSqrtD := 1 / float32(math.Sqrt(float64(t.rdim)))
	errScale := float32(rabitqEps / math.Sqrt(float64(t.rdim-1)))
	vl, delta, constTerm, nQC, cq := s.vl, s.delta, s.constTerm, s.nQC, s.cq
	// The 4-bit query rounding adds error to ⟨x̄, q'⟩: each of the D terms
	// is off by at most Δ/2, roughly uniformly, so the sum (scaled by 1/√D)
	// has a standard deviation of Δ/√12; three of them are added to the
	// paper's bound, which assumes an exact query.
	qerr := 3 * delta / float32(math.Sqrt(12))
	widest := t.maxErr*errScale + qerr*t.maxInvIPF
	_ = rd
	h := &s.cand
	for pos := lo; pos < hi; pos++ {
		id := t.rowAt(pos)
		if filter != nil && !filter.Contains(id) {
			continue
		}
		dot, ones := rabitqDot(t.words[pos*cl:(pos+1)*cl], s.qw)
		xq := (2*(vl*float32(ones)+delta*float32(dot)) - constTerm) * invSqrtD
		a := t.aux[pos*st : (pos+1)*st]
		nOC, ipf := a[0], a[1]
		est := xq / ipf
		prod := nOC * nQC
		var score, spread float32
		switch t.metric {
		case IP:
			score = prod*est + a[2] + cq
			spread = prod
		case Cosine:
			score = 1 - (nOC*nOC+nQC*nQC-2*prod*est)/2
			spread = prod
		default:
			score = -(nOC*nOC + nQC*nQC - 2*prod*est)
			spread = 2 * prod
		}
		if bound {
			// Skip the square root when even the table's widest bound
			// cannot lift this row into the candidates.
			if h.full() && score+spread*widest < h.threshold() {
				continue
			}
			e := (float32(math.Sqrt(float64(max(0, 1-ipf*ipf))))*errScale + qerr) / ipf
			score += spread * e
		}
		h.offer(id, score)
	}
}
