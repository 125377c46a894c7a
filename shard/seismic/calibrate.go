package seismic

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/shoal-search/shoal/internal/topk"
)

// Calibration is an index's table from recall targets to the cheapest
// search settings that reached them on pseudo-queries drawn from its own
// documents, measured against exact scoring at build time. It is stored in
// the index file (format version 3).
//
// The pseudo-queries are deterministic (the build seed): each takes half its
// terms from a sampled document, drawn with probability proportional to
// their weights, a fifth from a second document that shares the first one's
// heaviest list (a topical neighbour), and the rest by document frequency
// (the terms of random forward entries, with their values); every fourth
// query takes all its terms by document frequency; query lengths spread
// log-uniformly between a tenth of the median document length and the
// median (at least 3, at most 64). Query weights are the documents' weights; when the segment's
// lists are flat (BM25-like, Adaptive.Flatness ≥ 0.85), every other query
// has unit weights instead, as term-count queries do. The exact top-k is
// computed term at a time over the forward index for all pseudo-queries in
// one pass. Each setting of a small grid (query_cut × heap_factor, with the
// kNN refinement when the index has a graph) is then searched, and its cost
// is the work it did: forward entries of the documents it scored plus
// summary entries it evaluated, against the postings exact term-at-a-time
// scoring would walk. A setting reaches a target T when the one-sided 95%
// lower confidence bound of its mean recall (from the per-query recalls'
// standard error, taken separately over the topical queries and over those
// drawn by document frequency, the smaller of the two) reaches T + (1-T)/2: a segment with few or noisy
// pseudo-queries chooses more accurate settings, and real queries, which
// can be harder than pseudo-queries, keep a margin.
type Calibration struct {
	// Queries is the number of pseudo-queries.
	Queries int `json:"queries"`
	// K is the depth recall was measured at.
	K int `json:"k"`
	// QueryLen is the median pseudo-query length.
	QueryLen int `json:"query_len"`
	// Entries holds one row per target of CalibrationTargets, ascending.
	Entries []CalibrationEntry `json:"entries"`
}

// CalibrationEntry is the cheapest measured setting reaching a recall
// target.
type CalibrationEntry struct {
	// Target is the recall@K target.
	Target float32 `json:"target"`
	// QueryCut, HeapFactor and KNN are the search settings.
	QueryCut   int     `json:"query_cut"`
	HeapFactor float32 `json:"heap_factor"`
	KNN        bool    `json:"knn"`
	// Recall is the mean recall@K measured at these settings; below Target
	// when no setting of the grid reached it (then the settings are the
	// most accurate of the grid).
	Recall float32 `json:"recall"`
	// Speedup is the work of exact term-at-a-time scoring divided by the
	// work of these settings.
	Speedup float32 `json:"speedup"`
	// Reached is set when these settings reached Target (the lower
	// confidence bound of their recall did). When it is not, no setting of
	// the grid did, and searches for Target should be exact.
	Reached bool `json:"reached"`
	// ExactPreferred is set when no setting reached Target, or reached it
	// with a Speedup below MinSpeedup: an exact search path serves the
	// target better.
	ExactPreferred bool `json:"exact_preferred"`
}

// confidenceZ is the one-sided normal quantile of the lower confidence bound
// that a setting's mean recall over the pseudo-queries must reach a target
// with (95%): pseudo-queries are a sample, and real queries differ.
const confidenceZ = 1.645

// safetyShare is the share of the remaining error (1 - target) by which a
// setting's lower confidence bound must exceed a target: real queries can
// be harder than pseudo-queries (on the test distributions, before the
// per-class bound, they were by up to 0.04 at target 0.95), so a target of
// 0.95 asks for 0.975 on them.
const safetyShare = 0.5

// CalibrationTargets are the recall targets a calibration table holds.
var CalibrationTargets = []float32{0.8, 0.85, 0.9, 0.95, 0.97, 0.99}

// MinSpeedup is the speed-up over exact term-at-a-time scoring below which
// a calibration entry is marked ExactPreferred.
const MinSpeedup = 2

// calibrationK is the depth at which calibration measures recall.
const calibrationK = 10

// minCalibrationDocs is the smallest index that calibrates itself.
const minCalibrationDocs = 64

// Calibration returns the index's calibration table, or nil when it has
// none (calibration off, a tiny index, or a version-1 file).
func (ix *Index) Calibration() *Calibration { return ix.calib }

// Adaptive returns what an adaptive (PruneMass) build derived from the
// data; the zero value for other builds and version-1 files.
func (ix *Index) Adaptive() Adaptive { return ix.adapt }

