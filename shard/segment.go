package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/embtable"
	"github.com/shoal-search/shoal/shard/multivec"
	"github.com/shoal-search/shoal/shard/seismic"
)

func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

// segment is an immutable set of documents (rows 0..n-1) made by a seal or a
// compaction. Only its tombstones change (under Shard.mu), and its indexes are
// set once by the build goroutine.
type segment struct {
	id       uint64
	docs     []*Document
	norms    []norms
	dead     *roaring.Bitmap
	docBytes int64
	// hasSparse, hasDense and hasMulti hold the rows that have the field,
	// or are nil when every row has it.
	hasSparse, hasDense, hasMulti *roaring.Bitmap
	nSparse, nDense, nMulti       int
	// eq holds, per keyword or int attribute, the rows of each value.
	eq map[string]map[Attr]*roaring.Bitmap

	indexed bool // large enough to build indexes
	idx     atomic.Pointer[segIndex]

	// standIns are the segments a compaction merged into this one. While
	// this segment builds its indexes they answer for it, through their own
	// indexes, so a compaction never drops a shard to exact scoring. src maps
	// each row here to the same document's row in a stand-in, so a delete
	// reaches both. Both are guarded by Shard.mu and cleared once the build
	// ends; they are never persisted (a restored segment has none).
	standIns []*segment
	src      []srcRow
	// retired is set when a compaction replaces the segment; a build that
	// has not started by then is skipped (a replayed log would otherwise
	// build every segment that a later compaction drops).
	retired atomic.Bool
	// activated is set, under Shard.mu, by an activation command (see
	// Config.ActivateByCommand); segments restored from a snapshot keep it.
	activated bool
}

// srcRow is a row of one of a segment's stand-ins.
type srcRow struct {
	seg int32 // index into standIns
	row uint32
}

// segIndex holds a segment's indexes; a nil index means that modality is
// scored exactly (the segment has no such vectors, or its build failed).
type segIndex struct {
	sparse *seismic.Index
	exact  *blockmax.Index // instead of sparse when Config.SparseKind is SparseExact
	dense  *embtable.Table
	multi  *multivec.Store
	bytes  int64
}

func newSegment(id uint64, docs []*Document, schema *Schema) *segment {
	sg := &segment{id: id, docs: docs, dead: roaring.New(), norms: make([]norms, len(docs)), eq: map[string]map[Attr]*roaring.Bitmap{}}
	hs, hd, hm := roaring.New(), roaring.New(), roaring.New()
	for i, d := range docs {
		row := uint32(i)
		sg.norms[i] = computeNorms(d)
		sg.docBytes += int64(len(d.ID) + 8*len(d.Sparse.Indices) + 4*len(d.Dense) + 4*len(d.Multi))
		if len(d.Sparse.Indices) > 0 {
			hs.Add(row)
			sg.nSparse++
		}
		if d.Dense != nil {
			hd.Add(row)
			sg.nDense++
		}
		if d.Multi != nil {
			hm.Add(row)
			sg.nMulti++
		}
		for name, a := range d.Attrs {
			if a.Kind != AttrKeyword && a.Kind != AttrInt {
				continue
			}
			m := sg.eq[name]
			if m == nil {
				m = map[Attr]*roaring.Bitmap{}
				sg.eq[name] = m
			}
			b := m[a]
			if b == nil {
				b = roaring.New()
				m[a] = b
			}
			b.Add(row)
		}
	}
	n := len(docs)
	if sg.nSparse < n {
		sg.hasSparse = hs
	}
	if sg.nDense < n {
		sg.hasDense = hd
	}
	if sg.nMulti < n {
		sg.hasMulti = hm
	}
	return sg
}

// building reports whether the segment waits for its indexes.
func (sg *segment) building() bool { return sg.indexed && sg.idx.Load() == nil }

// markDead adds row to the tombstones, and to the stand-in that serves it
// while sg builds. Callers hold Shard.mu for writing.
func (sg *segment) markDead(row uint32) {
	sg.dead.Add(row)
	if sg.standIns != nil {
		r := sg.src[row]
		sg.standIns[r.seg].markDead(r.row)
	}
}

