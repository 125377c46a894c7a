package seismic

import (
	"slices"

	"github.com/shoal-search/shoal/internal/topk"
)

// knnWindow caps the members of one block that buildKNNBlocks scores
// against a document: k-means blocks are uneven, and a document is more
// likely to sit in a large one.
var knnWindow = 24

// buildKNN stores, for every document, its k nearest documents found by
// searching the index with the document itself (SeismicWave). Documents
// with fewer than k neighbours repeat their last neighbour (or themselves).
func (ix *Index) buildKNN(k int, p SearchParams, workers int) {
	ix.knnK = k
	ix.knn = make([]uint32, ix.n*k)
	p.KNN = false
	parallel(ix.n, 256, workers, func(_, lo, hi int) {
		s := ix.getScratch()
		defer ix.pool.Put(s)
		var res = make([]topk.Item, 0, k+1)
		for d := lo; d < hi; d++ {
			ix.loadRow(s, uint32(d))
			res = ix.search(s, k+1, p, nil, res[:0])
			s.clearQuery()
			out := ix.knn[d*k : (d+1)*k]
			last := uint32(d)
			i := 0
			for _, it := range res {
				if it.ID == uint32(d) || i == k {
					continue
				}
				out[i] = it.ID
				last = it.ID
				i++
			}
			for ; i < k; i++ {
				out[i] = last
			}
		}
	})
}

// buildKNNBlocks stores, for every document, its k nearest documents among
// the other members of the blocks that hold it in the lists of its
// heaviest components, up to lists such blocks. Blocks are k-means clusters
// of similar documents, so this finds most of the neighbours a search
// would at a small fraction of the cost (a few dozen dot products per
// document, independent of the collection size). It needs the builder's
// per-document top terms, so it runs before they are dropped.
func (b *builder) buildKNNBlocks(k, lists int) {
	ix, dc := b.ix, b.cfg.DocCut
	ix.knnK = k
	ix.knn = make([]uint32, ix.n*k)
	nb := len(ix.blkOff) - 1
	blkTerm := make([]uint32, nb)
	for t := 0; t < int(ix.m); t++ {
		for bl := ix.listBlk[t]; bl < ix.listBlk[t+1]; bl++ {
			blkTerm[bl] = uint32(t)
		}
	}
	// memb[mOff[d]:mOff[d+1]] are the blocks that hold document d.
	mOff := make([]uint64, ix.n+1)
	for _, d := range ix.post {
		mOff[d+1]++
	}
	for d := 1; d <= ix.n; d++ {
		mOff[d] += mOff[d-1]
	}
	memb := make([]uint32, len(ix.post))
	fill := make([]uint64, ix.n)
	copy(fill, mOff[:ix.n])
	for bl := 0; bl < nb; bl++ {
		for _, d := range ix.post[ix.blkOff[bl]:ix.blkOff[bl+1]] {
			memb[fill[d]] = uint32(bl)
			fill[d]++
		}
	}
	fill = nil
	parallel(ix.n, 256, b.workers, func(_, lo, hi int) {
		s := ix.getScratch()
		defer ix.pool.Put(s)
		s.heap.Reset(k)
		res := make([]topk.Item, 0, k)
		for d := lo; d < hi; d++ {
			ix.loadRow(s, uint32(d))
			self := uint32(d)
			s.visited[self>>6] |= 1 << (self & 63)
			s.seen = append(s.seen, self)
			found := 0
			for _, t := range b.dcT[d*dc : (d+1)*dc] {
				if t == noTerm || found == lists {
					break
				}
				for _, bl := range memb[mOff[d]:mOff[d+1]] {
					if blkTerm[bl] != t {
						continue
					}
					found++
					// Large blocks: the knnWindow members nearest to d in
					// the layout, where documents of d's own block sit.
					mem := ix.post[ix.blkOff[bl]:ix.blkOff[bl+1]]
					if len(mem) > knnWindow {
						i, _ := slices.BinarySearch(mem, self)
						lo := min(max(0, i-knnWindow/2), len(mem)-knnWindow)
						mem = mem[lo : lo+knnWindow]
					}
					for _, c := range mem {
						w, bit := c>>6, uint64(1)<<(c&63)
						if s.visited[w]&bit != 0 {
							continue
						}
						s.visited[w] |= bit
						s.seen = append(s.seen, c)
						s.heap.Push(c, ix.score(s, c))
					}
					break
				}
			}
			res = s.heap.Sorted(res[:0])
			s.heap.Reset(k)
			for _, c := range s.seen {
				s.visited[c>>6] = 0
			}
			s.seen = s.seen[:0]
			s.clearQuery()
			out := ix.knn[d*k : (d+1)*k]
			last := self
			for i := range out {
				if i < len(res) {
					last = res[i].ID
				}
				out[i] = last
			}
		}
	})
}

// loadRow sets the dense query of s to document d's row.
func (ix *Index) loadRow(s *scratch, d uint32) {
	s.ts, s.vs = ix.row(d, s.ts, s.vs)
	for j, t := range s.ts {
		if s.q[t] == 0 {
			s.qt = append(s.qt, t)
		}
		s.q[t] += s.vs[j]
	}
}