// Lookup returns the entry for a recall target: the first whose Target is
// at least target. Above every entry the table vouches for nothing: it
// returns the last entry marked not Reached (exact scoring). ok is false
// when the table is empty.
func (c *Calibration) Lookup(target float64) (e CalibrationEntry, ok bool) {
	if c == nil || len(c.Entries) == 0 {
		return CalibrationEntry{}, false
	}
	for _, e := range c.Entries {
		if float64(e.Target) >= target-1e-6 {
			return e, true
		}
	}
	e = c.Entries[len(c.Entries)-1]
	e.Reached, e.ExactPreferred = false, true
	return e, true
}

// ParamsFor returns the search parameters the calibration table gives for
// a recall target, starting from base (whose other fields are kept), and
// the table entry. ok is false when the index is not calibrated; base is
// then returned unchanged.
func (ix *Index) ParamsFor(target float64, base SearchParams) (p SearchParams, e CalibrationEntry, ok bool) {
	e, ok = ix.calib.Lookup(target)
	if !ok {
		return base, e, false
	}
	base.QueryCut, base.HeapFactor, base.KNN = e.QueryCut, e.HeapFactor, e.KNN
	return base, e, true
}

// pseudoQuery is a calibration query over compact term ids.
type pseudoQuery struct {
	t       []uint32
	v       []float32
	topical bool // drawn from documents, not by document frequency alone
}

// calibSample is a set of pseudo-queries with their exact top k, in input
// rows.
type calibSample struct {
	qs    []pseudoQuery
	qlen  int
	truth [][]topk.Item
}

// sample draws the pseudo-queries and scores them exactly. neighbour
// returns a document that has compact term t (a topical neighbour), or
// false. It must run before documents are reordered, or map the truth.
func (ix *Index) sample(nq, k, workers int, seed uint64, neighbour func(t uint32, r *rand.Rand) (uint32, bool)) *calibSample {
	if ix.n < minCalibrationDocs || nq == 0 {
		return nil
	}
	qs, qlen := ix.pseudoQueries(nq, seed, neighbour)
	if len(qs) == 0 {
		return nil
	}
	return &calibSample{qs: qs, qlen: qlen, truth: ix.exactBatch(qs, k, workers)}
}

// calibrate builds the calibration table of a finished index from a
// sample whose truth holds input rows.
func (ix *Index) calibrate(cs *calibSample, k int) *Calibration {
	if cs == nil {
		return nil
	}
	qs, qlen := cs.qs, cs.qlen
	truth := cs.truth
	if ix.inv != nil {
		// Input rows to internal positions.
		truth = make([][]topk.Item, len(cs.truth))
		for i, tr := range cs.truth {
			truth[i] = make([]topk.Item, len(tr))
			for j, it := range tr {
				truth[i][j] = topk.Item{ID: ix.inv[it.ID], Score: it.Score}
			}
		}
	}
	// Work of exact term-at-a-time scoring: the full lists of the query
	// terms, plus a pass over the accumulator.
	df := make([]uint64, ix.m)
	for j := uint64(0); j < ix.fOff[ix.n]; j++ {
		df[ix.term(j)]++
	}
	var exactWork float64
	for _, q := range qs {
		for _, t := range q.t {
			exactWork += float64(df[t])
		}
		exactWork += float64(ix.n) / 4
	}
	avgDoc := float64(ix.fOff[ix.n]) / float64(ix.n)
	avgSum := 0.0
	if nb := len(ix.blkOff) - 1; nb > 0 {
		avgSum = float64(len(ix.sCode)) / float64(nb)
	}
	maxLen := 0
	for _, q := range qs {
		maxLen = max(maxLen, len(q.t))
	}
	type result struct {
		qc     int
		hf     float32
		recall float64
		lower  float64 // one-sided lower confidence bound of recall
		work   float64
	}
	var results []result
	eval := func(qc int, hf float32) result {
		p := DefaultSearchParams()
		p.QueryCut, p.HeapFactor, p.KNN = qc, hf, ix.knnK > 0
		s := ix.getScratch()
		var dst []topk.Item
		var work float64
		// Recall sums per query class (topical, by document frequency).
		var rec, rec2, cnt [2]float64
		for i, q := range qs {
			for j, t := range q.t {
				s.q[t] = q.v[j]
			}
			s.qt = append(s.qt[:0], q.t...)
			dst = ix.search(s, k, p, nil, dst[:0])
			work += float64(s.scored)*avgDoc + float64(s.blocks)*avgSum
			s.clearQuery()
			r := recallOf(dst, truth[i], k)
			c := 0
			if !q.topical {
				c = 1
			}
			rec[c] += r
			rec2[c] += r * r
			cnt[c]++
		}
		ix.pool.Put(s)
		// The lower bound is the smaller of the two classes' bounds: a
		// target must hold for both kinds of queries.
		lower := 1.0
		for c := range cnt {
			if cnt[c] == 0 {
				continue
			}
			mean := rec[c] / cnt[c]
			sd := math.Sqrt(max(0, rec2[c]/cnt[c]-mean*mean))
			lower = min(lower, mean-confidenceZ*sd/math.Sqrt(cnt[c]))
		}
		return result{qc, hf, (rec[0] + rec[1]) / (cnt[0] + cnt[1]), lower, work}
	}
	cuts := []int{2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128}
	hfs := []float32{1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3}
	top := float64(CalibrationTargets[len(CalibrationTargets)-1])
	topNeed := top + safetyShare*(1-top)
	for _, qc := range cuts {
		last := qc >= maxLen
		if last {
			qc = maxLen
		}
		for _, hf := range hfs {
			r := eval(qc, hf)
			results = append(results, r)
			if r.lower >= topNeed {
				break // lower heap factors cost more and add nothing
			}
		}
		if last || (results[len(results)-1].lower >= topNeed && results[len(results)-1].hf == hfs[0]) {
			break
		}
	}
	c := &Calibration{Queries: len(qs), K: k, QueryLen: qlen}
	for _, target := range CalibrationTargets {
		best := -1
		need := float64(target) + safetyShare*(1-float64(target))
		for i, r := range results {
			if r.lower < need {
				continue
			}
			if best < 0 || r.work < results[best].work {
				best = i
			}
		}
		e := CalibrationEntry{Target: target, KNN: ix.knnK > 0, Reached: best >= 0}
		if best < 0 {
			// Not reached: the most accurate setting, cheapest among equals.
			for i, r := range results {
				if best < 0 || r.recall > results[best].recall ||
					(r.recall == results[best].recall && r.work < results[best].work) {
					best = i
				}
			}
			e.ExactPreferred = true
		}
		r := results[best]
		e.QueryCut, e.HeapFactor, e.Recall = r.qc, r.hf, float32(r.recall)
		e.Speedup = float32(exactWork / max(r.work, 1))
		if e.Speedup < MinSpeedup {
			e.ExactPreferred = true
		}
		c.Entries = append(c.Entries, e)
	}
	return c
}