// usable reports whether searches may use sg's indexes: they are built and,
// when activation is by command, activated. Callers hold Shard.mu.
func (sg *segment) usable(byCommand bool) bool {
	return !sg.building() && (!byCommand || sg.activated || !sg.indexed)
}

// appendViews appends the views that answer for sg: its own through its
// indexes once they are usable; until then, after a compaction, its
// stand-ins', and otherwise its own scored exactly. Callers hold Shard.mu.
func (sg *segment) appendViews(dst []segView, p *prepared, byCommand bool) []segView {
	if sg.usable(byCommand) {
		return append(dst, sg.view(p))
	}
	if sg.standIns != nil {
		for _, st := range sg.standIns {
			dst = st.appendViews(dst, p, byCommand)
		}
		return dst
	}
	v := sg.view(p)
	v.idx = nil
	return append(dst, v)
}

// segView is what a search needs of a segment, taken under Shard.mu.
type segView struct {
	sg  *segment
	idx *segIndex
	// allowed holds the rows that pass the filter and are not deleted, or
	// is nil when every row does.
	allowed *roaring.Bitmap
}

func (sg *segment) view(p *prepared) segView {
	v := segView{sg: sg, idx: sg.idx.Load()}
	base := sg.filterRows(p.Filter)
	switch {
	case base == nil && sg.dead.IsEmpty():
	case base == nil:
		v.allowed = roaring.New()
		v.allowed.AddRange(0, uint64(len(sg.docs)))
		v.allowed.AndNot(sg.dead)
	default:
		base.AndNot(sg.dead)
		v.allowed = base
	}
	return v
}

// filterRows returns the rows matching f (a fresh bitmap), or nil for no
// filter. Equality on keyword and int attributes uses the segment's bitmaps;
// ranges scan the rows.
func (sg *segment) filterRows(f Filter) *roaring.Bitmap {
	if len(f) == 0 {
		return nil
	}
	var out *roaring.Bitmap
	for i := range f {
		c := &f[i]
		var rows *roaring.Bitmap
		if len(c.Any) > 0 && c.Gte == nil && c.Lte == nil && sg.eq[c.Field] != nil && eqKinds(c.Any) {
			rows = roaring.New()
			for _, v := range c.Any {
				if b := sg.eq[c.Field][v]; b != nil {
					rows.Or(b)
				}
			}
		} else {
			rows = roaring.New()
			for r, d := range sg.docs {
				if (out == nil || out.Contains(uint32(r))) && c.match(d) {
					rows.Add(uint32(r))
				}
			}
		}
		if out == nil {
			out = rows
		} else {
			out.And(rows)
		}
	}
	return out
}

func eqKinds(vals []Attr) bool {
	for _, v := range vals {
		if v.Kind != AttrKeyword && v.Kind != AttrInt {
			return false
		}
	}
	return true
}

// searchView searches one segment: through its indexes when they are built
// and cover every modality asked, exactly otherwise.
func (s *Shard) searchView(ctx context.Context, p *prepared, v *segView) (Result, error) {
	sg := v.sg
	ix := v.idx
	var sp seismic.SearchParams
	var viaExact bool
	if p.Sparse != nil && ix != nil && ix.sparse != nil {
		sp, viaExact = s.sparseParams(ix.sparse, p.Params)
		if viaExact && ix.exact == nil {
			// The segment's calibration found no setting reaching the
			// target and it has no exact block-max index (the query asks
			// for more than the collection's target): scan it exactly.
			ix = nil
		}
	}
	exact := p.Exact || ix == nil ||
		(p.Sparse != nil && sg.nSparse > 0 && ix.sparse == nil && ix.exact == nil) ||
		(p.Dense != nil && sg.nDense > 0 && ix.dense == nil) ||
		(p.Multi != nil && sg.nMulti > 0 && ix.multi == nil)
	if exact {
		rows := v.allowed
		if rows == nil {
			rows = roaring.New()
			rows.AddRange(0, uint64(len(sg.docs)))
		}
		q := *p
		q.Filter = nil // already in rows
		return s.scanLocked(ctx, &q, sg.docs, sg.norms, rows)
	}
	var res Result
	var items []topk.Item
	if p.Sparse != nil {
		res.Sparse = []Hit{}
		if ix.exact != nil && (ix.sparse == nil || viaExact) {
			items = ix.exact.Search(blockmax.Vector{Indices: p.Sparse.Indices, Values: p.Sparse.Values}, p.K, and(v.allowed, sg.hasSparse), nil, items[:0])
			res.Sparse = toHits(items, sg.docs)
		} else if ix.sparse != nil {
			items = ix.sparse.Search(seismic.Vector{Indices: p.Sparse.Indices, Values: p.Sparse.Values}, p.K, sp, and(v.allowed, sg.hasSparse), items[:0])
			res.Sparse = toHits(items, sg.docs)
		}
	}
	if p.Dense != nil {
		res.Dense = []Hit{}
		if ix.dense != nil {
			ep := embtable.DefaultSearchParams()
			if p.Params.NProbe > 0 {
				ep.NProbe = p.Params.NProbe
			}
			if p.Params.Oversample > 0 {
				ep.Oversample = p.Params.Oversample
			}
			items = ix.dense.Search(p.Dense, p.K, ep, and(v.allowed, sg.hasDense), items[:0])
			res.Dense = toHits(items, sg.docs)
		}
	}
	if p.Multi != nil {
		res.Multi = []Hit{}
		if ix.multi != nil {
			mp := multivec.SearchParams{Rerank: p.Params.Candidates, NProbe: p.Params.NProbe}
			items = ix.multi.Search(p.Multi, p.K, mp, and(v.allowed, sg.hasMulti), items[:0])
			res.Multi = toHits(items, sg.docs)
		}
	}
	return res, nil
}

