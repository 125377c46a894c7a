package embtable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"syscall"
	"unsafe"

	"github.com/shoal-search/shoal/internal/atomicfile"
)

// The table file ("codes") layout, version 1, all little-endian:
//
//	magic "SHOALEMB" | u32 version | u8 codec, metric, rescore, 0 |
//	u32 dim, n, nlist, codeLen, rdim, auxStride | u64 seed |
//	15 arrays, each u64 count then the values, in the order of tableArrays |
//	u32 CRC-32 (IEEE) of everything before it.
//
// The rescoring file (path + ".rescore") layout, version 2:
//
//	magic "SHOALRSC" | u32 version | u8 precision, 0, 0, 0 | u32 dim | u64 n |
//	u32 CRC-32C (Castagnoli) of bytes 0..27 and of the values |
//	zero padding to 64 bytes | n·dim values (f32 or f16 bits), row order.
//
// Version 1 (still read) has no checksum (bytes 28..31 are zero padding).
// The rescoring file is mapped read-only by Open, which verifies the
// checksum once, reading the file through; rescoring then touches only the
// pages it needs.
const (
	tableMagic    = "SHOALEMB"
	tableVersion  = 1
	rescoreMagic  = "SHOALRSC"
	rescoreVer    = 2
	rescoreVer1   = 1
	rescoreHeader = 64
	tableHeader   = 8 + 4 + 4 + 6*4 + 8
)

// arrays lists the table's arrays in file order with their element sizes.
func (t *Table) arrays() []any {
	return []any{&t.mins, &t.steps, &t.pqSplit, &t.pqBook, &t.center, &t.rot, &t.rcent,
		&t.cents, &t.offsets, &t.ids, &t.codes8, &t.words, &t.f32, &t.f16, &t.aux}
}

