package seismic

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shoal-search/shoal/internal/vecmath"
)

// Build builds an index over docs, whose row numbers become document ids.
// It uses cfg.Workers goroutines (all cores by default) and is deterministic:
// the same input, configuration and seed give the same index, whatever the
// number of workers. docs is not retained.
func Build(docs Forward, cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dim, err := docs.validate()
	if err != nil {
		return nil, err
	}
	if docs.Len() >= math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d documents exceed the uint32 id space", ErrInput, docs.Len())
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	half := cfg.Values == ValueF16 && fitsHalf(docs.Values)
	ix := &Index{n: docs.Len(), dim: dim, cfg: cfg, half: half}
	ix.buildForward(docs, workers)
	b := &builder{ix: ix, cfg: cfg, workers: workers}
	b.prune(docs)
	b.alpha = cfg.Alpha
	if cfg.Pruning == PruneMass {
		b.alpha = ix.adapt.Alpha
	} else if b.alpha == 0 {
		b.alpha = autoAlpha(1) // fixed pruning rules without an alpha: keep most of the mass
	}
	b.docTops()
	b.blockLists()
	if cfg.Reorder {
		b.reorder()
	}
	if cfg.KNN > 0 && cfg.KNNBlocks > 0 {
		b.buildKNNBlocks(cfg.KNN, cfg.KNNBlocks)
	}
	b.dcT, b.dcV = nil, nil
	if cfg.KNN > 0 && cfg.KNNBlocks == 0 {
		ix.buildKNN(cfg.KNN, cfg.KNNParams, workers)
	}
	if cfg.Calibrate {
		cs := b.sample
		if cs == nil {
			// Fixed pruning rules draw the sample now (positions are
			// already reordered: the truth is mapped back to rows).
			cs = ix.sample(cfg.CalibrationQueries, calibrationK, workers, cfg.Seed, ix.postingNeighbour)
			if cs != nil && ix.perm != nil {
				for _, tr := range cs.truth {
					for j := range tr {
						tr[j].ID = ix.perm[tr[j].ID]
					}
				}
			}
		}
		ix.calib = ix.calibrate(cs, calibrationK)
	}
	return ix, nil
}

// fitsHalf reports whether every value is within the finite half-float
// range; larger magnitudes would become infinities, so such collections keep
// float32 values.
func fitsHalf(vs []float32) bool {
	for _, v := range vs {
		if v > 65504 || v < -65504 {
			return false
		}
	}
	return true
}

// parallel runs fn(lo, hi) over [0, n) split into chunk-sized ranges handed
// out to workers in order.
func parallel(n, chunk, workers int, fn func(w, lo, hi int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(w, lo, min(n, lo+chunk))
			}
		}()
	}
	wg.Wait()
}

// buildForward stores the forward index with compact term ids.
func (ix *Index) buildForward(docs Forward, workers int) {
	n := docs.Len()
	ix.fOff = make([]uint64, n+1)
	for i := 0; i < n; i++ {
		ix.fOff[i+1] = uint64(docs.Offsets[i+1])
	}
	nnz := len(docs.Indices)
	var rank func(t uint32) uint32
	if ix.dim <= 1<<16 {
		ix.m = ix.dim
	} else {
		ix.termMap = usedTerms(docs.Indices, ix.dim)
		ix.m = uint32(len(ix.termMap))
		tm := ix.termMap
		rank = func(t uint32) uint32 {
			i, _ := slices.BinarySearch(tm, t)
			return uint32(i)
		}
	}
	ix.wide = ix.m > 1<<16
	switch {
	case ix.packed():
		ix.fP = make([]uint32, nnz)
		adviseHuge(ix.fP)
	case ix.wide:
		ix.fT32 = make([]uint32, nnz)
		adviseHuge(ix.fT32)
	default:
		ix.fT16 = make([]uint16, nnz)
		adviseHuge(ix.fT16)
	}
	switch {
	case ix.packed():
	case ix.half:
		ix.fV16 = make([]uint16, nnz)
		adviseHuge(ix.fV16)
	default:
		ix.fV32 = make([]float32, nnz)
		adviseHuge(ix.fV32)
	}
	parallel(nnz, 1<<16, workers, func(_, lo, hi int) {
		for j := lo; j < hi; j++ {
			t := docs.Indices[j]
			if rank != nil {
				t = rank(t)
			}
			if ix.packed() {
				ix.fP[j] = t | uint32(vecmath.ToF16(docs.Values[j]))<<16
				continue
			}
			if ix.wide {
				ix.fT32[j] = t
			} else {
				ix.fT16[j] = uint16(t)
			}
			if ix.half {
				ix.fV16[j] = uint16(vecmath.ToF16(docs.Values[j]))
			} else {
				ix.fV32[j] = docs.Values[j]
			}
		}
	})
}

