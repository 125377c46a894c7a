package coordinator

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/validate"
	"github.com/shoal-search/shoal/internal/wire"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Codecs a dense field may name.
var denseCodecs = map[string]bool{"": true, "f32": true, "f16": true, "sq8": true, "sq4": true, "pq": true, "binary": true, "rabitq": true}

// checkSpec validates a collection spec and fills in its defaults; live is
// the number of live nodes.
func checkSpec(s *api.CollectionSpec, live int) error {
	if !nameRE.MatchString(s.Name) {
		return badRequest("name", "must be 1-64 characters of letters, digits, '_' or '-'")
	}
	if s.Shards == 0 {
		s.Shards = 1
	}
	if s.Shards < 1 || s.Shards > api.MaxShards {
		return badRequest("shards", "got %d, want 1..%d", s.Shards, api.MaxShards)
	}
	if s.Replication == 0 {
		s.Replication = min(3, max(live, 1))
	}
	if s.Replication < 1 || s.Replication > api.MaxReplication {
		return badRequest("replication", "got %d, want 1..%d", s.Replication, api.MaxReplication)
	}
	if s.Replication > live {
		return badRequest("replication", "got %d but only %d nodes are live", s.Replication, live)
	}
	if s.Sparse == nil && s.Dense == nil && s.Multivector == nil {
		return badRequest("sparse", "a collection needs at least one of sparse, dense and multivector")
	}
	if s.Sparse != nil && s.Sparse.MaxTerm == 0 {
		return badRequest("sparse.max_term", "must be at least 1")
	}
	if s.Sparse != nil && s.Sparse.Index != nil {
		ix := s.Sparse.Index
		if x := ix.AutoKeep; x < 0 || x > 1 || x != x {
			return badRequest("sparse.index.auto_keep", "want a fraction in (0, 1]")
		}
		if x := ix.Alpha; x < 0 || x > 1 || x != x {
			return badRequest("sparse.index.alpha", "want a fraction in (0, 1]")
		}
		if ix.Kind != "" && ix.Kind != api.SparseKindSeismic && ix.Kind != api.SparseKindExact {
			return badRequest("sparse.index.kind", "unknown kind %q (want seismic or exact)", ix.Kind)
		}
		if x := ix.TargetRecall; x < 0 || x > 1 || x != x {
			return badRequest("sparse.index.target_recall", "want a recall in (0, 1]")
		}
		if ix.QueryCut < 0 || ix.QueryCut > 1<<16 {
			return badRequest("sparse.index.query_cut", "got %d, want 0..65536", ix.QueryCut)
		}
		if !validate.Finite32(ix.HeapFactor) || ix.HeapFactor < 0 || ix.HeapFactor > 100 {
			return badRequest("sparse.index.heap_factor", "want a number in [0, 100]")
		}
	}
	if d := s.Dense; d != nil {
		if d.Dim < 1 || d.Dim > api.MaxDim {
			return badRequest("dense.dim", "got %d, want 1..%d", d.Dim, api.MaxDim)
		}
		if d.Metric == "" {
			d.Metric = api.MetricCosine
		}
		if d.Metric != api.MetricIP && d.Metric != api.MetricCosine && d.Metric != api.MetricL2 {
			return badRequest("dense.metric", "unknown metric %q (want ip, cosine or l2)", d.Metric)
		}
		if !denseCodecs[d.Codec] {
			return badRequest("dense.codec", "unknown codec %q", d.Codec)
		}
	}
	if m := s.Multivector; m != nil {
		if m.Dim < 1 || m.Dim > api.MaxDim {
			return badRequest("multivector.dim", "got %d, want 1..%d", m.Dim, api.MaxDim)
		}
		if m.Metric == "" {
			m.Metric = api.MetricIP
		}
		if m.Metric != api.MetricIP && m.Metric != api.MetricCosine {
			return badRequest("multivector.metric", "unknown metric %q (want ip or cosine)", m.Metric)
		}
	}
	for name, kind := range s.Attributes {
		if !nameRE.MatchString(name) {
			return badRequest("attributes."+name, "attribute names must be 1-64 characters of letters, digits, '_' or '-'")
		}
		if kind != api.AttrKeyword && kind != api.AttrInt && kind != api.AttrFloat {
			return badRequest("attributes."+name, "unknown kind %q (want keyword, int or float)", kind)
		}
	}
	return nil
}

