package shard

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
)

// Shard is one replica's engine. Apply, Snapshot and Restore follow the
// replication contract (never concurrent with each other); Search, Get and
// the accessors are safe to call from any goroutine at any time.
type Shard struct {
	schema Schema

	// mu guards everything below. Apply and Restore take it for writing;
	// readers hold it for reading while they score (version 0: exact scans).
	mu      sync.RWMutex
	docs    []*Document // by slot; nil when deleted
	norms   []norms
	slots   map[string]uint32
	live    *roaring.Bitmap
	applied uint64
}

// New returns an empty shard for schema.
func New(schema Schema) (*Shard, error) {
	if schema.SparseMaxTerm == 0 && schema.DenseDim == 0 && schema.MultiDim == 0 {
		return nil, errors.New("shard: schema has no vector field")
	}
	s := &Shard{schema: schema}
	s.reset()
	return s, nil
}

func (s *Shard) reset() {
	s.docs = nil
	s.norms = nil
	s.slots = make(map[string]uint32)
	s.live = roaring.New()
	s.applied = 0
}

// Schema returns the shard's schema.
func (s *Shard) Schema() Schema { return s.schema }

// Len returns the number of live documents.
func (s *Shard) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.slots)
}

// AppliedIndex returns the log index of the last applied command.
func (s *Shard) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// ApplyResult is what Apply reports for a batch.
type ApplyResult struct {
	Upserted int
	Deleted  int
}

// EncodeApplyResult encodes r as the response bytes of a command.
func EncodeApplyResult(r ApplyResult) []byte {
	b := binary.AppendUvarint(nil, uint64(r.Upserted))
	return binary.AppendUvarint(b, uint64(r.Deleted))
}

// DecodeApplyResult decodes the response bytes of a command.
func DecodeApplyResult(p []byte) (ApplyResult, error) {
	r := reader{buf: p}
	res := ApplyResult{Upserted: int(r.uvarint()), Deleted: int(r.uvarint())}
	return res, r.err
}

// Apply decodes and applies the command committed at index. A command that
// fails to decode or validate changes nothing (except the applied index) and
// returns the error; the same happens on every replica.
func (s *Shard) Apply(index uint64, cmd []byte) ([]byte, error) {
	b, err := DecodeBatch(cmd)
	if err == nil {
		err = s.validate(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if index > s.applied {
		s.applied = index
	}
	if err != nil {
		return nil, err
	}
	var res ApplyResult
	for _, op := range b.Ops {
		if op.Doc != nil {
			s.remove(op.Doc.ID)
			s.insert(op.Doc)
			res.Upserted++
		} else if s.remove(op.DeleteID) {
			res.Deleted++
		}
	}
	return EncodeApplyResult(res), nil
}

func (s *Shard) validate(b Batch) error {
	for i, op := range b.Ops {
		if op.Doc == nil {
			if op.DeleteID == "" {
				return fieldErr(fmt.Sprintf("ops[%d].id", i), "must not be empty")
			}
			continue
		}
		if err := s.schema.Validate(op.Doc); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return fieldErr(fmt.Sprintf("documents[%d].%s", i, fe.Field), "%s", fe.Msg)
			}
			return err
		}
	}
	return nil
}

func (s *Shard) insert(d *Document) {
	slot := uint32(len(s.docs))
	s.docs = append(s.docs, d)
	s.norms = append(s.norms, computeNorms(d))
	s.slots[d.ID] = slot
	s.live.Add(slot)
}

func (s *Shard) remove(id string) bool {
	slot, ok := s.slots[id]
	if !ok {
		return false
	}
	delete(s.slots, id)
	s.docs[slot] = nil
	s.live.Remove(slot)
	return true
}

// Get returns the live document with id. The document must not be modified.
func (s *Shard) Get(id string) (*Document, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	slot, ok := s.slots[id]
	if !ok {
		return nil, false
	}
	return s.docs[slot], true
}

// Cond is one filter condition on an attribute: it matches when the value
// equals one of Any (if given) and lies within [Gte, Lte] (where given).
type Cond struct {
	Field string
	Any   []Attr
	Gte   *float64
	Lte   *float64
}

// Filter is a conjunction of conditions.
type Filter []Cond

func (f Filter) match(d *Document) bool {
	for _, c := range f {
		a, ok := d.Attrs[c.Field]
		if !ok {
			return false
		}
		if len(c.Any) > 0 {
			hit := false
			for _, v := range c.Any {
				if attrEqual(a, v) {
					hit = true
					break
				}
			}
			if !hit {
				return false
			}
		}
		if c.Gte != nil || c.Lte != nil {
			var x float64
			switch a.Kind {
			case AttrInt:
				x = float64(a.Int)
			case AttrFloat:
				x = a.Float
			default:
				return false
			}
			if (c.Gte != nil && x < *c.Gte) || (c.Lte != nil && x > *c.Lte) {
				return false
			}
		}
	}
	return true
}