// usedTerms returns the distinct ids of idx, ascending.
func usedTerms(idx []uint32, dim uint32) []uint32 {
	if dim <= 1<<28 {
		set := make([]uint64, (uint64(dim)+63)/64)
		for _, t := range idx {
			set[t>>6] |= 1 << (t & 63)
		}
		var out []uint32
		for w, x := range set {
			for x != 0 {
				out = append(out, uint32(w*64+bits.TrailingZeros64(x)))
				x &= x - 1
			}
		}
		return out
	}
	out := slices.Clone(idx)
	slices.Sort(out)
	return slices.Compact(out)
}

// builder holds the transient state of a build.
type builder struct {
	ix      *Index
	cfg     Config
	workers int
	alpha   float64      // summary mass share: cfg.Alpha, or derived
	sample  *calibSample // pseudo-queries drawn before pruning (PruneMass)
	sumCap  int          // summary entries per block at most (0: no bound)

	listOff []uint64 // pruned list t is pdocs[listOff[t]:listOff[t+1]]
	pdocs   []uint32

	dcT []uint32 // top DocCut compact terms per document (noTerm padded)
	dcV []float32
}

const noTerm = math.MaxUint32

// row returns document d's compact terms and values in the given buffers.
func (ix *Index) row(d uint32, ts []uint32, vs []float32) ([]uint32, []float32) {
	ts, vs = ts[:0], vs[:0]
	ix.forEachComponent(d, func(t uint32, v float32) {
		ts = append(ts, t)
		vs = append(vs, v)
	})
	return ts, vs
}

// value returns forward entry j's value.
func (ix *Index) value(j uint64) float32 {
	switch {
	case ix.packed():
		return f16(ix.fP[j] >> 16)
	case ix.half:
		return f16(uint32(ix.fV16[j]))
	}
	return ix.fV32[j]
}

// term returns forward entry j's compact term.
func (ix *Index) term(j uint64) uint32 {
	switch {
	case ix.packed():
		return ix.fP[j] & 0xffff
	case ix.wide:
		return ix.fT32[j]
	}
	return uint32(ix.fT16[j])
}

