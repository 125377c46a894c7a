package dataset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// ErrSparseFormat reports malformed sparse-vector input: bad JSON, a length
// mismatch, unsorted or duplicate indices, or a non-finite value.
var ErrSparseFormat = errors.New("dataset: malformed sparse vectors")

// Sparse is a set of sparse vectors in compressed-row (CSR) form. Row i has
// the indices Indices[Offsets[i]:Offsets[i+1]], strictly ascending, and the
// values at the same positions. IDs is nil or holds one external id per row.
type Sparse struct {
	// IDs holds the external id of each row, or is nil.
	IDs []string
	// Offsets has Len()+1 entries; Offsets[0] is 0.
	Offsets []int64
	// Indices holds the component ids of all rows, concatenated.
	Indices []uint32
	// Values holds the component values of all rows, concatenated.
	Values []float32
	// Dim is one more than the largest component id any row may use.
	Dim uint32
}

// NewSparse returns an empty set with room for rows rows and nnz components.
func NewSparse(rows, nnz int) *Sparse {
	s := &Sparse{
		Offsets: make([]int64, 1, rows+1),
		Indices: make([]uint32, 0, nnz),
		Values:  make([]float32, 0, nnz),
	}
	return s
}

// Len returns the number of rows.
func (s *Sparse) Len() int { return len(s.Offsets) - 1 }

// NNZ returns the total number of stored components.
func (s *Sparse) NNZ() int { return len(s.Indices) }

// Row returns the indices and values of row i. The slices alias s.
func (s *Sparse) Row(i int) ([]uint32, []float32) {
	a, b := s.Offsets[i], s.Offsets[i+1]
	return s.Indices[a:b], s.Values[a:b]
}

// Append adds one row. It does not check the row; Validate does.
func (s *Sparse) Append(indices []uint32, values []float32) {
	s.Indices = append(s.Indices, indices...)
	s.Values = append(s.Values, values...)
	s.Offsets = append(s.Offsets, int64(len(s.Indices)))
	for _, t := range indices {
		if t >= s.Dim {
			s.Dim = t + 1
		}
	}
}

// Validate checks the CSR invariants: offsets start at 0 and never decrease,
// indices are strictly ascending within a row and below Dim, values are
// finite, and IDs (when present) has one entry per row.
func (s *Sparse) Validate() error {
	if len(s.Offsets) == 0 || s.Offsets[0] != 0 {
		return fmt.Errorf("%w: offsets must start with 0", ErrSparseFormat)
	}
	if len(s.Indices) != len(s.Values) {
		return fmt.Errorf("%w: %d indices but %d values", ErrSparseFormat, len(s.Indices), len(s.Values))
	}
	if s.Offsets[len(s.Offsets)-1] != int64(len(s.Indices)) {
		return fmt.Errorf("%w: last offset %d, want %d", ErrSparseFormat, s.Offsets[len(s.Offsets)-1], len(s.Indices))
	}
	if s.IDs != nil && len(s.IDs) != s.Len() {
		return fmt.Errorf("%w: %d ids for %d rows", ErrSparseFormat, len(s.IDs), s.Len())
	}
	for i := 0; i < s.Len(); i++ {
		a, b := s.Offsets[i], s.Offsets[i+1]
		if b < a {
			return fmt.Errorf("%w: row %d: offsets decrease", ErrSparseFormat, i)
		}
		if err := checkRow(s.Indices[a:b], s.Values[a:b], s.Dim); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

func checkRow(idx []uint32, val []float32, dim uint32) error {
	for j, t := range idx {
		if j > 0 && t <= idx[j-1] {
			return fmt.Errorf("%w: indices not strictly ascending at position %d", ErrSparseFormat, j)
		}
		if t >= dim {
			return fmt.Errorf("%w: index %d not below dim %d", ErrSparseFormat, t, dim)
		}
		v := float64(val[j])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: non-finite value at position %d", ErrSparseFormat, j)
		}
	}
	return nil
}

// sparseLine is one line of the JSONL sparse format. The id may be a JSON
// string or number.
type sparseLine struct {
	ID      json.RawMessage `json:"id"`
	Indices []uint32        `json:"indices"`
	Values  []float32       `json:"values"`
}

// ReadSparseJSONL reads a file of {"id","indices","values"} lines. A name
// ending in .gz is decompressed.
func ReadSparseJSONL(path string) (*Sparse, error) {
	return readPath(path, ParseSparseJSONL)
}

// ParseSparseJSONL parses {"id","indices","values"} lines from r. Blank
// lines are skipped. Indices must be strictly ascending with one finite
// value each. Dim is set to one more than the largest index seen.
func ParseSparseJSONL(r io.Reader) (*Sparse, error) {
	s := NewSparse(0, 0)
	s.IDs = []string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var l sparseLine
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrSparseFormat, line, err)
		}
		if len(l.Indices) != len(l.Values) {
			return nil, fmt.Errorf("%w: line %d: %d indices but %d values", ErrSparseFormat, line, len(l.Indices), len(l.Values))
		}
		if err := checkRow(l.Indices, l.Values, math.MaxUint32); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		id, err := parseID(l.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrSparseFormat, line, err)
		}
		s.IDs = append(s.IDs, id)
		s.Append(l.Indices, l.Values)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseID accepts a JSON string or number and returns its text.
func parseID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("missing id")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("id is neither a string nor a number")
	}
	return n.String(), nil
}
