package seismic

import "math"

// Adaptive records the build parameters that a PruneMass build derived from
// the segment's own statistics. It is stored in the index file (format
// version 2) so that an operator can see what a segment chose; a zero
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
	// SummaryCap is the largest number of entries of a block summary.
	SummaryCap int `json:"summary_cap"`
}

// summaryBudget bounds the summary entries of an adaptive build to this
// many per forward-index entry (3 bytes each with narrow ids: about 2.25x
// the packed forward index). Each block gets an equal share, SummaryCap;
// a block's Alpha cut is clamped to [SummaryCap/4, SummaryCap] entries.
const summaryBudget = 3.0

// massShare is the share of a list's L1 mass that PruneMass keeps for a
// list of the given flatness: everything for a flat list, falling linearly
// with concentration to 0.6 (a list whose flatness is 0.6 or less, such as
// an exponential (0.5) or a heavy-tailed one, keeps its largest postings
// up to 60% of its mass, a small share of its postings).
func massShare(flat float64) float64 {
	return min(1, max(0.6, 1-(1-flat)*1.1))
}

// autoAlpha is the summary mass share for a segment whose lists have the
// given mean flatness: 0.1 at or below flatness 0.5 (peaked weights), rising
// with the cube of the flatness above it to 0.9 for perfectly flat lists.
func autoAlpha(flat float64) float64 {
	s := min(1, max(0, (flat-0.5)/0.5))
	return 0.1 + 0.8*s*s*s
}

// autoMinPostings is the floor of postings per list for n documents.
func autoMinPostings(n int) int {
	return max(32, int(math.Ceil(math.Sqrt(float64(n))/2)))
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