// AppendBinary appends the table file encoding (codes and parameters, not the
// rescoring copy) to dst.
func (t *Table) AppendBinary(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, tableMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, tableVersion)
	dst = append(dst, byte(t.codec), byte(t.metric), byte(t.rescore), 0)
	for _, v := range []int{t.dim, t.n, t.nlist, t.codeLen, t.rdim, t.auxStride} {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(v))
	}
	dst = binary.LittleEndian.AppendUint64(dst, t.seed)
	for _, a := range t.arrays() {
		switch a := a.(type) {
		case *[]float32:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(*a)))
			for _, x := range *a {
				dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
			}
		case *[]int32:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(*a)))
			for _, x := range *a {
				dst = binary.LittleEndian.AppendUint32(dst, uint32(x))
			}
		case *[]uint32:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(*a)))
			for _, x := range *a {
				dst = binary.LittleEndian.AppendUint32(dst, x)
			}
		case *[]uint64:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(*a)))
			for _, x := range *a {
				dst = binary.LittleEndian.AppendUint64(dst, x)
			}
		case *[]uint16:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(*a)))
			for _, x := range *a {
				dst = binary.LittleEndian.AppendUint16(dst, x)
			}
		case *[]byte:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(*a)))
			dst = append(dst, *a...)
		}
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// Decode parses a table file produced by AppendBinary. The table has no
// rescoring copy; Open attaches one from disk.
func Decode(raw []byte) (*Table, error) {
	if len(raw) < tableHeader+4 || string(raw[:8]) != tableMagic {
		return nil, fmt.Errorf("%w: not a table file", ErrFormat)
	}
	if v := binary.LittleEndian.Uint32(raw[8:]); v != tableVersion {
		return nil, fmt.Errorf("%w: table version %d, this build reads %d", ErrFormat, v, tableVersion)
	}
	body := raw[:len(raw)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(raw[len(raw)-4:]) {
		return nil, fmt.Errorf("%w: %w", ErrFormat, ErrChecksum)
	}
	t := &Table{codec: Codec(raw[12]), metric: Metric(raw[13]), rescore: Precision(raw[14])}
	u := func(off int) int { return int(binary.LittleEndian.Uint32(raw[16+4*off:])) }
	t.dim, t.n, t.nlist, t.codeLen, t.rdim, t.auxStride = u(0), u(1), u(2), u(3), u(4), u(5)
	t.seed = binary.LittleEndian.Uint64(raw[40:])
	p := body[tableHeader:]
	for _, a := range t.arrays() {
		if len(p) < 8 {
			return nil, fmt.Errorf("%w: truncated", ErrFormat)
		}
		cnt := binary.LittleEndian.Uint64(p)
		p = p[8:]
		size := uint64(4)
		switch a.(type) {
		case *[]uint64:
			size = 8
		case *[]uint16:
			size = 2
		case *[]byte:
			size = 1
		}
		if cnt > uint64(len(p))/size {
			return nil, fmt.Errorf("%w: array of %d values overruns the file", ErrFormat, cnt)
		}
		n := int(cnt)
		switch a := a.(type) {
		case *[]float32:
			*a = make([]float32, n)
			for i := range *a {
				(*a)[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
			}
		case *[]int32:
			*a = make([]int32, n)
			for i := range *a {
				(*a)[i] = int32(binary.LittleEndian.Uint32(p[4*i:]))
			}
		case *[]uint32:
			*a = make([]uint32, n)
			for i := range *a {
				(*a)[i] = binary.LittleEndian.Uint32(p[4*i:])
			}
		case *[]uint64:
			*a = make([]uint64, n)
			for i := range *a {
				(*a)[i] = binary.LittleEndian.Uint64(p[8*i:])
			}
		case *[]uint16:
			*a = make([]uint16, n)
			for i := range *a {
				(*a)[i] = binary.LittleEndian.Uint16(p[2*i:])
			}
		case *[]byte:
			*a = append([]byte(nil), p[:n]...)
		}
		p = p[n*int(size):]
		if n == 0 {
			// Keep absent arrays nil, as Build leaves them.
			switch a := a.(type) {
			case *[]float32:
				*a = nil
			case *[]int32:
				*a = nil
			case *[]uint32:
				*a = nil
			case *[]uint64:
				*a = nil
			case *[]uint16:
				*a = nil
			case *[]byte:
				*a = nil
			}
		}
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(p))
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	t.deriveMaxErr()
	return t, nil
}

// check verifies that a decoded table is self-consistent, so that Search
// cannot index out of range.
func (t *Table) check() error {
	bad := func(what string, got, want int) error {
		return fmt.Errorf("%w: %s has %d values, want %d", ErrFormat, what, got, want)
	}
	n, dim := t.n, t.dim
	if t.codec >= numCodecs || t.metric >= numMetrics || t.rescore > RescoreF32 {
		return fmt.Errorf("%w: unknown codec, metric or precision", ErrFormat)
	}
	if dim <= 0 || dim > 1<<16 || t.nlist < 0 || n < 0 {
		return fmt.Errorf("%w: dimension %d, nlist %d", ErrFormat, dim, t.nlist)
	}
	if t.nlist > 0 {
		if len(t.cents) != t.nlist*dim {
			return bad("centroids", len(t.cents), t.nlist*dim)
		}
		if len(t.offsets) != t.nlist+1 {
			return bad("offsets", len(t.offsets), t.nlist+1)
		}
		if len(t.ids) != n {
			return bad("ids", len(t.ids), n)
		}
		if t.offsets[0] != 0 || int(t.offsets[t.nlist]) != n {
			return fmt.Errorf("%w: offsets do not span the rows", ErrFormat)
		}
		for l := 0; l < t.nlist; l++ {
			if t.offsets[l] > t.offsets[l+1] {
				return fmt.Errorf("%w: offsets decrease", ErrFormat)
			}
		}
		for _, id := range t.ids {
			if int(id) >= n {
				return fmt.Errorf("%w: row id %d ≥ %d", ErrFormat, id, n)
			}
		}
	} else if len(t.cents)+len(t.offsets)+len(t.ids) != 0 {
		return fmt.Errorf("%w: IVF arrays in a flat table", ErrFormat)
	}
	want := map[Codec]int{F32: dim, F16: dim, SQ8: dim, SQ4: (dim + 1) / 2, Binary: (dim + 63) / 64}
	if w, ok := want[t.codec]; ok && t.codeLen != w {
		return bad("code length", t.codeLen, w)
	}
	switch t.codec {
	case F32:
		if len(t.f32) != n*dim {
			return bad("f32 codes", len(t.f32), n*dim)
		}
	case F16:
		if len(t.f16) != n*dim {
			return bad("f16 codes", len(t.f16), n*dim)
		}
	case SQ8, SQ4:
		if len(t.mins) != dim || len(t.steps) != dim {
			return bad("sq ranges", len(t.mins), dim)
		}
		if len(t.codes8) != n*t.codeLen {
			return bad("sq codes", len(t.codes8), n*t.codeLen)
		}
	case PQ:
		m := t.codeLen
		if m < 1 || m > dim || len(t.pqSplit) != m+1 || len(t.pqBook) != 256*dim {
			return fmt.Errorf("%w: pq shape", ErrFormat)
		}
		for j := 0; j <= m; j++ {
			if int(t.pqSplit[j]) != j*dim/m {
				return fmt.Errorf("%w: pq split", ErrFormat)
			}
		}
		if len(t.codes8) != n*m {
			return bad("pq codes", len(t.codes8), n*m)
		}
	case Binary:
		if len(t.center) != dim || len(t.words) != n*t.codeLen {
			return bad("binary codes", len(t.words), n*t.codeLen)
		}
	case RaBitQ:
		rd := (dim + 63) / 64 * 64
		lists := max(1, t.nlist)
		stride := 2
		if t.metric == IP {
			stride = 3
		}
		if t.rdim != rd || t.codeLen != rd/64 || t.auxStride != stride || len(t.center) != dim ||
			len(t.rot) != rd*rd || len(t.rcent) != lists*rd {
			return fmt.Errorf("%w: rabitq shape", ErrFormat)
		}
		if len(t.words) != n*t.codeLen || len(t.aux) != n*stride {
			return bad("rabitq codes", len(t.words), n*t.codeLen)
		}
	}
	return nil
}

// Save writes the table to path and, when it has a rescoring copy in memory,
// the copy to path + ".rescore". Files are written to a temporary name and
// renamed into place.
func (t *Table) Save(path string) error {
	if err := writeAtomic(path, t.AppendBinary(nil)); err != nil {
		return err
	}
	if t.RescorePrecision() == NoRescore {
		return nil
	}
	return writeAtomic(path+".rescore", t.appendRescore(nil))
}

func (t *Table) appendRescore(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, rescoreMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, rescoreVer)
	dst = append(dst, byte(t.rs.prec), 0, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(t.dim))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.n))
	dst = append(dst, make([]byte, rescoreHeader-28)...)
	if t.rs.f32 != nil {
		for _, x := range t.rs.f32 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	} else {
		for _, x := range t.rs.f16 {
			dst = binary.LittleEndian.AppendUint16(dst, x)
		}
	}
	binary.LittleEndian.PutUint32(dst[start+28:], rescoreChecksum(dst[start:]))
	return dst
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rescoreChecksum is the CRC-32C of a rescoring file image: its first 28
// header bytes, then its values.
func rescoreChecksum(m []byte) uint32 {
	return crc32.Update(crc32.Checksum(m[:28], castagnoli), castagnoli, m[rescoreHeader:])
}

