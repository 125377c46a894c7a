package main

import (
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/seismic"
)

// sparseDefault is what a new collection gets for its sparse field: the
// index its segments build and the way a query without knobs searches it.
type sparseDefault struct {
	ix     *seismic.Index
	cfg    seismic.Config
	params seismic.SearchParams
	target float64
	// exact is the block-max index a segment also builds when its
	// calibration does not reach the target; searches then use it.
	exact *blockmax.Index
}

// defaultSparseIndex builds over fwd the index a new collection gets and
// returns it with the search settings a query without knobs gets: the
// adaptive Seismic build of seismic.DefaultConfig() (shard.DefaultConfig's
// Seismic), searched with the settings its calibration table gives for the
// default target recall (shard.DefaultSparseDefaults), or, as a sealed
// segment does when the table does not reach the target, through the exact
// block-max index. The seismic-default line of every run follows it.
func defaultSparseIndex(fwd seismic.Forward) (sparseDefault, error) {
	cfg := seismic.DefaultConfig()
	ix, err := seismic.Build(fwd, cfg)
	if err != nil {
		return sparseDefault{}, err
	}
	d := sparseDefault{ix: ix, cfg: cfg, target: shard.DefaultSparseDefaults().TargetRecall}
	p, e, ok := ix.ParamsFor(d.target, seismic.DefaultSearchParams())
	d.params = p
	if ok && !e.Reached {
		if d.exact, err = blockmax.Build(blockmax.Forward(fwd), blockmax.DefaultConfig()); err != nil {
			return sparseDefault{}, err
		}
	}
	return d, nil
}

// search answers one query the default way, with the number of documents
// scored.
func (d sparseDefault) search(q seismic.Vector, k int, dst []topk.Item) ([]topk.Item, int) {
	if d.exact != nil {
		return d.exact.SearchCounted(blockmax.Vector{Indices: q.Indices, Values: q.Values}, k, dst)
	}
	return d.ix.SearchCounted(q, k, d.params, dst)
}

// bytes is the memory of the default's indexes.
func (d sparseDefault) bytes() int64 {
	n := d.ix.Stats().TotalBytes
	if d.exact != nil {
		n += d.exact.Stats().Bytes
	}
	return n
}

// describe reports the default's search settings and build configuration
// for the seismic-default line.
func (d sparseDefault) describe() map[string]any {
	m := map[string]any{"query_cut": d.params.QueryCut, "heap_factor": d.params.HeapFactor,
		"first_list_order": d.params.FirstListOrder, "knn": d.params.KNN, "config": configMap(d.cfg),
		"target_recall": d.target, "path": "seismic"}
	if d.exact != nil {
		m["path"] = "exact-blockmax"
	}
	return m
}
