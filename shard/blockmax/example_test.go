package blockmax_test

import (
	"fmt"

	"github.com/shoal-search/shoal/shard/blockmax"
)

func Example() {
	// Three documents over a vocabulary of 4 components.
	docs := blockmax.Forward{
		Offsets: []int64{0, 2, 3, 5},
		Indices: []uint32{0, 2, 1, 0, 3},
		Values:  []float32{1.5, 0.5, 2, 0.25, 3},
	}
	ix, err := blockmax.Build(docs, blockmax.DefaultConfig())
	if err != nil {
		panic(err)
	}
	q := blockmax.Vector{Indices: []uint32{0, 3}, Values: []float32{1, 1}}
	for _, it := range ix.Search(q, 2, nil, nil, nil) {
		fmt.Println(it.ID, it.Score)
	}
	// Output:
	// 2 3.25
	// 0 1.5
}