// prune applies static pruning and fills listOff and pdocs, each list in
// ascending document order.
func (b *builder) prune(docs Forward) {
	ix, cfg := b.ix, b.cfg
	n, m, nnz := ix.n, int(ix.m), len(docs.Values)
	// Document frequency per compact term, counting positive entries only.
	used := 0
	{
		df := b.countPerTerm(func(j uint64) bool { return ix.value(j) > 0 })
		for _, c := range df {
			if c > 0 {
				used++
			}
		}
	}
	np := cfg.NPostings
	if np == 0 {
		np = max(16, int(math.Round(cfg.AutoKeep*float64(nnz)/float64(max(used, 1)))))
	}
	capLen := np
	thr := uint32(1) // smallest positive float bits: keep every positive entry
	if cfg.Pruning == PruneGlobal {
		capLen = int(math.Ceil(cfg.MaxFraction * float64(np)))
		thr = b.globalThreshold(uint64(np) * uint64(used))
	}
	keep := func(j uint64) bool {
		v := ix.value(j)
		return v > 0 && math.Float32bits(v) >= thr
	}
	// Per-worker counts over contiguous document ranges, so every list comes
	// out in document order without a sort.
	nw := b.workers
	span := (n + nw - 1) / max(nw, 1)
	counts := make([][]uint64, nw)
	var wg sync.WaitGroup
	for w := range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]uint64, m)
			lo, hi := min(n, w*span), min(n, (w+1)*span)
			for j := ix.fOff[lo]; j < ix.fOff[hi]; j++ {
				if keep(j) {
					c[ix.term(j)]++
				}
			}
			counts[w] = c
		}()
	}
	wg.Wait()
	b.listOff = make([]uint64, m+1)
	for t := 0; t < m; t++ {
		s := b.listOff[t]
		for w := range nw {
			c := counts[w][t]
			counts[w][t] = s // becomes worker w's write position in list t
			s += c
		}
		b.listOff[t+1] = s
	}
	total := b.listOff[m]
	b.pdocs = make([]uint32, total)
	pvals := make([]float32, total)
	for w := range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos := counts[w]
			lo, hi := min(n, w*span), min(n, (w+1)*span)
			for d := lo; d < hi; d++ {
				for j := ix.fOff[d]; j < ix.fOff[d+1]; j++ {
					if keep(j) {
						t := ix.term(j)
						b.pdocs[pos[t]] = uint32(d)
						pvals[pos[t]] = ix.value(j)
						pos[t]++
					}
				}
			}
		}()
	}
	wg.Wait()
	counts = nil
	// Cap each list at its capLen largest values (PruneMass: at its
	// mass-share cut), kept in document order.
	newLen := make([]uint64, m)
	mass := cfg.Pruning == PruneMass
	var flat []float64
	var orig []uint64 // list lengths before the cut
	if mass {
		flat = make([]float64, m)
		orig = make([]uint64, m)
		ix.listMax = make([]float32, m)
	}
	floor := cfg.MinPostings
	if floor == 0 {
		floor = autoMinPostings(n)
	}
	var docThr []float32
	strength := 0.0
	if mass {
		docThr = b.docGuards()
		parallel(m, 64, nw, func(_, lo, hi int) {
			for t := lo; t < hi; t++ {
				a, e := b.listOff[t], b.listOff[t+1]
				if e > a {
					orig[t] = e - a
					flat[t] = flatness(pvals[a:e])
					ix.listMax[t] = slices.Max(pvals[a:e])
				}
			}
		})
		// Length-weighted mean flatness, summed in list order so that it
		// does not depend on the number of workers.
		var fs, ls float64
		for t := 0; t < m; t++ {
			if c := float64(orig[t]); c > 0 {
				fs += flat[t] * c
				ls += c
			}
		}
		ix.adapt.Flatness = 1
		if ls > 0 {
			ix.adapt.Flatness = fs / ls
		}
		// Pseudo-queries over the unpruned lists, scored exactly: they pick
		// the pruning strength, and later calibrate the search.
		b.sample = ix.sample(max(cfg.CalibrationQueries, minStrengthQueries), calibrationK, nw, cfg.Seed,
			func(t uint32, r *rand.Rand) (uint32, bool) {
				a, e := b.listOff[t], b.listOff[t+1]
				if e == a {
					return 0, false
				}
				return b.pdocs[a+uint64(r.IntN(int(e-a)))], true
			})
		strength = b.pruneStrength(pvals, flat, docThr, floor)
		ix.adapt.Strength = strength
	}
	parallel(m, 64, nw, func(_, lo, hi int) {
		var tmp []postingVal
		var tv []termVal
		for t := lo; t < hi; t++ {
			a, e := b.listOff[t], b.listOff[t+1]
			l := e - a
			if mass && l > 0 {
				if l <= uint64(floor) || massShare(flat[t], strength) >= 1 {
					newLen[t] = l
					continue
				}
				// The largest postings holding the list's mass share
				// (massCut orders ties by document), at least floor.
				tv = tv[:0]
				var total float64
				for j := a; j < e; j++ {
					tv = append(tv, termVal{b.pdocs[j], pvals[j]})
					total += float64(pvals[j])
				}
				k := massCut(tv, float32(massShare(flat[t], strength)*total))
				if k < floor {
					slices.SortFunc(tv, byValueDesc)
					k = floor
				}
				// Every document stays in the lists of its heaviest
				// components.
				for j := k; j < len(tv); j++ {
					if tv[j].v >= docThr[tv[j].t] {
						tv[k], tv[j] = tv[j], tv[k]
						k++
					}
				}
				kept := tv[:k]
				slices.SortFunc(kept, func(x, y termVal) int { return int(x.t) - int(y.t) })
				for i, p := range kept {
					b.pdocs[a+uint64(i)] = p.t
				}
				newLen[t] = uint64(k)
				continue
			}
			if l <= uint64(capLen) {
				newLen[t] = l
				continue
			}
			tmp = tmp[:0]
			for j := a; j < e; j++ {
				tmp = append(tmp, postingVal{b.pdocs[j], pvals[j]})
			}
			slices.SortFunc(tmp, func(x, y postingVal) int {
				if x.v != y.v {
					if x.v > y.v {
						return -1
					}
					return 1
				}
				return int(x.d) - int(y.d)
			})
			tmp = tmp[:capLen]
			slices.SortFunc(tmp, func(x, y postingVal) int { return int(x.d) - int(y.d) })
			for i, p := range tmp {
				b.pdocs[a+uint64(i)] = p.d
			}
			newLen[t] = uint64(capLen)
		}
	})
	// Compact the lists toward the front (destinations never pass sources).
	var at uint64
	for t := 0; t < m; t++ {
		a := b.listOff[t]
		copy(b.pdocs[at:at+newLen[t]], b.pdocs[a:a+newLen[t]])
		b.listOff[t] = at
		at += newLen[t]
	}
	b.listOff[m] = at
	if mass {
		ad := &ix.adapt
		var ls float64
		for t := 0; t < m; t++ {
			ls += float64(orig[t])
		}
		if ls > 0 {
			ad.KeptShare = float64(at) / ls
		}
		ad.MinPostings = floor
		ad.Alpha = b.cfg.Alpha
		if ad.Alpha == 0 {
			ad.Alpha = autoAlpha(ad.Flatness)
		}
	}
	b.pdocs = slices.Clip(b.pdocs[:at])
	if at < total/2 {
		b.pdocs = slices.Clone(b.pdocs)
	}
}

