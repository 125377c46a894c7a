// Package topk keeps the k best-scoring items of a stream and merges sorted
// top-k lists. Higher scores are better everywhere in shoal; callers that
// rank by distance negate it first.
//
//	h := topk.New(10)
//	for id, s := range scores {
//		h.Push(uint32(id), s)
//	}
//	best := h.Sorted(nil) // best first
package topk

import (
	"math"
	"slices"
)

// Item is a document (or row) id with its score.
type Item struct {
	ID    uint32
	Score float32
}

// less reports whether a ranks below b: lower score, or equal score and larger
// id. Ties therefore break toward the smaller id, which keeps results
// deterministic across replicas.
func less(a, b Item) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.ID > b.ID
}

// Heap is a bounded min-heap holding the k best items seen so far. The zero
// value is not usable; call New or Reset. A Heap is not safe for concurrent
// use.
type Heap struct {
	k     int
	items []Item
}

// New returns a heap that keeps the k best items.
func New(k int) *Heap {
	h := &Heap{}
	h.Reset(k)
	return h
}

// Reset empties the heap and sets its capacity to k, keeping its storage.
func (h *Heap) Reset(k int) {
	if k < 1 {
		k = 1
	}
	h.k = k
	if cap(h.items) < k {
		h.items = make([]Item, 0, k)
	}
	h.items = h.items[:0]
}

// K returns the heap's capacity.
func (h *Heap) K() int { return h.k }

// Len returns the number of items held.
func (h *Heap) Len() int { return len(h.items) }

// Full reports whether the heap holds k items.
func (h *Heap) Full() bool { return len(h.items) >= h.k }

// Min returns the score of the worst item held; it is only meaningful when
// Len() > 0.
func (h *Heap) Min() float32 { return h.items[0].Score }

// Threshold returns the score an item must beat to enter a full heap, or
// negative infinity when the heap is not full yet.
func (h *Heap) Threshold() float32 {
	if len(h.items) < h.k {
		return negInf
	}
	return h.items[0].Score
}

// Push offers an item and reports whether it was kept.
func (h *Heap) Push(id uint32, score float32) bool {
	it := Item{ID: id, Score: score}
	if len(h.items) < h.k {
		h.items = append(h.items, it)
		h.up(len(h.items) - 1)
		return true
	}
	if !less(h.items[0], it) {
		return false
	}
	h.items[0] = it
	h.down(0)
	return true
}

func (h *Heap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(h.items[i], h.items[p]) {
			return
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *Heap) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(h.items[r], h.items[l]) {
			m = r
		}
		if !less(h.items[m], h.items[i]) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}

// Sorted appends the held items to dst, best first, and returns it. The heap
// is left empty.
func (h *Heap) Sorted(dst []Item) []Item {
	start := len(dst)
	dst = append(dst, h.items...)
	SortItems(dst[start:])
	h.items = h.items[:0]
	return dst
}

// SortItems sorts items best first (descending score, ascending id on ties).
// It does not allocate.
func SortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int {
		switch {
		case less(b, a):
			return -1
		case less(a, b):
			return 1
		}
		return 0
	})
}

// Merge returns the k best items of lists that are each sorted best first.
// An id appearing in several lists is kept once, with its best score.
func Merge(k int, lists ...[]Item) []Item {
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	all := make([]Item, 0, total)
	for _, l := range lists {
		all = append(all, l...)
	}
	SortItems(all)
	seen := make(map[uint32]struct{}, min(total, 4*k))
	out := make([]Item, 0, min(k, total))
	for _, it := range all {
		if len(out) == k {
			break
		}
		if _, dup := seen[it.ID]; dup {
			continue
		}
		seen[it.ID] = struct{}{}
		out = append(out, it)
	}
	return out
}

var negInf = float32(math.Inf(-1))
