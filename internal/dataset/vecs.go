package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ErrVecsFormat reports a malformed .fvecs, .ivecs or .bvecs file: a
// truncated record, a non-positive dimension, or rows of differing dimension.
var ErrVecsFormat = errors.New("dataset: malformed vecs file")

// maxVecsDim bounds the dimension a vecs record may declare, so that a corrupt
// header cannot make a reader allocate without limit.
const maxVecsDim = 1 << 16

// ReadFvecs reads a TEXMEX .fvecs file: records of an int32 dimension followed
// by that many float32 values. It returns the rows concatenated row-major and
// the dimension; the row count is len(data)/dim.
func ReadFvecs(path string) (data []float32, dim int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("dataset: read fvecs: %w", err)
	}
	return DecodeFvecs(raw)
}

// ReadIvecs reads a .ivecs file (int32 values, e.g. ground-truth row numbers).
func ReadIvecs(path string) (data []int32, dim int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("dataset: read ivecs: %w", err)
	}
	return DecodeIvecs(raw)
}

// ReadBvecs reads a .bvecs file (uint8 values, e.g. SIFT descriptors).
func ReadBvecs(path string) (data []uint8, dim int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("dataset: read bvecs: %w", err)
	}
	return DecodeBvecs(raw)
}

// DecodeFvecs decodes the bytes of an .fvecs file.
func DecodeFvecs(raw []byte) ([]float32, int, error) {
	dim, rows, err := vecsShape(raw, 4)
	if err != nil {
		return nil, 0, err
	}
	out := make([]float32, 0, rows*dim)
	rec := 4 + 4*dim
	for r := 0; r < rows; r++ {
		b := raw[r*rec+4 : (r+1)*rec]
		for i := 0; i < dim; i++ {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	return out, dim, nil
}

// DecodeIvecs decodes the bytes of an .ivecs file.
func DecodeIvecs(raw []byte) ([]int32, int, error) {
	dim, rows, err := vecsShape(raw, 4)
	if err != nil {
		return nil, 0, err
	}
	out := make([]int32, 0, rows*dim)
	rec := 4 + 4*dim
	for r := 0; r < rows; r++ {
		b := raw[r*rec+4 : (r+1)*rec]
		for i := 0; i < dim; i++ {
			out = append(out, int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	return out, dim, nil
}

// DecodeBvecs decodes the bytes of a .bvecs file.
func DecodeBvecs(raw []byte) ([]uint8, int, error) {
	dim, rows, err := vecsShape(raw, 1)
	if err != nil {
		return nil, 0, err
	}
	out := make([]uint8, 0, rows*dim)
	rec := 4 + dim
	for r := 0; r < rows; r++ {
		out = append(out, raw[r*rec+4:(r+1)*rec]...)
	}
	return out, dim, nil
}

// vecsShape checks that raw is a whole number of records of one dimension,
// each of 4 + elem*dim bytes, and returns the dimension and row count. An
// empty file has dimension 0 and no rows.
func vecsShape(raw []byte, elem int) (dim, rows int, err error) {
	if len(raw) == 0 {
		return 0, 0, nil
	}
	if len(raw) < 4 {
		return 0, 0, fmt.Errorf("%w: %d bytes is shorter than a header", ErrVecsFormat, len(raw))
	}
	d := int32(binary.LittleEndian.Uint32(raw))
	if d <= 0 || d > maxVecsDim {
		return 0, 0, fmt.Errorf("%w: dimension %d", ErrVecsFormat, d)
	}
	dim = int(d)
	rec := 4 + elem*dim
	if len(raw)%rec != 0 {
		return 0, 0, fmt.Errorf("%w: %d bytes is not a multiple of the %d-byte record", ErrVecsFormat, len(raw), rec)
	}
	rows = len(raw) / rec
	for r := 1; r < rows; r++ {
		if got := int32(binary.LittleEndian.Uint32(raw[r*rec:])); int(got) != dim {
			return 0, 0, fmt.Errorf("%w: row %d has dimension %d, want %d", ErrVecsFormat, r, got, dim)
		}
	}
	return dim, rows, nil
}

// AppendFvecs appends the .fvecs encoding of the row-major data of dimension
// dim to dst.
func AppendFvecs(dst []byte, data []float32, dim int) []byte {
	for r := 0; r+dim <= len(data); r += dim {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(dim))
		for _, x := range data[r : r+dim] {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	}
	return dst
}

// WriteFvecs writes row-major data of dimension dim to w in .fvecs format.
func WriteFvecs(w io.Writer, data []float32, dim int) error {
	_, err := w.Write(AppendFvecs(nil, data, dim))
	return err
}

// BytesToFloat32 widens uint8 rows (as read by ReadBvecs) to float32.
func BytesToFloat32(b []uint8) []float32 {
	out := make([]float32, len(b))
	for i, x := range b {
		out[i] = float32(x)
	}
	return out
}