// sparseParams returns the Seismic parameters of a search on ix: the
// query's knobs, or the collection's fixed knobs, when given; otherwise the
// calibration table's entry for the query's (or the collection's) recall
// target. exact reports that the table has no setting reaching the target,
// so the segment's sparse vectors should be scored exactly.
func (s *Shard) sparseParams(ix *seismic.Index, qp QueryParams) (sp seismic.SearchParams, exact bool) {
	sp = seismic.DefaultSearchParams()
	d := s.cfg.Sparse
	if qp.QueryCut > 0 || qp.HeapFactor > 0 || (qp.TargetRecall == 0 && (d.QueryCut > 0 || d.HeapFactor > 0)) {
		if d.QueryCut > 0 {
			sp.QueryCut = d.QueryCut
		}
		if d.HeapFactor > 0 {
			sp.HeapFactor = d.HeapFactor
		}
		if qp.QueryCut > 0 {
			sp.QueryCut = qp.QueryCut
		}
		if qp.HeapFactor > 0 {
			sp.HeapFactor = qp.HeapFactor
		}
		return sp, false
	}
	target := d.TargetRecall
	if qp.TargetRecall > 0 {
		target = qp.TargetRecall
	}
	if target <= 0 {
		target = DefaultSparseDefaults().TargetRecall
	}
	if target >= 1 {
		return sp, true
	}
	p, e, ok := ix.ParamsFor(target, sp)
	if !ok {
		return sp, false // not calibrated (a version-1 file): Seismic's defaults
	}
	return p, !e.Reached
}

// and intersects two optional row sets (nil = all rows).
func and(a, b *roaring.Bitmap) *roaring.Bitmap {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return roaring.And(a, b)
}

