package dataset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shoal-search/shoal/internal/vecmath"
)

// ErrMultivecFormat reports a malformed multi-vector token file.
var ErrMultivecFormat = errors.New("dataset: malformed multivec token file")

// MultivecTokens is one line of a multi-vector token file: an id and the
// 0-based rows of the word table, in text order, with repeats.
type MultivecTokens struct {
	ID    string  `json:"id"`
	Words []int32 `json:"words"`
}

// ReadMultivecTokens reads a token file ({"id", "words"} per line), gzip
// compressed when the name ends in ".gz".
func ReadMultivecTokens(path string) ([]MultivecTokens, error) {
	return readPath(path, ParseMultivecTokens)
}

// ParseMultivecTokens parses token lines from r. Every line must hold an id
// and non-negative word rows.
func ParseMultivecTokens(r io.Reader) ([]MultivecTokens, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	var out []MultivecTokens
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var t MultivecTokens
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMultivecFormat, line, err)
		}
		if t.ID == "" {
			return nil, fmt.Errorf("%w: line %d: empty id", ErrMultivecFormat, line)
		}
		for _, w := range t.Words {
			if w < 0 {
				return nil, fmt.Errorf("%w: line %d: negative word row %d", ErrMultivecFormat, line, w)
			}
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// MultivecSet is a set of multi-vector documents or queries: Vectors[i] is
// the row-major len/Dim × Dim matrix of item i, IDs[i] its id.
type MultivecSet struct {
	IDs     []string
	Vectors [][]float32
	Dim     int
}

// Tokens returns the total number of vectors in the set.
func (s *MultivecSet) Tokens() int {
	n := 0
	for _, v := range s.Vectors {
		n += len(v) / s.Dim
	}
	return n
}

// JoinMultivec builds the vectors of every token line from the word table
// (row-major, dim columns). When normalize is set every token vector is
// scaled to unit L2 norm, so inner products are cosines. A word row outside
// the table is an error. Items keep their token order and repeats.
func JoinMultivec(lines []MultivecTokens, table []float32, dim int, normalize bool) (*MultivecSet, error) {
	if dim < 1 || len(table)%dim != 0 {
		return nil, fmt.Errorf("%w: table length %d not a multiple of dim %d", ErrMultivecFormat, len(table), dim)
	}
	rows := int32(len(table) / dim)
	total := 0
	for _, l := range lines {
		total += len(l.Words)
	}
	backing := make([]float32, total*dim)
	set := &MultivecSet{IDs: make([]string, len(lines)), Vectors: make([][]float32, len(lines)), Dim: dim}
	off := 0
	for i, l := range lines {
		set.IDs[i] = l.ID
		start := off
		for _, w := range l.Words {
			if w >= rows {
				return nil, fmt.Errorf("%w: %s: word row %d outside table of %d", ErrMultivecFormat, l.ID, w, rows)
			}
			v := backing[off : off+dim]
			copy(v, table[int(w)*dim:int(w+1)*dim])
			if normalize {
				vecmath.Normalize(v)
			}
			off += dim
		}
		set.Vectors[i] = backing[start:off:off]
	}
	return set, nil
}

// ReadSciFactMultivec loads the SciFact GloVe multi-vector documents and
// queries from dir (the scifact folder; the word table is read from
// dir/../glove/scifact-words.fvecs). Token vectors are normalized to unit
// length, as the reference MaxSim of the data README uses cosines.
func ReadSciFactMultivec(dir string) (docs, queries *MultivecSet, err error) {
	table, dim, err := ReadFvecs(dir + "/../glove/scifact-words.fvecs")
	if err != nil {
		return nil, nil, err
	}
	dl, err := ReadMultivecTokens(dir + "/multivec-glove/docs.tokens.jsonl.gz")
	if err != nil {
		return nil, nil, err
	}
	ql, err := ReadMultivecTokens(dir + "/multivec-glove/queries.tokens.jsonl")
	if err != nil {
		return nil, nil, err
	}
	if docs, err = JoinMultivec(dl, table, dim, true); err != nil {
		return nil, nil, err
	}
	if queries, err = JoinMultivec(ql, table, dim, true); err != nil {
		return nil, nil, err
	}
	return docs, queries, nil
}