// docGuards returns, per document, the value of its g-th largest positive
// component (g from docGuardCount): adaptive pruning keeps every posting
// at or above it, so that each document stays reachable through the lists
// of its heaviest components.
func (b *builder) docGuards() []float32 {
	ix := b.ix
	thr := make([]float32, ix.n)
	parallel(ix.n, 1024, b.workers, func(_, lo, hi int) {
		var vs []float32
		for d := lo; d < hi; d++ {
			vs = vs[:0]
			for j := ix.fOff[d]; j < ix.fOff[d+1]; j++ {
				if v := ix.value(j); v > 0 {
					vs = append(vs, v)
				}
			}
			if len(vs) == 0 {
				thr[d] = float32(math.Inf(1))
				continue
			}
			g := docGuardCount(len(vs))
			slices.SortFunc(vs, func(x, y float32) int {
				switch {
				case x > y:
					return -1
				case x < y:
					return 1
				}
				return 0
			})
			thr[d] = vs[g-1]
		}
	})
	return thr
}

type postingVal struct {
	d uint32
	v float32
}

// countPerTerm counts, per compact term, the forward entries accepted by ok.
func (b *builder) countPerTerm(ok func(j uint64) bool) []uint64 {
	ix := b.ix
	nnz := len(ix.fOff) - 1
	_ = nnz
	total := int(ix.fOff[ix.n])
	parts := make([][]uint64, b.workers)
	parallel(total, 1<<18, b.workers, func(w, lo, hi int) {
		if parts[w] == nil {
			parts[w] = make([]uint64, ix.m)
		}
		c := parts[w]
		for j := uint64(lo); j < uint64(hi); j++ {
			if ok(j) {
				c[ix.term(j)]++
			}
		}
	})
	out := make([]uint64, ix.m)
	for _, p := range parts {
		for t, c := range p {
			out[t] += c
		}
	}
	return out
}

// globalThreshold returns the float32 bit pattern of the budget-th largest
// positive value (positive float32 bit patterns order like the values), by
// a two-pass radix select. Every positive entry is kept when the budget
// covers them all.
func (b *builder) globalThreshold(budget uint64) uint32 {
	ix := b.ix
	total := int(ix.fOff[ix.n])
	hist := func(match func(bits uint32) (int, bool)) []uint64 {
		parts := make([][]uint64, b.workers)
		parallel(total, 1<<18, b.workers, func(w, lo, hi int) {
			if parts[w] == nil {
				parts[w] = make([]uint64, 1<<16)
			}
			h := parts[w]
			for j := uint64(lo); j < uint64(hi); j++ {
				v := ix.value(j)
				if v <= 0 {
					continue
				}
				if k, ok := match(math.Float32bits(v)); ok {
					h[k]++
				}
			}
		})
		out := make([]uint64, 1<<16)
		for _, p := range parts {
			for k, c := range p {
				out[k] += c
			}
		}
		return out
	}
	h1 := hist(func(x uint32) (int, bool) { return int(x >> 16), true })
	var acc uint64
	hiBucket := -1
	for k := 1<<16 - 1; k >= 0; k-- {
		if acc+h1[k] >= budget {
			hiBucket = k
			break
		}
		acc += h1[k]
	}
	if hiBucket < 0 {
		return 1
	}
	h2 := hist(func(x uint32) (int, bool) { return int(x & 0xffff), int(x>>16) == hiBucket })
	for k := 1<<16 - 1; k >= 0; k-- {
		acc += h2[k]
		if acc >= budget {
			return uint32(hiBucket)<<16 | uint32(k)
		}
	}
	return uint32(hiBucket) << 16
}

