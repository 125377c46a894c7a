package embtable

import (
	"cmp"
	"slices"

	"github.com/shoal-search/shoal/internal/topk"
)

// heap is a bounded min-heap of the k best items, ordered like topk.Heap
// (higher score first, smaller id on ties). Unlike topk.Heap it sorts its
// result without allocating, which keeps Search allocation-free.
type heap struct {
	k     int
	items []topk.Item
}

// worse reports whether a ranks below b.
func worse(a, b topk.Item) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.ID > b.ID
}

func (h *heap) reset(k int) {
	h.k = max(1, k)
	if cap(h.items) < h.k {
		h.items = make([]topk.Item, 0, h.k)
	}
	h.items = h.items[:0]
}

func (h *heap) full() bool { return len(h.items) >= h.k }

// threshold returns the worst score held; only meaningful when full.
func (h *heap) threshold() float32 { return h.items[0].Score }

// offer pushes an item unless the heap is full and the score is below its
// threshold; the cheap test is inlined into the scan loops.
func (h *heap) offer(id uint32, score float32) {
	if len(h.items) >= h.k && score < h.items[0].Score {
		return
	}
	h.push(id, score)
}

func (h *heap) push(id uint32, score float32) {
	it := topk.Item{ID: id, Score: score}
	items := h.items
	if len(items) < h.k {
		items = append(items, it)
		i := len(items) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !worse(items[i], items[p]) {
				break
			}
			items[i], items[p] = items[p], items[i]
			i = p
		}
		h.items = items
		return
	}
	if !worse(items[0], it) {
		return
	}
	items[0] = it
	n, i := len(items), 0
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && worse(items[r], items[l]) {
			m = r
		}
		if !worse(items[m], items[i]) {
			return
		}
		items[i], items[m] = items[m], items[i]
		i = m
	}
}

// sorted appends the items best first to dst and empties the heap.
func (h *heap) sorted(dst []topk.Item) []topk.Item {
	start := len(dst)
	dst = append(dst, h.items...)
	slices.SortFunc(dst[start:], bestFirst)
	h.items = h.items[:0]
	return dst
}

func bestFirst(a, b topk.Item) int {
	if a.Score != b.Score {
		return cmp.Compare(b.Score, a.Score)
	}
	return cmp.Compare(a.ID, b.ID)
}
