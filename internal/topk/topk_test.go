package topk

import (
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHeapKeepsBest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := r.IntN(200) + 1
		k := r.IntN(20) + 1
		scores := make([]Item, n)
		h := New(k)
		for i := range scores {
			s := float32(r.IntN(50))
			scores[i] = Item{ID: uint32(i), Score: s}
			h.Push(uint32(i), s)
		}
		got := h.Sorted(nil)
		SortItems(scores)
		want := scores[:min(k, n)]
		if len(got) != len(want) {
			t.Fatalf("got %d items, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("trial %d item %d: got %v, want %v", trial, i, got[i], want[i])
			}
		}
	}
}

func TestMergeDedups(t *testing.T) {
	a := []Item{{1, 5}, {2, 3}}
	b := []Item{{1, 4}, {3, 3.5}}
	got := Merge(3, a, b)
	want := []Item{{1, 5}, {3, 3.5}, {2, 3}}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Score > got[j].Score }) || len(got) != 3 {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestPushAllocs(t *testing.T) {
	h := New(10)
	allocs := testing.AllocsPerRun(100, func() {
		h.Reset(10)
		for i := 0; i < 100; i++ {
			h.Push(uint32(i), float32(i%17))
		}
	})
	if allocs != 0 {
		t.Fatalf("got %v allocs per run, want 0", allocs)
	}
}

func TestSortedAllocs(t *testing.T) {
	h := New(10)
	dst := make([]Item, 0, 10)
	allocs := testing.AllocsPerRun(100, func() {
		h.Reset(10)
		for i := 0; i < 100; i++ {
			h.Push(uint32(i), float32(i%17))
		}
		dst = h.Sorted(dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("got %v allocs per run, want 0", allocs)
	}
}