// writeAtomic writes b to path through a synced temporary file renamed into
// place, then syncs the directory.
func writeAtomic(path string, b []byte) error {
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("embtable: save %s: %w", path, err)
	}
	return nil
}

// Open reads the table at path into memory and maps its rescoring copy
// (path + ".rescore") read-only, when that file exists. Call Close to
// release the mapping.
func Open(path string) (*Table, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("embtable: open: %w", err)
	}
	t, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("embtable: %s: %w", path, err)
	}
	f, err := os.Open(path + ".rescore")
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("embtable: open rescoring copy: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("embtable: open rescoring copy: %w", err)
	}
	if st.Size() < rescoreHeader || st.Size() > math.MaxInt {
		return nil, fmt.Errorf("embtable: %s.rescore: %w: rescoring file of %d bytes", path, ErrFormat, st.Size())
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("embtable: map rescoring copy: %w", err)
	}
	if err := t.attachRescore(m); err != nil {
		_ = syscall.Munmap(m)
		return nil, fmt.Errorf("embtable: %s.rescore: %w", path, err)
	}
	t.rs.mapped = m
	return t, nil
}

// attachRescore checks a rescoring file image and points the table's copy at
// its values without copying them.
func (t *Table) attachRescore(m []byte) error {
	if len(m) < rescoreHeader || string(m[:8]) != rescoreMagic {
		return fmt.Errorf("%w: not a rescoring file", ErrFormat)
	}
	switch v := binary.LittleEndian.Uint32(m[8:]); v {
	case rescoreVer1:
	case rescoreVer:
		if got, want := rescoreChecksum(m), binary.LittleEndian.Uint32(m[28:]); got != want {
			return fmt.Errorf("%w: %w: rescoring copy crc32c %08x, header says %08x", ErrFormat, ErrChecksum, got, want)
		}
	default:
		return fmt.Errorf("%w: rescoring version %d, this build reads %d and %d", ErrFormat, v, rescoreVer1, rescoreVer)
	}
	prec := Precision(m[12])
	dim := int(binary.LittleEndian.Uint32(m[16:]))
	n := binary.LittleEndian.Uint64(m[20:])
	if dim != t.dim || n != uint64(t.n) {
		return fmt.Errorf("%w: rescoring copy is %d×%d, table is %d×%d", ErrFormat, n, dim, t.n, t.dim)
	}
	body := m[rescoreHeader:]
	cnt := t.n * t.dim
	switch prec {
	case RescoreF32:
		if len(body) != 4*cnt {
			return fmt.Errorf("%w: rescoring copy has %d bytes, want %d", ErrFormat, len(body), 4*cnt)
		}
		if cnt > 0 {
			t.rs.f32 = unsafe.Slice((*float32)(unsafe.Pointer(&body[0])), cnt)
		}
	case RescoreF16:
		if len(body) != 2*cnt {
			return fmt.Errorf("%w: rescoring copy has %d bytes, want %d", ErrFormat, len(body), 2*cnt)
		}
		if cnt > 0 {
			t.rs.f16 = unsafe.Slice((*uint16)(unsafe.Pointer(&body[0])), cnt)
		}
	default:
		return fmt.Errorf("%w: rescoring precision %d", ErrFormat, prec)
	}
	t.rs.prec = prec
	return nil
}

// Close releases the mapped rescoring copy, if any. The table must not be
// searched during or after Close.
func (t *Table) Close() error {
	m := t.rs.mapped
	t.rs = rescoreCopy{}
	if m == nil {
		return nil
	}
	if err := syscall.Munmap(m); err != nil {
		return fmt.Errorf("embtable: unmap: %w", err)
	}
	return nil
}