// buildSegment builds sg's indexes; it runs in the background, and its result
// depends only on the documents and the Config, so every replica builds the
// same segment.
func (s *Shard) buildSegment(sg *segment) {
	if s.buildHook != nil {
		s.buildHook(sg)
	}
	if sg.retired.Load() {
		return
	}
	if s.cfg.Dir != "" {
		ix, err := s.loadIndex(sg)
		var fe *FileError
		switch {
		case err == nil:
			sg.idx.Store(ix)
			s.releaseStandIns(sg)
			s.loaded.Add(1)
			s.log.Info("segment indexes loaded", "segment", sg.id, "docs", len(sg.docs))
			return
		case errors.As(err, &fe):
			s.discardCorrupt(sg, fe)
		case !errors.Is(err, fs.ErrNotExist):
			s.log.Warn("segment index files unusable; building again", "segment", sg.id, "err", err)
		}
	}
	ix := &segIndex{}
	n := len(sg.docs)
	log := s.log.With("segment", sg.id, "docs", n)
	if sg.nSparse > 0 {
		fwd := seismic.Forward{Offsets: make([]int64, 1, n+1), Dim: s.schema.SparseMaxTerm}
		for _, d := range sg.docs {
			fwd.Indices = append(fwd.Indices, d.Sparse.Indices...)
			fwd.Values = append(fwd.Values, d.Sparse.Values...)
			fwd.Offsets = append(fwd.Offsets, int64(len(fwd.Indices)))
		}
		if s.cfg.exactSparse() {
			idx, err := blockmax.Build(blockmax.Forward(fwd), s.cfg.Blockmax)
			if err != nil {
				log.Error("blockmax build failed; the segment's sparse vectors are scored exactly", "err", err)
			} else {
				ix.exact = idx
				ix.bytes += idx.Stats().Bytes
			}
		} else {
			idx, err := seismic.Build(fwd, s.cfg.Seismic)
			if err != nil {
				log.Error("seismic build failed; the segment's sparse vectors are scored exactly", "err", err)
			} else {
				ix.sparse = idx
				ix.bytes += idx.Stats().TotalBytes
				// A segment whose calibration cannot reach the
				// collection's target at a useful speed-up answers
				// through the exact block-max index instead.
				if _, viaExact := s.sparseParams(idx, QueryParams{}); viaExact {
					if bm, err := blockmax.Build(blockmax.Forward(fwd), s.cfg.Blockmax); err != nil {
						log.Error("blockmax build failed; the segment's sparse vectors are scored exactly", "err", err)
					} else {
						log.Info("calibration below the target recall: the segment also builds the exact block-max index")
						ix.exact = bm
						ix.bytes += bm.Stats().Bytes
					}
				}
			}
		}
	}
	if sg.nDense > 0 {
		cfg := s.cfg.Dense
		cfg.Metric, _ = embtable.ParseMetric(s.schema.DenseMetric.String())
		cfg.Codec = embtable.F32
		if s.schema.DenseCodec != "" {
			if c, err := embtable.ParseCodec(s.schema.DenseCodec); err == nil {
				cfg.Codec = c
			}
		}
		dim := s.schema.DenseDim
		filler := firstVector(sg.docs, func(d *Document) []float32 { return d.Dense })
		data := make([]float32, 0, n*dim)
		for _, d := range sg.docs {
			if d.Dense != nil {
				data = append(data, d.Dense...)
			} else {
				data = append(data, filler...) // never returned: hasDense excludes the row
			}
		}
		tab, err := embtable.Build(data, dim, cfg)
		if err != nil {
			log.Error("embtable build failed; the segment's dense vectors are scored exactly", "err", err)
		} else {
			ix.dense = tab
			ix.bytes += int64(n) * int64(dim) // codes are at most the f32 copy; a rough resident figure
		}
	}
	if sg.nMulti > 0 {
		cfg := s.cfg.Multi
		cfg.Dim = s.schema.MultiDim
		cfg.Normalize = s.schema.MultiMetric == MetricCosine
		filler := firstVector(sg.docs, func(d *Document) []float32 { return d.Multi })
		docs := make([][]float32, n)
		for i, d := range sg.docs {
			if d.Multi != nil {
				docs[i] = d.Multi
			} else {
				docs[i] = filler
			}
		}
		st, err := multivec.Build(docs, cfg)
		if err != nil {
			log.Error("multivec build failed; the segment's multi-vectors are scored exactly", "err", err)
		} else {
			ix.multi = st
			ix.bytes += int64(st.Vectors()) * int64(cfg.Dim) * 4
		}
	}
	sg.idx.Store(ix)
	s.releaseStandIns(sg)
	log.Info("segment built")
	if s.cfg.Dir != "" {
		if err := s.saveIndex(sg, ix); err != nil {
			log.Warn("saving segment indexes failed; a restart will build them again", "err", err)
		}
	}
}

// releaseStandIns drops the segments that served for sg while it built,
// unless they must serve until an activation.
func (s *Shard) releaseStandIns(sg *segment) {
	s.mu.Lock()
	if sg.usable(s.cfg.ActivateByCommand) {
		sg.standIns, sg.src = nil, nil
	}
	s.mu.Unlock()
}

func firstVector(docs []*Document, get func(*Document) []float32) []float32 {
	for _, d := range docs {
		if v := get(d); v != nil {
			return v
		}
	}
	return nil
}
