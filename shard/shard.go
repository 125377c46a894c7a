package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
	"github.com/shoal-search/shoal/shard/seismic"
)

// Shard is one replica's engine: a write buffer searched exactly, and sealed
// segments searched through their indexes (Seismic for sparse, a compressed
// embedding table for dense, a MUVERA-indexed multi-vector store). Apply,
// Snapshot and Restore follow the replication contract (never concurrent
// with each other); Search, Get and the accessors are safe to call from any
// goroutine at any time.
//
// Lock order: Shard.mu only. Segment indexes are set once, atomically, by
// their build goroutine.
type Shard struct {
	schema Schema
	cfg    Config
	log    *slog.Logger

	// mu guards everything below. Apply and Restore take it for writing;
	// Search holds it for reading while it scans the buffer and takes a
	// consistent view of the segments, then searches them without it.
	mu       sync.RWMutex
	buf      []*Document // buffer slots; nil when deleted or sealed
	bufNorms []norms
	bufLive  *roaring.Bitmap
	loc      map[string]location
	segs     []*segment
	applied  uint64
	closed   bool

	builds chan struct{} // build semaphore
	wg     sync.WaitGroup
	// loaded counts segments whose indexes came from files, not a build.
	loaded atomic.Int64
	// corrupt counts segment files that failed to load.
	corrupt atomic.Int64
	// buildHook, when set (by tests, before the builds it watches start),
	// runs at the start of every segment build.
	buildHook func(sg *segment)
	// held is closed when builds from scratch may start (see HoldBuilds);
	// done is closed by Close.
	held chan struct{}
	done chan struct{}
}

// location is where a live document is: a buffer slot (seg nil) or a
// segment row.
type location struct {
	seg *segment
	row uint32
}

// New returns an empty shard for schema with the default Config.
func New(schema Schema) (*Shard, error) { return Open(schema, DefaultConfig()) }

// Open returns an empty shard for schema and cfg.
func Open(schema Schema, cfg Config) (*Shard, error) {
	if schema.SparseMaxTerm == 0 && schema.DenseDim == 0 && schema.MultiDim == 0 {
		return nil, errors.New("shard: schema has no vector field")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shard{schema: schema, cfg: cfg, log: cfg.Logger, builds: make(chan struct{}, cfg.BuildConcurrency),
		held: make(chan struct{}), done: make(chan struct{})}
	close(s.held)
	s.resetLocked()
	return s, nil
}

func (s *Shard) resetLocked() {
	s.buf, s.bufNorms = nil, nil
	s.bufLive = roaring.New()
	s.loc = make(map[string]location)
	s.segs = nil
	s.applied = 0
}

// Close waits for segment builds in flight. The shard must not be used
// afterwards.
func (s *Shard) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Schema returns the shard's schema.
func (s *Shard) Schema() Schema { return s.schema }

// Len returns the number of live documents.
func (s *Shard) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.loc)
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
	b := appendUvarint(nil, uint64(r.Upserted))
	return appendUvarint(b, uint64(r.Deleted))
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
		switch {
		case op.Doc != nil:
			s.removeLocked(op.Doc.ID)
			s.insertLocked(op.Doc)
			res.Upserted++
		case op.Seal:
			s.sealLocked(index)
		case op.Compact != nil:
			s.compactLocked(index, op.Compact)
		case op.Activate != nil:
			s.activateLocked(op.Activate)
		default:
			if s.removeLocked(op.DeleteID) {
				res.Deleted++
			}
		}
	}
	return EncodeApplyResult(res), nil
}

func (s *Shard) validate(b Batch) error {
	for i, op := range b.Ops {
		switch {
		case op.Seal || op.Compact != nil || op.Activate != nil:
		case op.Doc == nil:
			if op.DeleteID == "" {
				return fieldErr(fmt.Sprintf("ops[%d].id", i), "must not be empty")
			}
		default:
			if err := s.schema.Validate(op.Doc); err != nil {
				var fe *FieldError
				if errors.As(err, &fe) {
					return fieldErr(fmt.Sprintf("documents[%d].%s", i, fe.Field), "%s", fe.Msg)
				}
				return err
			}
		}
	}
	return nil
}