// docTops stores each document's DocCut largest components.
func (b *builder) docTops() {
	ix, dc := b.ix, b.cfg.DocCut
	b.dcT = make([]uint32, ix.n*dc)
	b.dcV = make([]float32, ix.n*dc)
	parallel(ix.n, 1024, b.workers, func(_, lo, hi int) {
		for d := lo; d < hi; d++ {
			ts, vs := b.dcT[d*dc:(d+1)*dc], b.dcV[d*dc:(d+1)*dc]
			for k := range ts {
				ts[k], vs[k] = noTerm, 0
			}
			cnt := 0
			for j := ix.fOff[d]; j < ix.fOff[d+1]; j++ {
				v := ix.value(j)
				if cnt == dc && v <= vs[dc-1] {
					continue
				}
				// Insertion into the descending top list.
				k := min(cnt, dc-1)
				for k > 0 && vs[k-1] < v {
					ts[k], vs[k] = ts[k-1], vs[k-1]
					k--
				}
				ts[k], vs[k] = ix.term(j), v
				cnt = min(cnt+1, dc)
			}
		}
	})
}

// listResult is what blocking produces for one list.
type listResult struct {
	sizes  []uint32 // documents per block
	sumLen []uint32 // summary entries per block
	sumT   []uint32
	sumC   []uint8
	sumMin []float32
	sumSc  []float32
}

// blockLists clusters every pruned list into blocks, computes the block
// summaries and assembles the final inverted index.
func (b *builder) blockLists() {
	ix := b.ix
	m := int(ix.m)
	if b.cfg.Pruning == PruneMass {
		// Summary budget: summaryBudget entries per forward entry over all
		// blocks, shared evenly.
		var blocks int
		for t := 0; t < m; t++ {
			if L := int(b.listOff[t+1] - b.listOff[t]); L > 0 {
				blocks += min(L, blockCount(L, b.cfg.Beta))
			}
		}
		nnz := float64(ix.fOff[ix.n])
		b.sumCap = max(8, int(summaryBudget*nnz/float64(max(blocks, 1))))
		ix.adapt.SummaryCap = b.sumCap
	}
	order := make([]uint32, 0, m)
	for t := 0; t < m; t++ {
		if b.listOff[t+1] > b.listOff[t] {
			order = append(order, uint32(t))
		}
	}
	// Longest lists first, for load balance; results do not depend on it.
	slices.SortStableFunc(order, func(x, y uint32) int {
		lx, ly := b.listOff[x+1]-b.listOff[x], b.listOff[y+1]-b.listOff[y]
		switch {
		case lx > ly:
			return -1
		case lx < ly:
			return 1
		}
		return 0
	})
	results := make([]listResult, m)
	scr := make([]*blockScratch, b.workers)
	parallel(len(order), 1, b.workers, func(w, lo, hi int) {
		if scr[w] == nil {
			scr[w] = newBlockScratch(m)
		}
		for i := lo; i < hi; i++ {
			t := order[i]
			results[t] = b.blockList(scr[w], t)
		}
	})
	// Assemble.
	ix.listBlk = make([]uint32, m+1)
	nb, ns := 0, 0
	for t := 0; t < m; t++ {
		ix.listBlk[t] = uint32(nb)
		nb += len(results[t].sizes)
		ns += len(results[t].sumC)
	}
	ix.listBlk[m] = uint32(nb)
	ix.blkOff = make([]uint64, nb+1)
	ix.sumOff = make([]uint64, nb+1)
	ix.sMin = make([]float32, nb)
	ix.sScale = make([]float32, nb)
	ix.sCode = make([]uint8, 0, ns)
	if ix.wide {
		ix.sT32 = make([]uint32, 0, ns)
	} else {
		ix.sT16 = make([]uint16, 0, ns)
	}
	bi := 0
	var po, so uint64
	for t := 0; t < m; t++ {
		r := &results[t]
		for k, sz := range r.sizes {
			po += uint64(sz)
			so += uint64(r.sumLen[k])
			ix.blkOff[bi+1] = po
			ix.sumOff[bi+1] = so
			ix.sMin[bi] = r.sumMin[k]
			ix.sScale[bi] = r.sumSc[k]
			bi++
		}
		ix.sCode = append(ix.sCode, r.sumC...)
		for _, x := range r.sumT {
			if ix.wide {
				ix.sT32 = append(ix.sT32, x)
			} else {
				ix.sT16 = append(ix.sT16, uint16(x))
			}
		}
		results[t] = listResult{}
	}
	ix.post = b.pdocs
	b.pdocs = nil
}