// recallOf returns |got ∩ want| / min(k, |want|) over document ids.
func recallOf(got, want []topk.Item, k int) float64 {
	if len(want) == 0 {
		return 1
	}
	hit := 0
	for _, w := range want {
		for _, g := range got {
			if g.ID == w.ID {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(min(k, len(want)))
}

// pseudoQueries draws nq deterministic pseudo-queries and returns them with
// their median length.
func (ix *Index) pseudoQueries(nq int, seed uint64, neighbour func(t uint32, r *rand.Rand) (uint32, bool)) ([]pseudoQuery, int) {
	rng := rand.New(rand.NewPCG(seed, 0xca11b7a7e))
	lens := make([]int, ix.n)
	for d := range lens {
		lens[d] = ix.rowLen(uint32(d))
	}
	slices.Sort(lens)
	median := lens[len(lens)/2]
	if median == 0 {
		return nil, 0
	}
	lo, hi := max(3, float64(median)/10), min(64, max(3, float64(median)))
	flatQ := ix.adapt.Flatness >= 0.85
	var qs []pseudoQuery
	var ts, ts2 []uint32
	var vs, vs2 []float32
	w := make(map[uint32]float32)
	qlens := make([]int, 0, nq)
	for i := 0; i < nq*4 && len(qs) < nq; i++ {
		a := uint32(rng.IntN(ix.n))
		ts, vs = ix.row(a, ts, vs)
		if len(ts) == 0 {
			continue
		}
		L := int(math.Round(lo * math.Pow(hi/lo, rng.Float64())))
		clear(w)
		// A topical neighbour: a document of the list of a's heaviest term.
		hv := 0
		for j := range vs {
			if vs[j] > vs[hv] {
				hv = j
			}
		}
		// Every fourth query draws all its terms by document frequency: a
		// query about no document in particular.
		topical := len(qs)%4 != 3
		if topical {
			drawWeighted(rng, ts, vs, L/2, w)
		}
		if b, ok := neighbour(ts[hv], rng); ok && topical {
			ts2, vs2 = ix.row(b, ts2, vs2)
			drawWeighted(rng, ts2, vs2, L*7/10-len(w), w)
		}
		// The rest: terms by document frequency (a random forward entry),
		// unrelated to a and b, as queries that share little with any one
		// document are.
		nnz := ix.fOff[ix.n]
		for tries := 0; len(w) < L && tries < 4*L; tries++ {
			j := rng.Uint64N(nnz)
			if v := ix.value(j); v > 0 {
				if _, ok := w[ix.term(j)]; !ok {
					w[ix.term(j)] = v
				}
			}
		}
		q := pseudoQuery{t: make([]uint32, 0, len(w)), topical: topical}
		for t := range w {
			q.t = append(q.t, t)
		}
		slices.Sort(q.t)
		q.v = make([]float32, len(q.t))
		unit := flatQ && len(qs)%2 == 1
		for j, t := range q.t {
			q.v[j] = w[t]
			if unit {
				q.v[j] = 1
			}
		}
		qs = append(qs, q)
		qlens = append(qlens, len(q.t))
	}
	slices.Sort(qlens)
	if len(qlens) == 0 {
		return nil, 0
	}
	return qs, qlens[len(qlens)/2]
}

// drawWeighted adds up to n terms of (ts, vs) to w, drawn without
// replacement with probability proportional to their positive values
// (summing values already in w).
func drawWeighted(rng *rand.Rand, ts []uint32, vs []float32, n int, w map[uint32]float32) {
	var total float64
	for _, v := range vs {
		if v > 0 {
			total += float64(v)
		}
	}
	taken := make([]bool, len(ts))
	for drawn := 0; drawn < n && total > 1e-30; drawn++ {
		x := rng.Float64() * total
		pick := -1
		for j, v := range vs {
			if taken[j] || v <= 0 {
				continue
			}
			pick = j
			x -= float64(v)
			if x < 0 {
				break
			}
		}
		if pick < 0 {
			return
		}
		taken[pick] = true
		total -= float64(vs[pick])
		w[ts[pick]] += vs[pick]
	}
}

// exactBatch returns the exact top k (internal positions) of every query,
// in one pass over the forward index: each entry looks its term up in a
// small inverted index of the queries.
func (ix *Index) exactBatch(qs []pseudoQuery, k, workers int) [][]topk.Item {
	nq := len(qs)
	// Inverted index of the queries over compact terms.
	start := make([]int32, ix.m+1)
	for _, q := range qs {
		for _, t := range q.t {
			start[t+1]++
		}
	}
	for t := 1; t < len(start); t++ {
		start[t] += start[t-1]
	}
	type qw struct {
		q int32
		w float32
	}
	ents := make([]qw, start[ix.m])
	fill := slices.Clone(start[:ix.m])
	for qi, q := range qs {
		for j, t := range q.t {
			ents[fill[t]] = qw{int32(qi), q.v[j]}
			fill[t]++
		}
	}
	// Per-chunk heaps, merged in chunk order afterwards.
	const chunk = 4096
	nc := (ix.n + chunk - 1) / chunk
	parts := make([][][]topk.Item, nc)
	parallel(ix.n, chunk, max(workers, 1), func(_, lo, hi int) {
		acc := make([]float32, nq)
		touched := make([]int32, 0, nq)
		heaps := make([]*topk.Heap, nq)
		for i := range heaps {
			heaps[i] = topk.New(k)
		}
		for d := lo; d < hi; d++ {
			for j := ix.fOff[d]; j < ix.fOff[d+1]; j++ {
				t := ix.term(j)
				a, e := start[t], start[t+1]
				if a == e {
					continue
				}
				v := ix.value(j)
				for _, x := range ents[a:e] {
					if acc[x.q] == 0 {
						touched = append(touched, x.q)
					}
					acc[x.q] += x.w * v
				}
			}
			for _, qi := range touched {
				if s := acc[qi]; s > 0 {
					heaps[qi].Push(uint32(d), s)
				}
				acc[qi] = 0
			}
			touched = touched[:0]
		}
		out := make([][]topk.Item, nq)
		for i, h := range heaps {
			out[i] = h.Sorted(nil)
		}
		parts[lo/chunk] = out
	})
	truth := make([][]topk.Item, nq)
	for qi := range qs {
		var lists [][]topk.Item
		for _, p := range parts {
			lists = append(lists, p[qi])
		}
		truth[qi] = topk.Merge(k, lists...)
	}
	return truth
}

// postingNeighbour returns a neighbour function over the index's pruned
// posting lists (internal positions).
func (ix *Index) postingNeighbour(t uint32, r *rand.Rand) (uint32, bool) {
	b0, b1 := ix.listBlk[t], ix.listBlk[t+1]
	if b1 == b0 {
		return 0, false
	}
	p0, p1 := ix.blkOff[b0], ix.blkOff[b1]
	return ix.post[p0+uint64(r.IntN(int(p1-p0)))], true
}
