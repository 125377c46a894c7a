package blockmax

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shoal-search/shoal/shard/seismic"
)

// Vector is one sparse vector: component ids and their weights. A query's
// ids may come in any order, and a repeated id counts once per occurrence
// (as in term-at-a-time scoring). It is seismic's type.
type Vector = seismic.Vector

// Forward is a collection of sparse vectors in compressed-row form (row i
// has Indices[Offsets[i]:Offsets[i+1]], strictly ascending); row numbers
// become document ids 0..Len()-1. It is seismic's type, so a segment's
// forward index feeds both.
type Forward = seismic.Forward

// validate checks f's compressed-row invariants (seismic.Forward.Validate)
// and what this index adds: no entries without offsets, fewer than 2^32 - 1
// rows. It returns the vocabulary size.
func validate(f Forward) (uint32, error) {
	if len(f.Offsets) == 0 && (len(f.Indices) != 0 || len(f.Values) != 0) {
		return 0, fmt.Errorf("%w: entries without offsets", ErrInput)
	}
	if f.Len() >= math.MaxUint32 {
		return 0, fmt.Errorf("%w: %d rows, at most %d", ErrInput, f.Len(), math.MaxUint32-1)
	}
	dim, err := f.Validate()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return dim, nil
}

// Index is a built block-max index over documents 0..Len()-1. It is
// immutable after Build, Load or Open: any number of goroutines may call
// Search at once. Close releases a memory-mapped file; an index must not be
// searched after Close.
type Index struct {
	n     int    // documents
	dim   uint32 // vocabulary size of the input ids
	shift uint32 // log2 of the block size

	// terms lists the component ids that have postings, ascending; list i
	// belongs to component terms[i].
	terms []uint32
	// List i owns postings docs/vals[listOff[i]:listOff[i+1]] (ascending
	// documents) and blocks listBlk[i]..listBlk[i+1]; the j-th block of a
	// list holds its postings j·B..(j+1)·B-1.
	listOff []uint64
	listBlk []uint64
	// listMax and listMin are the exact extremes of list i's values; block
	// b's values are at most float64(scale[i])·float64(blkMax[b]).
	listMax []float32
	listMin []float32
	scale   []float32
	// blkLast is the last document of each block.
	blkLast []uint32
	blkMax  []uint8
	docs    []uint32
	vals    []float32

	pool   sync.Pool
	mapped []byte // non-nil when backed by mmap
	closed atomic.Bool
}

// Len returns the number of documents.
func (ix *Index) Len() int { return ix.n }

// Dim returns the vocabulary size of the document ids the index was built
// from.
func (ix *Index) Dim() uint32 { return ix.dim }

// BlockSize returns the number of postings per block.
func (ix *Index) BlockSize() int { return 1 << ix.shift }

// Stats describes an index's size.
type Stats struct {
	// Docs is the number of documents.
	Docs int `json:"docs"`
	// Terms is the number of components with postings.
	Terms int `json:"terms"`
	// Postings is the number of postings (every entry of every document).
	Postings int `json:"postings"`
	// Blocks is the number of blocks.
	Blocks int `json:"blocks"`
	// BlockSize is the number of postings per block.
	BlockSize int `json:"block_size"`
	// Bytes is the memory of all arrays.
	Bytes int64 `json:"bytes"`
}

// Stats returns the index's size.
func (ix *Index) Stats() Stats {
	m := int64(len(ix.terms))
	nb := int64(len(ix.blkLast))
	nnz := int64(len(ix.docs))
	return Stats{
		Docs: ix.n, Terms: int(m), Postings: int(nnz), Blocks: int(nb), BlockSize: ix.BlockSize(),
		Bytes: m*4 + (m+1)*16 + m*12 + nb*5 + nnz*8,
	}
}

// list returns the list index of component t.
func (ix *Index) list(t uint32) (int, bool) {
	lo, hi := 0, len(ix.terms)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ix.terms[mid] < t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(ix.terms) && ix.terms[lo] == t
}