// blockScratch is one build worker's reusable memory.
type blockScratch struct {
	cnt    []int32 // per term: centroid entries in the mini index
	off    []int32 // per term: start of its entries
	terms  []uint32
	ents   []centEntry
	acc    []float32
	stamp  []uint32
	gen    uint32
	hit    []int32
	pos    []int32
	assign []int32
	sizes  []int32
	mx     []float32 // per term: running coordinate-wise max
	mx16   []uint16  // the same as half-float bits, for packed indexes
	mterms []uint32
	pairs  []termVal
	ts     []uint32
	vs     []float32
	docs   []uint32
}

type centEntry struct {
	c int32
	v float32
}

type termVal struct {
	t uint32
	v float32
}

func newBlockScratch(m int) *blockScratch {
	return &blockScratch{cnt: make([]int32, m), off: make([]int32, m), mx: make([]float32, m)}
}

// blockList runs shallow k-means on list t, reorders its postings by block
// and summarizes the blocks.
func (b *builder) blockList(s *blockScratch, t uint32) listResult {
	ix, cfg := b.ix, b.cfg
	docs := b.pdocs[b.listOff[t]:b.listOff[t+1]]
	L := len(docs)
	C := min(L, blockCount(L, cfg.Beta))
	var res listResult
	if C == 1 {
		res.sizes = []uint32{uint32(L)}
		b.summarize(s, t, docs, &res)
		return res
	}
	// Sample C centroid documents with a per-list seed.
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(t)*0x9e3779b97f4a7c15+1))
	s.pos = growI32(s.pos, L)
	for i := range s.pos {
		s.pos[i] = int32(i)
	}
	for i := 0; i < C; i++ {
		j := i + rng.IntN(L-i)
		s.pos[i], s.pos[j] = s.pos[j], s.pos[i]
	}
	cent := s.pos[:C]
	slices.Sort(cent)
	// Mini inverted index over the centroids' components (the list's own
	// term excluded: every centroid has it).
	s.terms = s.terms[:0]
	for c := 0; c < C; c++ {
		s.ts, s.vs = ix.row(docs[cent[c]], s.ts, s.vs)
		for _, u := range s.ts {
			if u == t {
				continue
			}
			if s.cnt[u] == 0 {
				s.terms = append(s.terms, u)
			}
			s.cnt[u]++
		}
	}
	var o int32
	for _, u := range s.terms {
		s.off[u] = o
		o += s.cnt[u]
		s.cnt[u] = 0
	}
	if cap(s.ents) < int(o) {
		s.ents = make([]centEntry, o)
	}
	s.ents = s.ents[:o]
	for c := 0; c < C; c++ {
		s.ts, s.vs = ix.row(docs[cent[c]], s.ts, s.vs)
		for k, u := range s.ts {
			if u == t {
				continue
			}
			s.ents[s.off[u]+s.cnt[u]] = centEntry{int32(c), s.vs[k]}
			s.cnt[u]++
		}
	}
	// Assign every document to its best centroid through its top DocCut
	// components.
	s.acc = growF32(s.acc, C)
	s.stamp = growU32(s.stamp, C)
	s.assign = growI32(s.assign, L)
	s.sizes = growI32(s.sizes, C)
	clear(s.sizes)
	best := func(d uint32, allowed func(c int32) bool) int32 {
		s.gen++
		if s.gen == 0 {
			clear(s.stamp)
			s.gen = 1
		}
		s.hit = s.hit[:0]
		dc := cfg.DocCut
		for k := 0; k < dc; k++ {
			u := b.dcT[int(d)*dc+k]
			if u == noTerm {
				break
			}
			if u == t || s.cnt[u] == 0 {
				continue
			}
			v := b.dcV[int(d)*dc+k]
			for _, e := range s.ents[s.off[u] : s.off[u]+s.cnt[u]] {
				if s.stamp[e.c] != s.gen {
					s.stamp[e.c] = s.gen
					s.acc[e.c] = 0
					s.hit = append(s.hit, e.c)
				}
				s.acc[e.c] += v * e.v
			}
		}
		bc, bs := int32(-1), float32(0)
		for _, c := range s.hit {
			if allowed != nil && !allowed(c) {
				continue
			}
			if a := s.acc[c]; bc < 0 || a > bs || (a == bs && c < bc) {
				bc, bs = c, a
			}
		}
		return bc
	}
	for i, d := range docs {
		c := best(d, nil)
		if c < 0 {
			c = int32(d % uint32(C))
		}
		s.assign[i] = c
		s.sizes[c]++
	}
	// Dissolve clusters below MinClusterSize into the next-best allowed one.
	if cfg.MinClusterSize > 1 {
		largest, small := int32(0), 0
		for c := int32(0); c < int32(C); c++ {
			if s.sizes[c] > s.sizes[largest] {
				largest = c
			}
			if s.sizes[c] < int32(cfg.MinClusterSize) {
				small++
			}
		}
		if small > 0 && small < C {
			minSize := int32(cfg.MinClusterSize)
			keep := slices.Clone(s.sizes[:C])
			allowed := func(c int32) bool { return keep[c] >= minSize }
			for i, d := range docs {
				if keep[s.assign[i]] >= minSize {
					continue
				}
				c := best(d, allowed)
				if c < 0 {
					c = largest
				}
				s.sizes[s.assign[i]]--
				s.assign[i] = c
				s.sizes[c]++
			}
		}
	}
	for _, u := range s.terms {
		s.cnt[u] = 0
	}
	// Counting sort by cluster; documents stay ascending inside a block.
	var at int32
	for c := 0; c < C; c++ {
		sz := s.sizes[c]
		s.sizes[c] = at
		at += sz
		if sz > 0 {
			res.sizes = append(res.sizes, uint32(sz))
		}
	}
	s.docs = growU32(s.docs, L)
	for i, d := range docs {
		c := s.assign[i]
		s.docs[s.sizes[c]] = d
		s.sizes[c]++
	}
	copy(docs, s.docs[:L])
	var a uint32
	for _, sz := range res.sizes {
		b.summarize(s, t, docs[a:a+sz], &res)
		a += sz
	}
	return res
}