func (s *Shard) insertLocked(d *Document) {
	slot := uint32(len(s.buf))
	s.buf = append(s.buf, d)
	s.bufNorms = append(s.bufNorms, computeNorms(d))
	s.loc[d.ID] = location{row: slot}
	s.bufLive.Add(slot)
}

func (s *Shard) removeLocked(id string) bool {
	l, ok := s.loc[id]
	if !ok {
		return false
	}
	delete(s.loc, id)
	if l.seg == nil {
		s.buf[l.row] = nil
		s.bufLive.Remove(l.row)
	} else {
		l.seg.markDead(l.row)
	}
	return true
}

// sealLocked turns the live buffer into a segment whose id is the seal's log
// index. The segment is searchable at once (exactly) and builds its indexes
// in the background.
func (s *Shard) sealLocked(index uint64) {
	if s.bufLive.IsEmpty() {
		return
	}
	docs := make([]*Document, 0, s.bufLive.GetCardinality())
	it := s.bufLive.Iterator()
	for it.HasNext() {
		docs = append(docs, s.buf[it.Next()])
	}
	s.addSegmentLocked(newSegment(index, docs, &s.schema))
	s.buf, s.bufNorms = nil, nil
	s.bufLive = roaring.New()
}

// compactLocked merges the live rows of the named segments into one new
// segment. If any of them no longer exists the command does nothing, on
// every replica alike.
func (s *Shard) compactLocked(index uint64, ids []uint64) {
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var merged []*Document
	var keep []*segment
	found := 0
	for _, sg := range s.segs {
		if want[sg.id] {
			found++
		}
	}
	if found != len(want) {
		return
	}
	var olds []*segment
	var src []srcRow
	for _, sg := range s.segs {
		if !want[sg.id] {
			keep = append(keep, sg)
			continue
		}
		for row, d := range sg.docs {
			if !sg.dead.Contains(uint32(row)) {
				merged = append(merged, d)
				src = append(src, srcRow{seg: int32(len(olds)), row: uint32(row)})
			}
		}
		olds = append(olds, sg)
		sg.retired.Store(true)
	}
	s.segs = keep
	if len(merged) > 0 {
		sg := newSegment(index, merged, &s.schema)
		if len(merged) >= s.cfg.MinIndexDocs && !s.closed {
			// the merged segments keep serving until the new one is built
			sg.standIns, sg.src = olds, src
		}
		s.addSegmentLocked(sg)
	}
	s.dropFilesLocked(index)
}

// activateLocked marks the named segments' indexes as in use. Ids of
// segments that no longer exist are ignored, on every replica alike.
func (s *Shard) activateLocked(ids []uint64) {
	for _, sg := range s.segs {
		if containsID(ids, sg.id) && !sg.activated {
			sg.activated = true
			if !sg.building() {
				sg.standIns, sg.src = nil, nil
			}
		}
	}
}

// ActivationDue returns the ids of segments whose indexes this replica has
// built but that no activation has named yet; nil unless ActivateByCommand.
func (s *Shard) ActivationDue() []uint64 {
	if !s.cfg.ActivateByCommand {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []uint64
	for _, sg := range s.segs {
		if sg.indexed && !sg.activated && !sg.building() {
			ids = append(ids, sg.id)
		}
	}
	return ids
}

// Lagging reports whether an activation has named a segment whose indexes
// this replica has not built yet: until it has, its answers can differ from
// other replicas' (it scores that segment exactly, or through the segments
// it replaced), so a service may forward its searches to the leader.
func (s *Shard) Lagging() bool {
	if !s.cfg.ActivateByCommand {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sg := range s.segs {
		if sg.activated && sg.building() {
			return true
		}
	}
	return false
}

func (s *Shard) addSegmentLocked(sg *segment) {
	for row, d := range sg.docs {
		s.loc[d.ID] = location{seg: sg, row: uint32(row)}
	}
	s.segs = append(s.segs, sg)
	s.startBuildLocked(sg)
}

// startBuildLocked builds sg's indexes in the background when it is large
// enough; until then it is searched exactly.
func (s *Shard) startBuildLocked(sg *segment) {
	if len(sg.docs) < s.cfg.MinIndexDocs || s.closed {
		return
	}
	sg.indexed = true
	held := s.held
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if !s.hasIndexFiles(sg) {
			// while the log replays, wait: a later compaction may retire
			// the segment, and building it would be wasted
			select {
			case <-held:
			case <-s.done:
				return
			}
		}
		s.builds <- struct{}{}
		defer func() { <-s.builds }()
		s.buildSegment(sg)
	}()
}

// HoldBuilds makes segments without saved index files wait before they
// build, until ReleaseBuilds; segments with files still load at once. A node
// holds builds while a restarted replica replays its log, so that segments a
// later compaction in the log drops are never built.
func (s *Shard) HoldBuilds() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.held:
		s.held = make(chan struct{})
	default:
	}
}

