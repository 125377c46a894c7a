package seismic

import (
	"sync"
	"sync/atomic"
)

// Index is a built Seismic index over documents 0..Len()-1. It is immutable
// after Build or Load: any number of goroutines may call Search at once.
// Close releases a memory-mapped file; an index must not be searched after
// Close.
type Index struct {
	n    int    // documents
	dim  uint32 // vocabulary size of the input ids
	m    uint32 // compact vocabulary size (distinct ids the index knows)
	wide bool   // compact term ids need uint32
	half bool   // forward values are half floats
	cfg  Config // build configuration (informational after Load)

	// termMap lists the original id of each compact id, ascending; nil when
	// compact ids equal original ids (dim <= 65,536).
	termMap []uint32

	// Forward index.
	fOff []uint64
	fT16 []uint16
	fT32 []uint32
	fV32 []float32
	fV16 []uint16
	fP   []uint32 // narrow ids with half values: id | f16<<16, one stream

	// Blocked, pruned inverted index: compact term t owns blocks
	// listBlk[t]..listBlk[t+1]; block b owns post[blkOff[b]:blkOff[b+1]].
	listBlk []uint32
	blkOff  []uint64
	post    []uint32

	// Block summaries: block b owns entries sumOff[b]..sumOff[b+1]; value
	// of entry j is sMin[b] + sCode[j]·sScale[b].
	sumOff []uint64
	sT16   []uint16
	sT32   []uint32
	sCode  []uint8
	sMin   []float32
	sScale []float32

	// Document layout: internal position i holds input row perm[i], and
	// inv[row] is the row's position; both nil when the layout is the input
	// order. Postings, the kNN graph and the forward index use positions.
	perm []uint32
	inv  []uint32

	// kNN graph: document d's neighbours are knn[d·knnK:(d+1)·knnK].
	knnK int
	knn  []uint32

	// Version 2: what an adaptive build derived (zero otherwise), the
	// largest value of every list before pruning (nil for version 1: query
	// terms are then ordered by their weight alone), and the calibration
	// table (nil when not calibrated).
	adapt   Adaptive
	listMax []float32
	calib   *Calibration

	pool   sync.Pool
	mapped []byte // non-nil when backed by mmap
	closed atomic.Bool
}

// Len returns the number of documents.
func (ix *Index) Len() int { return ix.n }

// Dim returns the vocabulary size of the document ids the index was built
// from.
func (ix *Index) Dim() uint32 { return ix.dim }

// Config returns the configuration the index was built with.
func (ix *Index) Config() Config { return ix.cfg }

// Stats describes the sizes of an index's parts.
type Stats struct {
	// Docs is the number of documents.
	Docs int `json:"docs"`
	// NNZ is the number of forward-index entries.
	NNZ int `json:"nnz"`
	// Terms is the compact vocabulary size.
	Terms int `json:"terms"`
	// Postings is the number of postings kept after static pruning.
	Postings int `json:"postings"`
	// Blocks is the number of blocks.
	Blocks int `json:"blocks"`
	// SummaryEntries is the number of summary components over all blocks.
	SummaryEntries int `json:"summary_entries"`
	// ForwardBytes is the memory of the forward index.
	ForwardBytes int64 `json:"forward_bytes"`
	// InvertedBytes is the memory of postings, block offsets and summaries.
	InvertedBytes int64 `json:"inverted_bytes"`
	// KNNBytes is the memory of the kNN graph.
	KNNBytes int64 `json:"knn_bytes"`
	// TotalBytes is the sum of the parts.
	TotalBytes int64 `json:"total_bytes"`
}

// Stats returns the sizes of the index's parts.
func (ix *Index) Stats() Stats {
	fwd := int64(len(ix.fOff)*8 + len(ix.fT16)*2 + len(ix.fT32)*4 + len(ix.fV32)*4 + len(ix.fV16)*2 + len(ix.fP)*4 + len(ix.termMap)*4)
	inv := int64(len(ix.listBlk)*4 + len(ix.blkOff)*8 + len(ix.post)*4 + len(ix.sumOff)*8 +
		len(ix.sT16)*2 + len(ix.sT32)*4 + len(ix.sCode) + len(ix.sMin)*4 + len(ix.sScale)*4)
	knn := int64(len(ix.knn)*4 + len(ix.perm)*4 + len(ix.inv)*4)
	return Stats{
		Docs: ix.n, NNZ: max(len(ix.fT16), len(ix.fT32), len(ix.fP)), Terms: int(ix.m),
		Postings: len(ix.post), Blocks: len(ix.blkOff) - 1, SummaryEntries: len(ix.sCode),
		ForwardBytes: fwd, InvertedBytes: inv, KNNBytes: knn, TotalBytes: fwd + inv + knn,
	}
}

// compact maps an original component id to its compact id.
func (ix *Index) compact(t uint32) (uint32, bool) {
	if ix.termMap == nil {
		return t, t < ix.m
	}
	lo, hi := 0, len(ix.termMap)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ix.termMap[mid] < t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(ix.termMap) && ix.termMap[lo] == t {
		return uint32(lo), true
	}
	return 0, false
}

// rowLen returns the number of forward entries of document d.
func (ix *Index) rowLen(d uint32) int { return int(ix.fOff[d+1] - ix.fOff[d]) }

// forEachComponent calls fn with the compact term id and value of every
// component of document d. It is for build-time code, not the query path.
func (ix *Index) forEachComponent(d uint32, fn func(t uint32, v float32)) {
	for j := ix.fOff[d]; j < ix.fOff[d+1]; j++ {
		fn(ix.term(j), ix.value(j))
	}
}

// packed reports whether the forward index interleaves narrow ids and half
// values in fP.
func (ix *Index) packed() bool { return !ix.wide && ix.half }
