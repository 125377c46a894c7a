package shard

import (
	"fmt"
	"math"
	"sort"

	"github.com/shoal-search/shoal/internal/validate"
	"github.com/shoal-search/shoal/internal/vecmath"
)

// Metric is how dense and multi-vector similarities are computed. Scores are
// always "higher is better": l2 scores are negated squared distances.
type Metric uint8

// Metrics.
const (
	MetricIP Metric = iota
	MetricCosine
	MetricL2
)

// ParseMetric maps "ip", "cosine" and "l2" to a Metric.
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "ip":
		return MetricIP, nil
	case "cosine":
		return MetricCosine, nil
	case "l2":
		return MetricL2, nil
	}
	return 0, fmt.Errorf("unknown metric %q (want ip, cosine or l2)", s)
}

// String returns the metric's name.
func (m Metric) String() string {
	switch m {
	case MetricIP:
		return "ip"
	case MetricCosine:
		return "cosine"
	case MetricL2:
		return "l2"
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// AttrKind is the type of an attribute field.
type AttrKind uint8

// Attribute kinds.
const (
	AttrKeyword AttrKind = iota + 1
	AttrInt
	AttrFloat
)

// Schema is what a shard accepts. A zero SparseMaxTerm, DenseDim or MultiDim
// means the collection has no such field.
type Schema struct {
	SparseMaxTerm uint32
	DenseDim      int
	DenseMetric   Metric
	// DenseCodec names the embtable codec of sealed segments ("" = f32).
	DenseCodec  string
	MultiDim    int
	MultiMetric Metric
	Attributes  map[string]AttrKind
}

// SparseVec is a sparse vector with strictly ascending indices.
type SparseVec struct {
	Indices []uint32
	Values  []float32
}

// Attr is one attribute value; which field is meaningful depends on Kind.
type Attr struct {
	Kind  AttrKind
	Str   string
	Int   int64
	Float float64
}

// Document is one stored document. Multi holds MultiCount vectors of the
// schema's MultiDim, row-major. A stored Document is never modified: an
// upsert replaces it whole.
type Document struct {
	ID     string
	Sparse SparseVec
	Dense  []float32
	Multi  []float32
	Attrs  map[string]Attr
}

// MultiCount returns the number of vectors in d's multi-vector.
func (d *Document) MultiCount(dim int) int {
	if dim == 0 {
		return 0
	}
	return len(d.Multi) / dim
}

// Limits on what one document or batch may hold.
const (
	MaxIDBytes      = 512
	MaxMultiVectors = 4096
	MaxBatchOps     = 100000
)

// ErrInvalid matches every validation error.
var ErrInvalid = validate.ErrInvalid

// FieldError is a validation failure that names the offending field.
type FieldError = validate.FieldError

func fieldErr(field, format string, a ...any) error { return validate.Errorf(field, format, a...) }

// ValidateSparse checks that v has matching lengths, strictly ascending ids
// below maxTerm, and finite values.
func ValidateSparse(field string, v SparseVec, maxTerm uint32) error {
	return validate.Sparse(field, v.Indices, v.Values, maxTerm)
}

// ValidateDense checks a dense vector's dimension and values.
func ValidateDense(field string, v []float32, dim int) error { return validate.Dense(field, v, dim) }

// ValidateMulti checks a flat multi-vector of vectors of dim.
func ValidateMulti(field string, flat []float32, dim int) error {
	return validate.Multi(field, flat, dim, MaxMultiVectors)
}

// Validate checks d against the schema.
func (s *Schema) Validate(d *Document) error {
	if d.ID == "" {
		return fieldErr("id", "must not be empty")
	}
	if len(d.ID) > MaxIDBytes {
		return fieldErr("id", "longer than %d bytes", MaxIDBytes)
	}
	if len(d.Sparse.Indices) > 0 || len(d.Sparse.Values) > 0 {
		if s.SparseMaxTerm == 0 {
			return fieldErr("sparse", "the collection has no sparse field")
		}
		if err := ValidateSparse("sparse", d.Sparse, s.SparseMaxTerm); err != nil {
			return err
		}
	}
	if d.Dense != nil {
		if s.DenseDim == 0 {
			return fieldErr("dense", "the collection has no dense field")
		}
		if err := ValidateDense("dense", d.Dense, s.DenseDim); err != nil {
			return err
		}
	}
	if d.Multi != nil {
		if s.MultiDim == 0 {
			return fieldErr("multivector", "the collection has no multivector field")
		}
		if err := ValidateMulti("multivector", d.Multi, s.MultiDim); err != nil {
			return err
		}
	}
	for name, a := range d.Attrs {
		kind, ok := s.Attributes[name]
		if !ok {
			return fieldErr("attributes."+name, "unknown attribute")
		}
		if a.Kind != kind {
			return fieldErr("attributes."+name, "wrong type")
		}
		if kind == AttrFloat && (math.IsNaN(a.Float) || math.IsInf(a.Float, 0)) {
			return fieldErr("attributes."+name, "value is not finite")
		}
	}
	return nil
}

// sortedAttrNames returns the attribute names of m in ascending order, so
// encodings are deterministic.
func sortedAttrNames(m map[string]Attr) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// norms caches what scoring needs of a document beyond its vectors.
type norms struct {
	dense float32 // L2 norm of Dense (cosine)
}

func computeNorms(d *Document) norms {
	var n norms
	if d.Dense != nil {
		n.dense = vecmath.Norm(d.Dense)
	}
	return n
}