// summarize appends the quantized summary of one block of list t: the
// coordinate-wise max of its documents, cut to the Alpha share of its L1
// mass. Adaptive builds always keep t itself, which every document of the
// block has: without it a query that reaches the block through t alone
// would see a zero bound.
func (b *builder) summarize(s *blockScratch, t uint32, docs []uint32, res *listResult) {
	ix := b.ix
	s.mterms = s.mterms[:0]
	s.pairs = s.pairs[:0]
	var total float32
	if ix.packed() {
		// Positive half floats order as their bit patterns do, so the max
		// is taken on the raw bits and decoded once per term.
		if s.mx16 == nil {
			s.mx16 = make([]uint16, ix.m)
		}
		for _, d := range docs {
			ix.prefetchDoc(d)
		}
		for _, d := range docs {
			for _, e := range ix.fP[ix.fOff[d]:ix.fOff[d+1]] {
				h, u := uint16(e>>16), e&0xffff
				if h == 0 || h&0x8000 != 0 { // zero or negative
					continue
				}
				if s.mx16[u] == 0 {
					s.mterms = append(s.mterms, u)
				}
				s.mx16[u] = max(s.mx16[u], h)
			}
		}
		for _, u := range s.mterms {
			v := f16(uint32(s.mx16[u]))
			s.pairs = append(s.pairs, termVal{u, v})
			total += v
			s.mx16[u] = 0
		}
	} else {
		for _, d := range docs {
			for j := ix.fOff[d]; j < ix.fOff[d+1]; j++ {
				u, v := ix.term(j), ix.value(j)
				if v <= 0 {
					continue
				}
				if s.mx[u] == 0 {
					s.mterms = append(s.mterms, u)
				}
				s.mx[u] = max(s.mx[u], v)
			}
		}
		for _, u := range s.mterms {
			s.pairs = append(s.pairs, termVal{u, s.mx[u]})
			total += s.mx[u]
			s.mx[u] = 0
		}
	}
	k := massCut(s.pairs, float32(b.alpha)*total)
	if lo, hi := b.sumCap/4, b.sumCap; hi > 0 {
		// Adaptive builds bound summaries by the summary budget: at most
		// sumCap entries (the heaviest), at least a quarter of it.
		switch {
		case k > hi:
			slices.SortFunc(s.pairs[:k], byValueDesc)
			k = hi
		case k < lo && len(s.pairs) > k:
			slices.SortFunc(s.pairs[k:], byValueDesc)
			k = min(lo, len(s.pairs))
		}
	}
	if b.sumCap > 0 {
		for j := k; j < len(s.pairs); j++ {
			if s.pairs[j].t == t {
				s.pairs[k], s.pairs[j] = s.pairs[j], s.pairs[k]
				k++
				break
			}
		}
	}
	kept := s.pairs[:k]
	slices.SortFunc(kept, func(x, y termVal) int { return int(x.t) - int(y.t) })
	lo, hi := float32(math.Inf(1)), float32(0)
	for _, p := range kept {
		lo, hi = min(lo, p.v), max(hi, p.v)
	}
	if len(kept) == 0 {
		lo = 0
	}
	scale := (hi - lo) / 255
	res.sumMin = append(res.sumMin, lo)
	res.sumSc = append(res.sumSc, scale)
	res.sumLen = append(res.sumLen, uint32(len(kept)))
	for _, p := range kept {
		res.sumT = append(res.sumT, p.t)
		var c uint8
		if scale > 0 {
			// Round up, so the summary stays an upper bound of the max.
			c = uint8(min(255, math.Ceil(float64((p.v-lo)/scale))))
		}
		res.sumC = append(res.sumC, c)
	}
}

