package seismic

import (
	"math"
	"slices"
)

// Adaptive records the build parameters that a PruneMass build derived from
// the segment's own statistics. It is stored in the index file (format
// version 3) so that an operator can see what a segment chose; a zero
// Adaptive means the index was built with fixed parameters (or is a
// version-1 file).
//
// The derivations, all deterministic functions of the documents:
//
//   - Flatness of a list is (Σv)² / (L·Σv²) over its L positive values: 1
//     when every value is equal (BM25 weights of one term differ only by the
//     saturated term frequency, so their lists are close to 1), lower when a
//     few values dominate (learned sparse weights, heavy tails).
//   - Pruning keeps a list's largest postings until they hold massShare(flatness)
//     of its L1 mass, and at least MinPostings of them.
//   - The segment's flatness is the mean list flatness weighted by list
//     length; the summaries' Alpha follows it (autoAlpha): with flat lists
//     a block's summary must keep most of its mass, since every query term
//     can matter; with peaked ones the heaviest components bound the block.
//   - Blocks: a list of L postings gets about L / (8 + 2·log2(L/64))
//     blocks (blockCount), so long lists get somewhat larger blocks.
type Adaptive struct {
	// Flatness is the length-weighted mean flatness of the posting lists,
	// in (0, 1].
	Flatness float64 `json:"flatness"`
	// Alpha is the summary mass share used for the segment.
	Alpha float64 `json:"alpha"`
	// MinPostings is the floor of postings per list used.
	MinPostings int `json:"min_postings"`
	// KeptShare is the share of the positive entries kept as postings.
	KeptShare float64 `json:"kept_share"`
	// Strength is the pruning strength chosen (pruneStrengths): how fast
	// the kept mass share falls with a list's concentration.
	Strength float64 `json:"strength"`
	// SummaryCap is the largest number of entries of a block summary.
	SummaryCap int `json:"summary_cap"`
}

// summaryBudget bounds the summary entries of an adaptive build to this
// many per forward-index entry (3 bytes each with narrow ids: about 2.25x
// the packed forward index). Each block gets an equal share, SummaryCap;
// a block's Alpha cut is clamped to [SummaryCap/4, SummaryCap] entries.
const summaryBudget = 3.0

// massShare is the share of a list's L1 mass that PruneMass keeps for a
// list of the given flatness at a pruning strength: everything for a flat
// list, falling linearly with concentration, by strength per unit of
// flatness lost, to at least 0.2. Strength 0 keeps every posting.
func massShare(flat, strength float64) float64 {
	return min(1, max(0.2, 1-(1-flat)*strength))
}

// pruneStrengths are the pruning strengths an adaptive build tries, the
// most aggressive first; it takes the first whose recall ceiling reaches
// ceilingTarget.
var pruneStrengths = []float64{4, 2, 1, 0.5, 0.25, 0}

// ceilingTarget is the share of the pseudo-queries' exact top-k documents
// that must stay reachable (in the kept postings of at least one query
// term) for a pruning strength to be taken.
const ceilingTarget = 0.985

// minStrengthQueries is the least number of pseudo-queries used to choose
// the pruning strength.
const minStrengthQueries = 64

// pruneStrength returns the strength to prune with: the most aggressive of
// pruneStrengths whose recall ceiling on the build's sample reaches
// ceilingTarget. pvals holds the values of the unpruned lists (b.pdocs
// order).
func (b *builder) pruneStrength(pvals []float32, flat []float64, docThr []float32, floor int) float64 {
	ix, cs := b.ix, b.sample
	if cs == nil {
		return pruneStrengths[len(pruneStrengths)/2]
	}
	// Per query term, the smallest kept value at each strength.
	thr := map[uint32][]float32{}
	var vs []float32
	for _, q := range cs.qs {
		for _, t := range q.t {
			if _, ok := thr[t]; ok {
				continue
			}
			a, e := b.listOff[t], b.listOff[t+1]
			th := make([]float32, len(pruneStrengths))
			thr[t] = th
			if int(e-a) <= floor {
				continue // kept whole: threshold 0
			}
			vs = append(vs[:0], pvals[a:e]...)
			slices.SortFunc(vs, func(x, y float32) int {
				switch {
				case x > y:
					return -1
				case x < y:
					return 1
				}
				return 0
			})
			var total float64
			for _, v := range vs {
				total += float64(v)
			}
			for i, st := range pruneStrengths {
				target, acc, k := massShare(flat[t], st)*total, 0.0, 0
				for k < len(vs) && acc < target {
					acc += float64(vs[k])
					k++
				}
				th[i] = vs[max(k, floor, 1)-1]
				if st == 0 {
					th[i] = 0
				}
			}
		}
	}
	reach := make([]int, len(pruneStrengths))
	total := 0
	for qi, q := range cs.qs {
		for _, it := range cs.truth[qi] {
			d := it.ID
			total++
			for i := range pruneStrengths {
				for _, t := range q.t {
					v, ok := ix.valueOf(d, t)
					if ok && v > 0 && (v >= thr[t][i] || v >= docThr[d]) {
						reach[i]++
						break
					}
				}
			}
		}
	}
	for i, st := range pruneStrengths {
		if total == 0 || float64(reach[i]) >= ceilingTarget*float64(total) {
			return st
		}
	}
	return 0
}

// valueOf returns document d's value for compact term t.
func (ix *Index) valueOf(d, t uint32) (float32, bool) {
	lo, hi := ix.fOff[d], ix.fOff[d+1]
	for lo < hi {
		mid := lo + (hi-lo)/2
		if ix.term(mid) < t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < ix.fOff[d+1] && ix.term(lo) == t {
		return ix.value(lo), true
	}
	return 0, false
}

// autoAlpha is the summary mass share for a segment whose lists have the
// given mean flatness: 0.1 at or below flatness 0.5 (peaked weights), rising
// with the cube of the flatness above it to 0.9 for perfectly flat lists.
func autoAlpha(flat float64) float64 {
	s := min(1, max(0, (flat-0.5)/0.5))
	return 0.1 + 0.8*s*s*s
}

// docGuardCount is how many of a document's heaviest components (of nnz
// positive ones) adaptive pruning always keeps: a tenth, between 1 and 16.
func docGuardCount(nnz int) int {
	return min(nnz, max(1, min(16, (nnz+9)/10)))
}

// autoMinPostings is the floor of postings per list for n documents.
func autoMinPostings(n int) int {
	return min(64, max(16, int(math.Ceil(math.Sqrt(float64(n))/8))))
}

// blockCount is the number of k-means centroids (blocks) of a list of L
// postings: beta·L when beta is set, otherwise blocks of about
// 8 + 2·log2(L/64) documents.
func blockCount(L int, beta float64) int {
	if beta > 0 {
		return max(1, int(math.Round(beta*float64(L))))
	}
	size := 8.0
	if L > 64 {
		size += 2 * math.Log2(float64(L)/64)
	}
	return max(1, min(L, int(math.Round(float64(L)/size))))
}

// flatness returns (Σv)²/(L·Σv²) of vs (1 for an empty slice).
func flatness(vs []float32) float64 {
	var s1, s2 float64
	for _, v := range vs {
		s1 += float64(v)
		s2 += float64(v) * float64(v)
	}
	if s2 == 0 {
		return 1
	}
	return s1 * s1 / (float64(len(vs)) * s2)
}
