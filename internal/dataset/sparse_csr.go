package dataset

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// maxCSRElems bounds the element counts a CSR header may declare, so that a
// corrupt header cannot make the reader allocate without limit.
const maxCSRElems = 1 << 34

// ReadSparseCSR reads a file in the BigANN sparse format: int64 nrow, ncol,
// nnz; int64 indptr[nrow+1]; int32 indices[nnz]; float32 data[nnz]; all
// little-endian.
func ReadSparseCSR(path string) (*Sparse, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := ParseSparseCSR(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return s, nil
}

// ParseSparseCSR reads the BigANN sparse CSR format from r and validates it.
func ParseSparseCSR(r io.Reader) (*Sparse, error) {
	var hdr [3]int64
	if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSparseFormat, err)
	}
	nrow, ncol, nnz := hdr[0], hdr[1], hdr[2]
	if nrow < 0 || ncol < 0 || nnz < 0 || nrow > maxCSRElems || nnz > maxCSRElems || ncol > math.MaxUint32+1 {
		return nil, fmt.Errorf("%w: header nrow=%d ncol=%d nnz=%d out of range", ErrSparseFormat, nrow, ncol, nnz)
	}
	s := &Sparse{Dim: uint32(min(ncol, math.MaxUint32))}
	var err error
	if s.Offsets, err = readLE[int64](r, nrow+1); err != nil {
		return nil, fmt.Errorf("%w: indptr: %v", ErrSparseFormat, err)
	}
	idx, err := readLE[int32](r, nnz)
	if err != nil {
		return nil, fmt.Errorf("%w: indices: %v", ErrSparseFormat, err)
	}
	s.Indices = make([]uint32, len(idx))
	for i, v := range idx {
		if v < 0 {
			return nil, fmt.Errorf("%w: negative index at %d", ErrSparseFormat, i)
		}
		s.Indices[i] = uint32(v)
	}
	if s.Values, err = readLE[float32](r, nnz); err != nil {
		return nil, fmt.Errorf("%w: data: %v", ErrSparseFormat, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// readLE reads n little-endian values in chunks, so a lying header fails at
// end of input instead of allocating n up front.
func readLE[T int64 | int32 | float32](r io.Reader, n int64) ([]T, error) {
	const chunk = 1 << 16
	out := make([]T, 0, min(n, chunk))
	buf := make([]T, chunk)
	for int64(len(out)) < n {
		m := min(n-int64(len(out)), chunk)
		if err := binary.Read(r, binary.LittleEndian, buf[:m]); err != nil {
			return nil, err
		}
		out = append(out, buf[:m]...)
	}
	return out, nil
}

// WriteSparseCSR writes s in the BigANN sparse CSR format.
func WriteSparseCSR(w io.Writer, s *Sparse) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := [3]int64{int64(s.Len()), int64(s.Dim), int64(s.NNZ())}
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return err
	}
	if err := binary.Write(bw, binary.LittleEndian, s.Offsets); err != nil {
		return err
	}
	idx := make([]int32, len(s.Indices))
	for i, v := range s.Indices {
		idx[i] = int32(v)
	}
	if err := binary.Write(bw, binary.LittleEndian, idx); err != nil {
		return err
	}
	if err := binary.Write(bw, binary.LittleEndian, s.Values); err != nil {
		return err
	}
	return bw.Flush()
}
