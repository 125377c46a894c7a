// Package validate checks vectors the same way wherever they enter shoal:
// at the coordinator's HTTP edge and again in every shard's apply. Errors
// name the offending field as a JSON path.
//
//	err := validate.Sparse("sparse", indices, values, 30522)
//	var fe *validate.FieldError
//	errors.As(err, &fe) // fe.Field == "sparse.indices[3]"
package validate

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid matches every FieldError.
var ErrInvalid = errors.New("invalid input")

// MaxSparseNNZ is the largest number of nonzeros in one sparse vector.
const MaxSparseNNZ = 1 << 16

// FieldError is a validation failure that names the offending field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Is makes a FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Errorf returns a FieldError for field.
func Errorf(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Prefix returns err with prefix prepended to its field when it is a
// FieldError, and err unchanged otherwise.
func Prefix(prefix string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: prefix + "." + fe.Field, Msg: fe.Msg}
	}
	return err
}

// Finite32 reports whether x is neither NaN nor infinite.
func Finite32(x float32) bool {
	return x == x && x <= math.MaxFloat32 && x >= -math.MaxFloat32
}

// Sparse checks matching lengths, strictly ascending ids below maxTerm, and
// finite values.
func Sparse(field string, indices []uint32, values []float32, maxTerm uint32) error {
	if len(indices) != len(values) {
		return Errorf(field, "indices has %d entries but values has %d", len(indices), len(values))
	}
	if len(indices) > MaxSparseNNZ {
		return Errorf(field+".indices", "%d entries exceed the limit of %d", len(indices), MaxSparseNNZ)
	}
	for i, t := range indices {
		if t >= maxTerm {
			return Errorf(fmt.Sprintf("%s.indices[%d]", field, i), "term id %d out of range (max_term %d)", t, maxTerm)
		}
		if i > 0 && t <= indices[i-1] {
			if t == indices[i-1] {
				return Errorf(fmt.Sprintf("%s.indices[%d]", field, i), "duplicate term id %d", t)
			}
			return Errorf(fmt.Sprintf("%s.indices[%d]", field, i), "term ids must be strictly ascending (%d after %d)", t, indices[i-1])
		}
	}
	for i, x := range values {
		if !Finite32(x) {
			return Errorf(fmt.Sprintf("%s.values[%d]", field, i), "value is not finite")
		}
	}
	return nil
}

// Dense checks a dense vector's dimension and values.
func Dense(field string, v []float32, dim int) error {
	if len(v) != dim {
		return Errorf(field, "got dimension %d, want %d", len(v), dim)
	}
	for i, x := range v {
		if !Finite32(x) {
			return Errorf(fmt.Sprintf("%s[%d]", field, i), "value is not finite")
		}
	}
	return nil
}

// Multi checks a row-major multi-vector of rows of dim, at most maxRows rows.
func Multi(field string, flat []float32, dim, maxRows int) error {
	if dim <= 0 || len(flat)%dim != 0 {
		return Errorf(field, "length %d is not a multiple of dimension %d", len(flat), dim)
	}
	if n := len(flat) / dim; n == 0 || n > maxRows {
		return Errorf(field, "got %d vectors, want 1..%d", n, maxRows)
	}
	for i, x := range flat {
		if !Finite32(x) {
			return Errorf(fmt.Sprintf("%s[%d][%d]", field, i/dim, i%dim), "value is not finite")
		}
	}
	return nil
}