func attrEqual(a, b Attr) bool {
	switch a.Kind {
	case AttrKeyword:
		return b.Kind == AttrKeyword && a.Str == b.Str
	case AttrInt:
		switch b.Kind {
		case AttrInt:
			return a.Int == b.Int
		case AttrFloat:
			return float64(a.Int) == b.Float
		}
	case AttrFloat:
		switch b.Kind {
		case AttrFloat:
			return a.Float == b.Float
		case AttrInt:
			return a.Float == float64(b.Int)
		}
	}
	return false
}

// Query asks for the K best documents per modality. Multi is a flat
// multi-vector of the schema's MultiDim.
type Query struct {
	K      int
	Sparse *SparseVec
	Dense  []float32
	Multi  []float32
	Filter Filter
}

// Hit is a scored document.
type Hit struct {
	ID    string
	Score float32
}

// Result holds the best hits per modality asked for, best first.
type Result struct {
	Sparse []Hit
	Dense  []Hit
	Multi  []Hit
}

// ValidateQuery checks q against the schema.
func (s *Shard) ValidateQuery(q *Query) error {
	sc := &s.schema
	if q.K < 1 {
		return fieldErr("k", "must be at least 1")
	}
	if q.Sparse == nil && q.Dense == nil && q.Multi == nil {
		return fieldErr("sparse", "a query needs sparse, dense or multivector")
	}
	if q.Sparse != nil {
		if sc.SparseMaxTerm == 0 {
			return fieldErr("sparse", "the collection has no sparse field")
		}
		if err := ValidateSparse("sparse", *q.Sparse, sc.SparseMaxTerm); err != nil {
			return err
		}
	}
	if q.Dense != nil {
		if sc.DenseDim == 0 {
			return fieldErr("dense", "the collection has no dense field")
		}
		if err := ValidateDense("dense", q.Dense, sc.DenseDim); err != nil {
			return err
		}
	}
	if q.Multi != nil {
		if sc.MultiDim == 0 {
			return fieldErr("multivector", "the collection has no multivector field")
		}
		if err := ValidateMulti("multivector", q.Multi, sc.MultiDim); err != nil {
			return err
		}
	}
	return nil
}

// Search scores every live document exactly and returns the best K per
// modality. It checks ctx every few thousand documents.
func (s *Shard) Search(ctx context.Context, q Query) (Result, error) {
	if err := s.ValidateQuery(&q); err != nil {
		return Result{}, err
	}
	var qDenseNorm float32
	if q.Dense != nil && s.schema.DenseMetric == MetricCosine {
		qDenseNorm = vecmath.Norm(q.Dense)
	}
	var qMulti []float32
	if q.Multi != nil {
		qMulti = q.Multi
		if s.schema.MultiMetric == MetricCosine {
			qMulti = normalizedRows(q.Multi, s.schema.MultiDim)
		}
	}
	var hs, hd, hm *topk.Heap
	if q.Sparse != nil {
		hs = topk.New(q.K)
	}
	if q.Dense != nil {
		hd = topk.New(q.K)
	}
	if q.Multi != nil {
		hm = topk.New(q.K)
	}
	var scratch []float32

	s.mu.RLock()
	defer s.mu.RUnlock()
	it := s.live.Iterator()
	n := 0
	for it.HasNext() {
		slot := it.Next()
		n++
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
		}
		d := s.docs[slot]
		if len(q.Filter) > 0 && !q.Filter.match(d) {
			continue
		}
		if hs != nil && len(d.Sparse.Indices) > 0 {
			hs.Push(slot, SparseDot(q.Sparse.Indices, q.Sparse.Values, d.Sparse.Indices, d.Sparse.Values))
		}
		if hd != nil && d.Dense != nil {
			hd.Push(slot, denseScore(s.schema.DenseMetric, q.Dense, qDenseNorm, d.Dense, s.norms[slot].dense))
		}
		if hm != nil && d.Multi != nil {
			var sc float32
			sc, scratch = maxSim(qMulti, d.Multi, s.schema.MultiDim, s.schema.MultiMetric == MetricCosine, scratch)
			hm.Push(slot, sc)
		}
	}
	var res Result
	if hs != nil {
		res.Sparse = s.hits(hs)
	}
	if hd != nil {
		res.Dense = s.hits(hd)
	}
	if hm != nil {
		res.Multi = s.hits(hm)
	}
	return res, nil
}

func (s *Shard) hits(h *topk.Heap) []Hit {
	items := h.Sorted(nil)
	out := make([]Hit, len(items))
	for i, it := range items {
		out[i] = Hit{ID: s.docs[it.ID].ID, Score: it.Score}
	}
	SortHits(out)
	return out
}

// SortHits orders hits best first: descending score, then ascending id, the
// same order on every replica and in every merge.
func SortHits(h []Hit) {
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].Score != h[j].Score {
			return h[i].Score > h[j].Score
		}
		return h[i].ID < h[j].ID
	})
}

