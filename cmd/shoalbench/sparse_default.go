package main

import (
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/seismic"
)

// sparseDefault is what a new collection gets for its sparse field: the
// index its segments build and the way a query without knobs searches it.
type sparseDefault struct {
	ix     *seismic.Index
	cfg    seismic.Config
	params seismic.SearchParams
}

// defaultSparseIndex builds over fwd the index a new collection gets and
// returns it with the search settings a query without knobs gets. Today
// that is seismic.DefaultConfig() (shard.DefaultConfig's Seismic) and
// seismic.DefaultSearchParams() (what a segment searches with when the
// query sets no query_cut or heap_factor). This is the one place to change
// when the default changes (a data-adaptive, calibrated build searched by
// a recall target): the seismic-default line of every run follows it.
func defaultSparseIndex(fwd seismic.Forward) (sparseDefault, error) {
	cfg := seismic.DefaultConfig()
	ix, err := seismic.Build(fwd, cfg)
	if err != nil {
		return sparseDefault{}, err
	}
	return sparseDefault{ix: ix, cfg: cfg, params: seismic.DefaultSearchParams()}, nil
}

// search answers one query the default way, with the number of documents
// scored.
func (d sparseDefault) search(q seismic.Vector, k int, dst []topk.Item) ([]topk.Item, int) {
	return d.ix.SearchCounted(q, k, d.params, dst)
}

// describe reports the default's search settings and build configuration
// for the seismic-default line.
func (d sparseDefault) describe() map[string]any {
	return map[string]any{"query_cut": d.params.QueryCut, "heap_factor": d.params.HeapFactor,
		"first_list_order": d.params.FirstListOrder, "knn": d.params.KNN, "config": configMap(d.cfg)}
}