// ReleaseBuilds lets held builds start.
func (s *Shard) ReleaseBuilds() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.held:
	default:
		close(s.held)
	}
}

// Get returns the live document with id. The document must not be modified.
func (s *Shard) Get(id string) (*Document, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.loc[id]
	if !ok {
		return nil, false
	}
	if l.seg == nil {
		return s.buf[l.row], true
	}
	return l.seg.docs[l.row], true
}

// SealDue reports whether the write buffer has reached SealDocs.
func (s *Shard) SealDue() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int(s.bufLive.GetCardinality()) >= s.cfg.SealDocs
}

// CompactionDue returns the ids of segments worth compacting into one, or
// nil. Only built segments count. In order of preference:
//   - every segment whose deleted fraction reached CompactDeleted;
//   - when there are more than MaxSegments, the two smallest;
//   - the tiered merge policy: the MergeFactor smallest segments of the lowest
//     tier that holds at least MergeFactor of them (see Config.MergeFactor).
func (s *Shard) CompactionDue() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []uint64
	var built []*segment
	for _, sg := range s.segs {
		if sg.building() {
			continue
		}
		built = append(built, sg)
		if float64(sg.dead.GetCardinality()) >= s.cfg.CompactDeleted*float64(len(sg.docs)) {
			ids = append(ids, sg.id)
		}
	}
	sort.SliceStable(built, func(i, j int) bool { return sg0(built[i]) < sg0(built[j]) })
	if len(s.segs) > s.cfg.MaxSegments && len(built) >= 2 {
		for _, sg := range built[:2] {
			if !containsID(ids, sg.id) {
				ids = append(ids, sg.id)
			}
		}
	}
	if len(ids) > 0 || s.cfg.MergeFactor < 2 {
		return ids
	}
	tiers := map[int][]*segment{}
	lowest := -1
	for _, sg := range built {
		live := sg0(sg)
		if live > s.cfg.MaxMergeDocs {
			continue
		}
		t := mergeTier(live, s.cfg.SealDocs, s.cfg.MergeFactor)
		tiers[t] = append(tiers[t], sg)
		if len(tiers[t]) == s.cfg.MergeFactor && (lowest < 0 || t < lowest) {
			lowest = t
		}
	}
	if lowest < 0 {
		return nil
	}
	total := 0
	for _, sg := range tiers[lowest][:s.cfg.MergeFactor] {
		total += sg0(sg)
		ids = append(ids, sg.id)
	}
	if total > s.cfg.MaxMergeDocs {
		return nil
	}
	return ids
}

// mergeTier is the tier of a segment with live documents: 0 up to sealDocs,
// then the nearest integer to log_factor(live/sealDocs).
func mergeTier(live, sealDocs, factor int) int {
	if live <= sealDocs {
		return 0
	}
	return int(math.Floor(math.Log(float64(live)/float64(sealDocs))/math.Log(float64(factor)) + 0.5))
}

func sg0(sg *segment) int { return len(sg.docs) - int(sg.dead.GetCardinality()) }

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// SegmentInfo describes one segment, or the write buffer (ID 0, State
// "buffer").
type SegmentInfo struct {
	ID      uint64
	Docs    int
	Deleted int
	Bytes   int64
	State   string // "buffer", "building", "ready" or "exact" (too small to index)
	// Sparse describes a ready segment's Seismic index: what its adaptive
	// build derived and its calibration at the collection's target recall;
	// nil when the segment has no Seismic index.
	Sparse *SparseIndexInfo
}

