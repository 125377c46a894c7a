package shardsvc

import (
	"github.com/shoal-search/shoal/internal/wire"
	"github.com/shoal-search/shoal/shard"
)

// DocumentFromWire converts a wire document to the engine's form. The
// vectors are copied so that the engine owns them.
func DocumentFromWire(w *wire.Document) *shard.Document {
	d := &shard.Document{ID: w.GetId()}
	if sp := w.GetSparse(); sp != nil && (len(sp.Indices) > 0 || len(sp.Values) > 0) {
		d.Sparse = shard.SparseVec{Indices: append([]uint32(nil), sp.Indices...), Values: append([]float32(nil), sp.Values...)}
	}
	if len(w.Dense) > 0 {
		d.Dense = append([]float32(nil), w.Dense...)
	}
	if len(w.Multi) > 0 {
		d.Multi = append([]float32(nil), w.Multi...)
	}
	if len(w.Attrs) > 0 {
		d.Attrs = make(map[string]shard.Attr, len(w.Attrs))
		for k, v := range w.Attrs {
			d.Attrs[k] = AttrFromWire(v)
		}
	}
	return d
}

// DocumentToWire converts an engine document to its wire form.
func DocumentToWire(d *shard.Document) *wire.Document {
	w := &wire.Document{Id: d.ID, Dense: d.Dense, Multi: d.Multi}
	if len(d.Sparse.Indices) > 0 {
		w.Sparse = &wire.SparseVector{Indices: d.Sparse.Indices, Values: d.Sparse.Values}
	}
	if len(d.Attrs) > 0 {
		w.Attrs = make(map[string]*wire.Attr, len(d.Attrs))
		for k, a := range d.Attrs {
			w.Attrs[k] = AttrToWire(a)
		}
	}
	return w
}

// AttrFromWire converts a wire attribute value. An empty value becomes an
// attribute of kind 0, which validation rejects.
func AttrFromWire(v *wire.Attr) shard.Attr {
	switch x := v.GetValue().(type) {
	case *wire.Attr_Keyword:
		return shard.Attr{Kind: shard.AttrKeyword, Str: x.Keyword}
	case *wire.Attr_Int:
		return shard.Attr{Kind: shard.AttrInt, Int: x.Int}
	case *wire.Attr_Float:
		return shard.Attr{Kind: shard.AttrFloat, Float: x.Float}
	}
	return shard.Attr{}
}

// AttrToWire converts an attribute value to its wire form.
func AttrToWire(a shard.Attr) *wire.Attr {
	switch a.Kind {
	case shard.AttrKeyword:
		return &wire.Attr{Value: &wire.Attr_Keyword{Keyword: a.Str}}
	case shard.AttrInt:
		return &wire.Attr{Value: &wire.Attr_Int{Int: a.Int}}
	case shard.AttrFloat:
		return &wire.Attr{Value: &wire.Attr_Float{Float: a.Float}}
	}
	return &wire.Attr{}
}

// QueryFromWire converts a wire search request to an engine query.
func QueryFromWire(r *wire.SearchRequest) shard.Query {
	q := shard.Query{K: int(r.GetK()), Exact: r.Exact, Params: shard.QueryParams{
		QueryCut: int(r.QueryCut), HeapFactor: r.HeapFactor, NProbe: int(r.Nprobe),
		Oversample: int(r.Oversample), Candidates: int(r.Candidates), TargetRecall: float64(r.TargetRecall),
	}}
	if sp := r.GetSparse(); sp != nil {
		q.Sparse = &shard.SparseVec{Indices: sp.Indices, Values: sp.Values}
	}
	if len(r.Dense) > 0 {
		q.Dense = r.Dense
	}
	if len(r.Multi) > 0 {
		q.Multi = r.Multi
	}
	for _, c := range r.Filter {
		cond := shard.Cond{Field: c.GetField(), Gte: c.Gte, Lte: c.Lte}
		for _, a := range c.Any {
			cond.Any = append(cond.Any, AttrFromWire(a))
		}
		q.Filter = append(q.Filter, cond)
	}
	return q
}

func hitsToWire(h []shard.Hit) *wire.HitList {
	l := &wire.HitList{Hits: make([]*wire.Hit, len(h))}
	for i, x := range h {
		l.Hits[i] = &wire.Hit{Id: x.ID, Score: x.Score}
	}
	return l
}