// docToWire validates one document against the schema and converts it.
func docToWire(field string, d *api.Document, s *api.CollectionSpec) (*wire.Document, error) {
	if err := checkID(field+".id", d.ID); err != nil {
		return nil, err
	}
	w := &wire.Document{Id: d.ID}
	if d.Sparse == nil && d.Dense == nil && d.Multivector == nil {
		return nil, badRequest(field, "document %q has no sparse, dense or multivector field", d.ID)
	}
	if d.Sparse != nil {
		if s.Sparse == nil {
			return nil, badRequest(field+".sparse", "the collection has no sparse field")
		}
		if err := validate.Sparse(field+".sparse", d.Sparse.Indices, d.Sparse.Values, s.Sparse.MaxTerm); err != nil {
			return nil, err
		}
		w.Sparse = &wire.SparseVector{Indices: d.Sparse.Indices, Values: d.Sparse.Values}
	}
	if d.Dense != nil {
		if s.Dense == nil {
			return nil, badRequest(field+".dense", "the collection has no dense field")
		}
		if err := validate.Dense(field+".dense", d.Dense, s.Dense.Dim); err != nil {
			return nil, err
		}
		w.Dense = d.Dense
	}
	if d.Multivector != nil {
		if s.Multivector == nil {
			return nil, badRequest(field+".multivector", "the collection has no multivector field")
		}
		flat, err := flattenMulti(field+".multivector", d.Multivector, s.Multivector.Dim)
		if err != nil {
			return nil, err
		}
		w.Multi = flat
	}
	if len(d.Attributes) > 0 {
		w.Attrs = make(map[string]*wire.Attr, len(d.Attributes))
		for name, v := range d.Attributes {
			a, err := attrToWire(field+".attributes."+name, s.Attributes[name], v)
			if err != nil {
				return nil, err
			}
			w.Attrs[name] = a
		}
	}
	return w, nil
}

func flattenMulti(field string, rows [][]float32, dim int) ([]float32, error) {
	if len(rows) == 0 || len(rows) > api.MaxVectorsPerDoc {
		return nil, badRequest(field, "got %d vectors, want 1..%d", len(rows), api.MaxVectorsPerDoc)
	}
	flat := make([]float32, 0, len(rows)*dim)
	for i, r := range rows {
		if err := validate.Dense(fmt.Sprintf("%s[%d]", field, i), r, dim); err != nil {
			return nil, err
		}
		flat = append(flat, r...)
	}
	return flat, nil
}

// attrToWire converts a JSON attribute value of the declared kind ("" for an
// attribute the schema does not declare).
func attrToWire(field, kind string, v any) (*wire.Attr, error) {
	switch kind {
	case "":
		return nil, badRequest(field, "unknown attribute")
	case api.AttrKeyword:
		s, ok := v.(string)
		if !ok {
			return nil, badRequest(field, "want a string for a keyword attribute")
		}
		return &wire.Attr{Value: &wire.Attr_Keyword{Keyword: s}}, nil
	case api.AttrInt:
		n, ok := v.(json.Number)
		if !ok {
			if f, isF := v.(float64); isF && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return &wire.Attr{Value: &wire.Attr_Int{Int: int64(f)}}, nil
			}
			return nil, badRequest(field, "want an integer")
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return nil, badRequest(field, "want an integer, got %s", n)
		}
		return &wire.Attr{Value: &wire.Attr_Int{Int: i}}, nil
	case api.AttrFloat:
		f, err := number(v)
		if err != nil {
			return nil, badRequest(field, "%v", err)
		}
		return &wire.Attr{Value: &wire.Attr_Float{Float: f}}, nil
	}
	return nil, badRequest(field, "unknown attribute kind %q", kind)
}

func number(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("want a number, got %s", x)
		}
	case float64:
		f = x
	default:
		return 0, fmt.Errorf("want a number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a finite number")
	}
	return f, nil
}