// SparseDot returns the inner product of two sparse vectors with ascending
// indices, accumulated in index order in float32.
func SparseDot(qi []uint32, qv []float32, di []uint32, dv []float32) float32 {
	var s float32
	i, j := 0, 0
	for i < len(qi) && j < len(di) {
		switch {
		case qi[i] < di[j]:
			i++
		case qi[i] > di[j]:
			j++
		default:
			s += qv[i] * dv[j]
			i++
			j++
		}
	}
	return s
}

func denseScore(m Metric, q []float32, qNorm float32, d []float32, dNorm float32) float32 {
	switch m {
	case MetricCosine:
		if qNorm == 0 || dNorm == 0 {
			return 0
		}
		return vecmath.Dot(q, d) / (qNorm * dNorm)
	case MetricL2:
		return -vecmath.L2Sq(q, d)
	default:
		return vecmath.Dot(q, d)
	}
}

// maxSim returns the sum over query vectors of the best dot product with any
// document vector. With normalize, document vectors are scaled to unit norm
// first (the query is expected normalized already).
func maxSim(q, d []float32, dim int, normalize bool, scratch []float32) (float32, []float32) {
	if normalize {
		scratch = append(scratch[:0], d...)
		normalizeRows(scratch, dim)
		d = scratch
	}
	var total float32
	for qo := 0; qo+dim <= len(q); qo += dim {
		qv := q[qo : qo+dim]
		best := float32(-3.4e38)
		for do := 0; do+dim <= len(d); do += dim {
			if x := vecmath.Dot(qv, d[do:do+dim]); x > best {
				best = x
			}
		}
		total += best
	}
	return total, scratch
}

func normalizedRows(flat []float32, dim int) []float32 {
	out := append([]float32(nil), flat...)
	normalizeRows(out, dim)
	return out
}

func normalizeRows(flat []float32, dim int) {
	for o := 0; o+dim <= len(flat); o += dim {
		vecmath.Normalize(flat[o : o+dim])
	}
}

// Snapshot format, version 1:
//
//	magic "SHS" | version byte (1) | uint64 LE applied index | uvarint count |
//	count × document (as in commands)
const snapshotVersion = 1

var snapshotMagic = [3]byte{'S', 'H', 'S'}

// Snapshot is a point-in-time view of a shard that can be written while the
// shard goes on applying commands.
type Snapshot struct {
	applied uint64
	docs    []*Document
}

// Snapshot captures the current documents. It copies only pointers: stored
// documents are immutable.
func (s *Shard) Snapshot() *Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	docs := make([]*Document, 0, len(s.slots))
	for _, d := range s.docs {
		if d != nil {
			docs = append(docs, d)
		}
	}
	return &Snapshot{applied: s.applied, docs: docs}
}

// WriteTo writes the snapshot in the versioned snapshot format.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := append([]byte(nil), snapshotMagic[:]...)
	hdr = append(hdr, snapshotVersion)
	hdr = binary.LittleEndian.AppendUint64(hdr, sn.applied)
	hdr = binary.AppendUvarint(hdr, uint64(len(sn.docs)))
	written, err := bw.Write(hdr)
	total := int64(written)
	if err != nil {
		return total, err
	}
	var buf []byte
	for _, d := range sn.docs {
		buf = appendDocument(buf[:0], d)
		lenBuf := binary.AppendUvarint(nil, uint64(len(buf)))
		n1, err := bw.Write(lenBuf)
		total += int64(n1)
		if err != nil {
			return total, err
		}
		n2, err := bw.Write(buf)
		total += int64(n2)
		if err != nil {
			return total, err
		}
	}
	return total, bw.Flush()
}

// Restore replaces the shard's state with a snapshot read from r. On error
// the shard keeps its previous state.
func (s *Shard) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	hdr := make([]byte, 12)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("%w: snapshot header: %v", ErrCorrupt, err)
	}
	if [3]byte(hdr[:3]) != snapshotMagic {
		return fmt.Errorf("%w: bad snapshot magic", ErrCorrupt)
	}
	if hdr[3] != snapshotVersion {
		return fmt.Errorf("%w: unsupported snapshot version %d", ErrCorrupt, hdr[3])
	}
	applied := binary.LittleEndian.Uint64(hdr[4:])
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return fmt.Errorf("%w: snapshot count: %v", ErrCorrupt, err)
	}
	fresh := &Shard{schema: s.schema}
	fresh.reset()
	var buf []byte
	for i := uint64(0); i < count; i++ {
		n, err := binary.ReadUvarint(br)
		if err != nil || n > 1<<30 {
			return fmt.Errorf("%w: snapshot document %d: bad length", ErrCorrupt, i)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("%w: snapshot document %d: %v", ErrCorrupt, i, err)
		}
		rd := reader{buf: buf}
		d := rd.document()
		if rd.err != nil {
			return fmt.Errorf("snapshot document %d: %w", i, rd.err)
		}
		fresh.remove(d.ID)
		fresh.insert(d)
	}
	s.mu.Lock()
	s.docs, s.norms, s.slots, s.live = fresh.docs, fresh.norms, fresh.slots, fresh.live
	s.applied = applied
	s.mu.Unlock()
	return nil
}
