package seismic

import (
	"fmt"
	"sync"

	"github.com/shoal-search/shoal/internal/topk"
)

// maxExactDim bounds the vocabulary of the exact baselines, which keep one
// list head per component id.
const maxExactDim = 1 << 24

// Exact answers queries exactly, term at a time over the full (unpruned)
// inverted index with a dense accumulator. It is the ground truth and the
// speed baseline. It is safe for concurrent use.
type Exact struct {
	n    int
	off  []uint64 // list t is docs[off[t]:off[t+1]]
	docs []uint32
	vals []float32
	pool sync.Pool
}

// NewExact builds the unpruned inverted index of docs.
func NewExact(docs Forward) (*Exact, error) {
	dim, err := docs.validate()
	if err != nil {
		return nil, err
	}
	if dim > maxExactDim {
		return nil, fmt.Errorf("%w: exact baseline needs dim <= %d, got %d", ErrInput, maxExactDim, dim)
	}
	e := &Exact{n: docs.Len(), off: make([]uint64, uint64(dim)+1)}
	for _, t := range docs.Indices {
		e.off[t+1]++
	}
	for t := 1; t < len(e.off); t++ {
		e.off[t] += e.off[t-1]
	}
	e.docs = make([]uint32, len(docs.Indices))
	e.vals = make([]float32, len(docs.Indices))
	pos := make([]uint64, dim)
	copy(pos, e.off[:dim])
	for d := 0; d < e.n; d++ {
		for j := docs.Offsets[d]; j < docs.Offsets[d+1]; j++ {
			t := docs.Indices[j]
			e.docs[pos[t]] = uint32(d)
			e.vals[pos[t]] = docs.Values[j]
			pos[t]++
		}
	}
	return e, nil
}

type exactScratch struct {
	acc  []float32
	heap *topk.Heap
}

// Search returns the exact top k of q, appended to dst[:0].
func (e *Exact) Search(q Vector, k int, dst []topk.Item) []topk.Item {
	dst = dst[:0]
	if k <= 0 || e.n == 0 {
		return dst
	}
	s, ok := e.pool.Get().(*exactScratch)
	if !ok {
		s = &exactScratch{acc: make([]float32, e.n), heap: topk.New(k)}
	}
	acc := s.acc
	for j, t := range q.Indices {
		if j >= len(q.Values) || uint64(t)+1 >= uint64(len(e.off)) {
			continue
		}
		w := q.Values[j]
		a, b := e.off[t], e.off[t+1]
		ds, vs := e.docs[a:b], e.vals[a:b]
		vs = vs[:len(ds)]
		for i, d := range ds {
			// The conversion rounds the product, so no platform fuses it
			// into a multiply-add: shard/blockmax adds the same float32
			// products in the same order and must agree bit for bit.
			acc[d] += float32(w * vs[i])
		}
	}
	h := s.heap
	h.Reset(k)
	for d, v := range acc {
		if v != 0 {
			if !h.Full() || v >= h.Threshold() {
				h.Push(uint32(d), v)
			}
		}
	}
	clear(acc)
	dst = h.Sorted(dst)
	e.pool.Put(s)
	return dst
}

// Bytes returns the memory held by the unpruned inverted index.
func (e *Exact) Bytes() int64 {
	return int64(len(e.off)*8 + len(e.docs)*4 + len(e.vals)*4)
}

// ScanSearch returns the exact top k of q by scoring every row of docs (a
// forward-index scan), appended to dst[:0]. It allocates a dense query.
func ScanSearch(docs Forward, q Vector, k int, dst []topk.Item) []topk.Item {
	dst = dst[:0]
	if k <= 0 || docs.Len() == 0 {
		return dst
	}
	var dim uint32
	for _, t := range q.Indices {
		dim = max(dim, t+1)
	}
	dim = min(dim, maxExactDim)
	dq := make([]float32, dim)
	for j, t := range q.Indices {
		if j < len(q.Values) && t < dim {
			dq[t] += q.Values[j]
		}
	}
	h := topk.New(k)
	for d := 0; d < docs.Len(); d++ {
		a, b := docs.Offsets[d], docs.Offsets[d+1]
		ts, vs := docs.Indices[a:b], docs.Values[a:b]
		var s float32
		for i, t := range ts {
			if t < dim {
				s += dq[t] * vs[i]
			}
		}
		if s != 0 {
			h.Push(uint32(d), s)
		}
	}
	return h.Sorted(dst)
}