// SparseIndexInfo describes a segment's Seismic index.
type SparseIndexInfo struct {
	// Adaptive holds the build parameters derived from the segment's data.
	Adaptive seismic.Adaptive
	// Calibrated reports whether the index has a calibration table (a
	// version-1 file has none); the fields below are then set.
	Calibrated bool
	// Entry is the calibration table's entry for the collection's target
	// recall: the settings searches use and the recall they reached on the
	// segment's pseudo-queries. Entry.Reached false means the segment is
	// scored exactly for that target.
	Entry seismic.CalibrationEntry
}

// Segments describes the write buffer and every segment.
func (s *Shard) Segments() []SegmentInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []SegmentInfo{{State: "buffer", Docs: int(s.bufLive.GetCardinality())}}
	for _, sg := range s.segs {
		info := SegmentInfo{ID: sg.id, Docs: len(sg.docs), Deleted: int(sg.dead.GetCardinality()), Bytes: sg.docBytes}
		switch {
		case len(sg.docs) < s.cfg.MinIndexDocs:
			info.State = "exact"
		case !sg.usable(s.cfg.ActivateByCommand):
			info.State = "building"
		default:
			info.State = "ready"
			ix := sg.idx.Load()
			info.Bytes += ix.bytes
			if ix.sparse != nil {
				si := &SparseIndexInfo{Adaptive: ix.sparse.Adaptive()}
				target := s.cfg.Sparse.TargetRecall
				if target <= 0 {
					target = DefaultSparseDefaults().TargetRecall
				}
				si.Entry, si.Calibrated = ix.sparse.Calibration().Lookup(target)
				info.Sparse = si
			}
		}
		out = append(out, info)
	}
	return out
}

// WaitBuilt blocks until no segment build is in flight or ctx ends.
func (s *Shard) WaitBuilt(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
	for i := range f {
		if !f[i].match(d) {
			return false
		}
	}
	return true
}