// queryToWire validates a search request against the schema and converts it.
// It returns the modalities asked for, in a fixed order.
func queryToWire(q *api.SearchRequest, s *api.CollectionSpec) (*wire.SearchRequest, []string, error) {
	if q.K == 0 {
		q.K = 10
	}
	if q.K < 1 || q.K > api.MaxK {
		return nil, nil, badRequest("k", "got %d, want 1..%d", q.K, api.MaxK)
	}
	w := &wire.SearchRequest{Version: wire.Version, K: uint32(q.K)}
	var mods []string
	if q.Sparse != nil {
		if s.Sparse == nil {
			return nil, nil, badRequest("sparse", "the collection has no sparse field")
		}
		if err := validate.Sparse("sparse", q.Sparse.Indices, q.Sparse.Values, s.Sparse.MaxTerm); err != nil {
			return nil, nil, err
		}
		w.Sparse = &wire.SparseVector{Indices: q.Sparse.Indices, Values: q.Sparse.Values}
		mods = append(mods, "sparse")
	}
	if q.Dense != nil {
		if s.Dense == nil {
			return nil, nil, badRequest("dense", "the collection has no dense field")
		}
		if err := validate.Dense("dense", q.Dense, s.Dense.Dim); err != nil {
			return nil, nil, err
		}
		w.Dense = q.Dense
		mods = append(mods, "dense")
	}
	if q.Multivector != nil {
		if s.Multivector == nil {
			return nil, nil, badRequest("multivector", "the collection has no multivector field")
		}
		flat, err := flattenMulti("multivector", q.Multivector, s.Multivector.Dim)
		if err != nil {
			return nil, nil, err
		}
		w.Multi = flat
		mods = append(mods, "multivector")
	}
	if len(mods) == 0 {
		return nil, nil, badRequest("sparse", "a search needs sparse, dense or multivector")
	}
	switch q.Fusion {
	case "", api.FusionRRF, api.FusionLinear:
	default:
		return nil, nil, badRequest("fusion", "unknown fusion %q (want rrf or linear)", q.Fusion)
	}
	for name, wt := range q.Weights {
		if name != "sparse" && name != "dense" && name != "multivector" {
			return nil, nil, badRequest("weights."+name, "unknown modality (want sparse, dense or multivector)")
		}
		if !validate.Finite32(wt) || wt < 0 {
			return nil, nil, badRequest("weights."+name, "want a finite weight >= 0")
		}
	}
	if pr := q.Params; pr != nil {
		switch {
		case pr.QueryCut < 0 || pr.QueryCut > 1<<16:
			return nil, nil, badRequest("params.query_cut", "got %d, want 0..65536", pr.QueryCut)
		case !validate.Finite32(pr.HeapFactor) || pr.HeapFactor < 0 || pr.HeapFactor > 100:
			return nil, nil, badRequest("params.heap_factor", "want a number in [0, 100]")
		case pr.NProbe < 0 || pr.NProbe > 1<<16:
			return nil, nil, badRequest("params.nprobe", "got %d, want 0..65536", pr.NProbe)
		case pr.Oversample < 0 || pr.Oversample > 1000:
			return nil, nil, badRequest("params.oversample", "got %d, want 0..1000", pr.Oversample)
		case pr.Candidates < 0 || pr.Candidates > 100000:
			return nil, nil, badRequest("params.candidates", "got %d, want 0..100000", pr.Candidates)
		case !(pr.TargetRecall >= 0 && pr.TargetRecall <= 1):
			return nil, nil, badRequest("params.target_recall", "want a recall in (0, 1]")
		}
		w.TargetRecall = float32(pr.TargetRecall)
		w.QueryCut, w.HeapFactor, w.Nprobe = uint32(pr.QueryCut), pr.HeapFactor, uint32(pr.NProbe)
		w.Oversample, w.Candidates, w.Exact = uint32(pr.Oversample), uint32(pr.Candidates), pr.Exact
	}
	names := make([]string, 0, len(q.Filter))
	for name := range q.Filter {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c, err := condToWire("filter."+name, name, s.Attributes[name], q.Filter[name])
		if err != nil {
			return nil, nil, err
		}
		w.Filter = append(w.Filter, c)
	}
	return w, mods, nil
}

func condToWire(field, name, kind string, v any) (*wire.Cond, error) {
	if kind == "" {
		return nil, badRequest(field, "unknown attribute")
	}
	c := &wire.Cond{Field: name}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return nil, badRequest(field, "an empty list matches nothing")
		}
		for i, e := range x {
			a, err := attrToWire(fmt.Sprintf("%s[%d]", field, i), kind, e)
			if err != nil {
				return nil, err
			}
			c.Any = append(c.Any, a)
		}
	case map[string]any:
		if kind == api.AttrKeyword {
			return nil, badRequest(field, "ranges apply to int and float attributes only")
		}
		for op, b := range x {
			f, err := number(b)
			if err != nil {
				return nil, badRequest(field+"."+op, "%v", err)
			}
			switch op {
			case "gte":
				c.Gte = &f
			case "lte":
				c.Lte = &f
			default:
				return nil, badRequest(field+"."+op, "unknown range operator (want gte or lte)")
			}
		}
		if c.Gte == nil && c.Lte == nil {
			return nil, badRequest(field, "a range needs gte or lte")
		}
	default:
		a, err := attrToWire(field, kind, v)
		if err != nil {
			return nil, err
		}
		c.Any = []*wire.Attr{a}
	}
	return c, nil
}