// Build indexes docs. It is deterministic: the same input and Config give
// the same index and the same file.
func Build(docs Forward, cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dim, err := validate(docs)
	if err != nil {
		return nil, err
	}
	n := docs.Len()
	ix := &Index{n: n, dim: dim, shift: shiftOf(cfg.BlockSize)}
	// Count postings per component, then number the used components in
	// ascending order: dense arrays for vocabularies up to 4M ids, a map
	// beyond.
	var listOf func(t uint32) uint32
	if dim <= 1<<22 {
		cnt := make([]uint32, dim)
		for _, t := range docs.Indices {
			cnt[t]++
		}
		for t, c := range cnt {
			if c > 0 {
				ix.terms = append(ix.terms, uint32(t))
			}
		}
		ix.listOff = make([]uint64, len(ix.terms)+1)
		for i, t := range ix.terms {
			ix.listOff[i+1] = ix.listOff[i] + uint64(cnt[t])
			cnt[t] = uint32(i)
		}
		listOf = func(t uint32) uint32 { return cnt[t] }
	} else {
		cnt := map[uint32]uint32{}
		for _, t := range docs.Indices {
			cnt[t]++
		}
		for t := range cnt {
			ix.terms = append(ix.terms, t)
		}
		slices.Sort(ix.terms)
		ix.listOff = make([]uint64, len(ix.terms)+1)
		for i, t := range ix.terms {
			ix.listOff[i+1] = ix.listOff[i] + uint64(cnt[t])
			cnt[t] = uint32(i)
		}
		listOf = func(t uint32) uint32 { return cnt[t] }
	}
	m := len(ix.terms)
	nnz := len(docs.Indices)
	ix.docs = make([]uint32, nnz)
	ix.vals = make([]float32, nnz)
	pos := make([]uint64, m)
	copy(pos, ix.listOff[:m])
	for d := 0; d < n; d++ {
		for j := docs.Offsets[d]; j < docs.Offsets[d+1]; j++ {
			l := listOf(docs.Indices[j])
			ix.docs[pos[l]] = uint32(d)
			ix.vals[pos[l]] = docs.Values[j]
			pos[l]++
		}
	}
	ix.buildBlocks()
	return ix, nil
}

// buildBlocks computes the list extremes, the block boundaries and the
// quantized block maxima from listOff, docs and vals.
func (ix *Index) buildBlocks() {
	m := len(ix.listOff) - 1
	bs := uint64(1) << ix.shift
	ix.listBlk = make([]uint64, m+1)
	for i := range m {
		ln := ix.listOff[i+1] - ix.listOff[i]
		ix.listBlk[i+1] = ix.listBlk[i] + (ln+bs-1)/bs
	}
	nb := ix.listBlk[m]
	ix.listMax = make([]float32, m)
	ix.listMin = make([]float32, m)
	ix.scale = make([]float32, m)
	ix.blkLast = make([]uint32, nb)
	ix.blkMax = make([]uint8, nb)
	for i := range m {
		a, e := ix.listOff[i], ix.listOff[i+1]
		vs := ix.vals[a:e]
		lo, hi := vs[0], vs[0]
		for _, v := range vs {
			lo, hi = min(lo, v), max(hi, v)
		}
		ix.listMin[i], ix.listMax[i] = lo, hi
		sc := scaleFor(hi)
		ix.scale[i] = sc
		for b := ix.listBlk[i]; b < ix.listBlk[i+1]; b++ {
			p0 := a + (b-ix.listBlk[i])*bs
			p1 := min(p0+bs, e)
			bm := ix.vals[p0]
			for _, v := range ix.vals[p0:p1] {
				bm = max(bm, v)
			}
			ix.blkLast[b] = ix.docs[p1-1]
			ix.blkMax[b] = codeFor(bm, sc)
		}
	}
}

// scaleFor returns the quantization step of a list whose largest value is
// hi: the smallest float32 s with 255·s >= hi (0 when hi <= 0).
func scaleFor(hi float32) float32 {
	if !(hi > 0) {
		return 0
	}
	s := hi / 255
	for float64(s)*255 < float64(hi) {
		s = math.Nextafter32(s, float32(math.Inf(1)))
	}
	return s
}

// codeFor returns the smallest code c with float64(scale)·c >= v, so that
// the decoded bound is never below the block's true maximum. With scale from
// scaleFor, 255 always qualifies.
func codeFor(v, scale float32) uint8 {
	if !(v > 0) || scale == 0 {
		return 0
	}
	c := min(math.Ceil(float64(v)/float64(scale)), 255)
	for c < 255 && float64(scale)*c < float64(v) {
		c++
	}
	for c > 0 && float64(scale)*(c-1) >= float64(v) {
		c--
	}
	return uint8(c)
}
