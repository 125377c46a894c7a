package seismic

import "github.com/shoal-search/shoal/internal/topk"

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
			s.ts, s.vs = ix.row(uint32(d), s.ts, s.vs)
			for j, t := range s.ts {
				if s.q[t] == 0 {
					s.qt = append(s.qt, t)
				}
				s.q[t] += s.vs[j]
			}
			res = ix.search(s, k+1, p, nil, res[:0])
			for _, c := range s.qt {
				s.q[c] = 0
			}
			s.qt = s.qt[:0]
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