// massCut reorders p so that p[:k] holds the largest values whose sum first
// reaches target, and returns k (at least 1 when p is not empty). The
// values must be positive. It buckets the values by their float32
// exponent and top three mantissa bits (an order-preserving key), finds
// the bucket where the running mass from the top reaches target, moves the
// buckets above it to the front and sorts only that bucket (ties by term).
// Values spread over more than 256 buckets (about 32 octaves) go to the
// quickselect of massCutSelect instead.
func massCut(p []termVal, target float32) int {
	if len(p) == 0 {
		return 0
	}
	key := func(v float32) uint32 { return math.Float32bits(v) >> 20 }
	lo, hi := key(p[0].v), key(p[0].v)
	for _, x := range p[1:] {
		k := key(x.v)
		lo, hi = min(lo, k), max(hi, k)
	}
	if hi-lo >= 256 {
		return massCutSelect(p, target)
	}
	var mass [256]float32
	for _, x := range p {
		mass[key(x.v)-lo] += x.v
	}
	var acc float32
	cut := int(hi - lo)
	for ; cut > 0; cut-- {
		if acc+mass[cut] >= target {
			break
		}
		acc += mass[cut]
	}
	// Buckets above cut to the front, then bucket cut.
	n := 0
	for i, x := range p {
		if int(key(x.v)-lo) > cut {
			p[n], p[i] = p[i], p[n]
			n++
		}
	}
	m := n
	for i := n; i < len(p); i++ {
		if int(key(p[i].v)-lo) == cut {
			p[m], p[i] = p[i], p[m]
			m++
		}
	}
	edge := p[n:m]
	slices.SortFunc(edge, byValueDesc)
	for j, x := range edge {
		acc += x.v
		if acc >= target {
			return n + j + 1
		}
	}
	return max(m, 1)
}

// byValueDesc orders by decreasing value, ties by increasing term.
func byValueDesc(x, y termVal) int {
	switch {
	case x.v > y.v:
		return -1
	case x.v < y.v:
		return 1
	}
	return int(x.t) - int(y.t)
}

// massCutSelect is massCut by quickselect on mass, in expected linear time.
func massCutSelect(p []termVal, target float32) int {
	if len(p) == 0 {
		return 0
	}
	lo, hi := 0, len(p)
	var acc float32
	for hi-lo > 16 {
		// Median of three as the pivot.
		a, b, c := p[lo].v, p[(lo+hi)/2].v, p[hi-1].v
		piv := max(min(a, b), min(max(a, b), c))
		// Three-way partition of p[lo:hi]: > piv, == piv, < piv.
		gt, i, lt := lo, lo, hi
		for i < lt {
			switch v := p[i].v; {
			case v > piv:
				p[gt], p[i] = p[i], p[gt]
				gt++
				i++
			case v < piv:
				lt--
				p[i], p[lt] = p[lt], p[i]
			default:
				i++
			}
		}
		var sg float32
		for _, x := range p[lo:gt] {
			sg += x.v
		}
		if acc+sg >= target {
			hi = gt
			continue
		}
		acc += sg
		for j := gt; j < lt; j++ {
			acc += p[j].v
			if acc >= target {
				return j + 1
			}
		}
		lo = lt
	}
	slices.SortFunc(p[lo:hi], byValueDesc)
	for j := lo; j < hi; j++ {
		acc += p[j].v
		if acc >= target {
			return j + 1
		}
	}
	return max(hi, 1)
}

func growI32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func growU32(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	return s[:n]
}

func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