func (c *Cond) match(d *Document) bool {
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
	Params QueryParams
	// Exact scores every document exactly, ignoring segment indexes.
	Exact bool
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

// prepared is a validated query with what scoring needs precomputed.
type prepared struct {
	Query
	denseNorm float32
	multi     []float32 // normalized when the metric is cosine
}

// Search returns the best K documents per modality: the buffer and segments
// still building are scored exactly, built segments through their indexes.
func (s *Shard) Search(ctx context.Context, q Query) (Result, error) {
	if err := s.ValidateQuery(&q); err != nil {
		return Result{}, err
	}
	p := prepared{Query: q}
	if q.Dense != nil && s.schema.DenseMetric == MetricCosine {
		p.denseNorm = vecmath.Norm(q.Dense)
	}
	if q.Multi != nil {
		p.multi = q.Multi
		if s.schema.MultiMetric == MetricCosine {
			p.multi = normalizedRows(q.Multi, s.schema.MultiDim)
		}
	}
	var parts []Result
	s.mu.RLock()
	bufRes, err := s.scanLocked(ctx, &p, s.buf, s.bufNorms, s.bufLive)
	if err != nil {
		s.mu.RUnlock()
		return Result{}, err
	}
	parts = append(parts, bufRes)
	views := make([]segView, 0, len(s.segs))
	for _, sg := range s.segs {
		views = sg.appendViews(views, &p, s.cfg.ActivateByCommand)
	}
	s.mu.RUnlock()
	res, err := s.searchViews(ctx, &p, views)
	if err != nil {
		return Result{}, err
	}
	parts = append(parts, res...)
	return mergeResults(parts, q.K), nil
}

// searchViews searches the segment views, on up to cfg.SearchParallelism
// goroutines, and returns their results in the order of views.
func (s *Shard) searchViews(ctx context.Context, p *prepared, views []segView) ([]Result, error) {
	out := make([]Result, len(views))
	workers := min(s.cfg.SearchParallelism, len(views))
	if workers <= 1 {
		for i := range views {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r, err := s.searchView(ctx, p, &views[i])
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(views) {
				return
			}
			err := ctx.Err()
			if err == nil {
				out[i], err = s.searchView(ctx, p, &views[i])
			}
			if err != nil {
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
				return
			}
		}
	}
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// scanLocked scores the live documents of docs (the rows in live) exactly.
func (s *Shard) scanLocked(ctx context.Context, p *prepared, docs []*Document, ns []norms, live *roaring.Bitmap) (Result, error) {
	var hs, hd, hm *topk.Heap
	if p.Sparse != nil {
		hs = topk.New(p.K)
	}
	if p.Dense != nil {
		hd = topk.New(p.K)
	}
	if p.Multi != nil {
		hm = topk.New(p.K)
	}
	var scratch []float32
	it := live.Iterator()
	n := 0
	for it.HasNext() {
		slot := it.Next()
		n++
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
		}
		d := docs[slot]
		if len(p.Filter) > 0 && !p.Filter.match(d) {
			continue
		}
		if hs != nil && len(d.Sparse.Indices) > 0 {
			// Like an inverted index, only documents that share a term
			// with the query are candidates.
			if sc, overlap := sparseScore(p.Sparse.Indices, p.Sparse.Values, d.Sparse.Indices, d.Sparse.Values); overlap {
				hs.Push(slot, sc)
			}
		}
		if hd != nil && d.Dense != nil {
			hd.Push(slot, denseScore(s.schema.DenseMetric, p.Dense, p.denseNorm, d.Dense, ns[slot].dense))
		}
		if hm != nil && d.Multi != nil {
			var sc float32
			sc, scratch = maxSim(p.multi, d.Multi, s.schema.MultiDim, s.schema.MultiMetric == MetricCosine, scratch)
			hm.Push(slot, sc)
		}
	}
	var res Result
	if hs != nil {
		res.Sparse = toHits(hs.Sorted(nil), docs)
	}
	if hd != nil {
		res.Dense = toHits(hd.Sorted(nil), docs)
	}
	if hm != nil {
		res.Multi = toHits(hm.Sorted(nil), docs)
	}
	return res, nil
}

func toHits(items []topk.Item, docs []*Document) []Hit {
	out := make([]Hit, len(items))
	for i, it := range items {
		out[i] = Hit{ID: docs[it.ID].ID, Score: it.Score}
	}
	return out
}

// mergeResults merges per-part hit lists, keeping the best k per modality.
func mergeResults(parts []Result, k int) Result {
	var out Result
	merge := func(get func(*Result) []Hit) []Hit {
		var all []Hit
		present := false
		for i := range parts {
			h := get(&parts[i])
			if h != nil {
				present = true
			}
			all = append(all, h...)
		}
		if !present {
			return nil
		}
		SortHits(all)
		if len(all) > k {
			all = all[:k]
		}
		if all == nil {
			all = []Hit{}
		}
		return all
	}
	out.Sparse = merge(func(r *Result) []Hit { return r.Sparse })
	out.Dense = merge(func(r *Result) []Hit { return r.Dense })
	out.Multi = merge(func(r *Result) []Hit { return r.Multi })
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
	s, _ := sparseScore(qi, qv, di, dv)
	return s
}

// sparseScore is SparseDot that also reports whether the vectors share a
// term.
func sparseScore(qi []uint32, qv []float32, di []uint32, dv []float32) (float32, bool) {
	var s float32
	overlap := false
	i, j := 0, 0
	for i < len(qi) && j < len(di) {
		switch {
		case qi[i] < di[j]:
			i++
		case qi[i] > di[j]:
			j++
		default:
			s += qv[i] * dv[j]
			overlap = true
			i++
			j++
		}
	}
	return s, overlap
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

// AllBuilt returns the ids of the segments that are not building, when
// there are at least two of them or one with deletions: what a forced
// compaction merges.
func (s *Shard) AllBuilt() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []uint64
	deleted := false
	for _, sg := range s.segs {
		if !sg.building() {
			ids = append(ids, sg.id)
			deleted = deleted || !sg.dead.IsEmpty()
		}
	}
	if len(ids) < 2 && !deleted {
		return nil
	}
	return ids
}
