package seismic

import (
	"slices"

	"github.com/shoal-search/shoal/internal/topk"
)

// reorder permutes the documents so that each one sits with the other
// documents of the block it belongs to in the list of its heaviest
// component (the first of its DocCut largest components whose pruned list
// holds it). Documents in no list go last. The forward index, postings and
// block order are rewritten in the new positions.
func (b *builder) reorder() {
	ix, dc := b.ix, b.cfg.DocCut
	n := ix.n
	if n == 0 {
		return
	}
	nb := len(ix.blkOff) - 1
	key := make([]uint32, n)
	rank := make([]uint8, n)
	for d := range key {
		key[d], rank[d] = uint32(nb), 255
	}
	for t := 0; t < int(ix.m); t++ {
		for bl := ix.listBlk[t]; bl < ix.listBlk[t+1]; bl++ {
			for _, d := range ix.post[ix.blkOff[bl]:ix.blkOff[bl+1]] {
				top := b.dcT[int(d)*dc : int(d+1)*dc]
				for r, u := range top {
					if u == uint32(t) {
						if uint8(r) < rank[d] {
							rank[d], key[d] = uint8(r), bl
						}
						break
					}
				}
			}
		}
	}
	// Counting sort of documents by key, stable in row order.
	start := make([]uint32, nb+2)
	for _, k := range key {
		start[k+1]++
	}
	for k := 1; k < len(start); k++ {
		start[k] += start[k-1]
	}
	perm := make([]uint32, n)
	inv := make([]uint32, n)
	for d, k := range key {
		p := start[k]
		start[k]++
		perm[p], inv[d] = uint32(d), p
	}
	key, rank, start = nil, nil, nil
	// Rewrite the forward index in the new order.
	off := make([]uint64, n+1)
	for p, d := range perm {
		off[p+1] = off[p] + (ix.fOff[d+1] - ix.fOff[d])
	}
	move := func(p0, p1 int, fn func(dst, src, l uint64)) {
		for p := p0; p < p1; p++ {
			d := perm[p]
			fn(off[p], ix.fOff[d], ix.fOff[d+1]-ix.fOff[d])
		}
	}
	if ix.fP != nil {
		nf := make([]uint32, len(ix.fP))
		adviseHuge(nf)
		parallel(n, 4096, b.workers, func(_, lo, hi int) {
			move(lo, hi, func(dst, src, l uint64) { copy(nf[dst:dst+l], ix.fP[src:src+l]) })
		})
		ix.fP = nf
	}
	if ix.fT16 != nil {
		nf := make([]uint16, len(ix.fT16))
		adviseHuge(nf)
		parallel(n, 4096, b.workers, func(_, lo, hi int) {
			move(lo, hi, func(dst, src, l uint64) { copy(nf[dst:dst+l], ix.fT16[src:src+l]) })
		})
		ix.fT16 = nf
	}
	if ix.fT32 != nil {
		nf := make([]uint32, len(ix.fT32))
		adviseHuge(nf)
		parallel(n, 4096, b.workers, func(_, lo, hi int) {
			move(lo, hi, func(dst, src, l uint64) { copy(nf[dst:dst+l], ix.fT32[src:src+l]) })
		})
		ix.fT32 = nf
	}
	if ix.fV16 != nil {
		nf := make([]uint16, len(ix.fV16))
		adviseHuge(nf)
		parallel(n, 4096, b.workers, func(_, lo, hi int) {
			move(lo, hi, func(dst, src, l uint64) { copy(nf[dst:dst+l], ix.fV16[src:src+l]) })
		})
		ix.fV16 = nf
	}
	if ix.fV32 != nil {
		nf := make([]float32, len(ix.fV32))
		adviseHuge(nf)
		parallel(n, 4096, b.workers, func(_, lo, hi int) {
			move(lo, hi, func(dst, src, l uint64) { copy(nf[dst:dst+l], ix.fV32[src:src+l]) })
		})
		ix.fV32 = nf
	}
	ix.fOff = off
	// Postings in positions, ascending inside each block.
	parallel(nb, 1024, b.workers, func(_, lo, hi int) {
		for bl := lo; bl < hi; bl++ {
			ds := ix.post[ix.blkOff[bl]:ix.blkOff[bl+1]]
			for i, d := range ds {
				ds[i] = inv[d]
			}
			slices.Sort(ds)
		}
	})
	// docTops are indexed by row; permute them for the kNN build.
	nt, nv := make([]uint32, len(b.dcT)), make([]float32, len(b.dcV))
	for p, d := range perm {
		copy(nt[p*dc:(p+1)*dc], b.dcT[int(d)*dc:int(d+1)*dc])
		copy(nv[p*dc:(p+1)*dc], b.dcV[int(d)*dc:int(d+1)*dc])
	}
	b.dcT, b.dcV = nt, nv
	ix.perm, ix.inv = perm, inv
}

// toRows maps result positions to input rows and restores the result order
// (score descending, smaller row first on ties).
func (ix *Index) toRows(items []topk.Item) {
	if ix.perm == nil {
		return
	}
	for i := range items {
		items[i].ID = ix.perm[items[i].ID]
	}
	slices.SortFunc(items, func(a, b topk.Item) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// row returns the input row of position p.
func (ix *Index) rowOf(p uint32) uint32 {
	if ix.perm == nil {
		return p
	}
	return ix.perm[p]
}
