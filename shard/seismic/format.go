package seismic

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"syscall"
	"unsafe"
)

// The on-disk format, version 3. All numbers are little-endian. A 128-byte
// header is followed by the arrays below, each starting at a multiple of 8
// bytes, so that a memory-mapped file is used in place:
//
//	0   magic "SHSEISMC"          8  version u32   12 flags u32 (1 wide, 2 half, 4 remapped, 8 permuted)
//	16  n u64   24 dim u64   32 m u64   40 nnz u64   48 blocks u64   56 postings u64
//	64  summary entries u64   72 knn κ u64   80 seed u64   88 alpha f64   96 beta f64
//	104 n_postings i64   112 doc_cut u32   116 min_cluster_size u32   120 pruning u8
//	121 value type u8   122 reserved
//
//	termMap u32[m] (remapped only), fOff u64[n+1], then either fP u32[nnz] (narrow ids
//	with half values: id | f16<<16) or fT u16|u32[nnz] and fV f32|f16[nnz],
//	listBlk u32[m+1], blkOff u64[blocks+1], post u32[postings], sumOff u64[blocks+1],
//	sT u16|u32[entries], sCode u8[entries], sMin f32[blocks], sScale f32[blocks],
//	knn u32[n·κ], and when flag 8 is set perm u32[n] (position -> input row) and
//	inv u32[n] (input row -> position)
//
// Version 2 ends in an 8-byte trailer after the last (padded) array: u32
// CRC-32C (Castagnoli) of every byte before the trailer, then u32 0. Load
// and Open verify it before they look at anything else, and a file of
// version 2 or later must end exactly at the trailer. Version 1 (still read)
// is version 2 without the trailer; its arrays are only checked for
// consistency.
//
// Version 3 adds, between the last array and the trailer, the adaptive
// section (adaptive_format.go): a u64 byte length, then what an adaptive
// build derived, the lists' maximum values and the calibration table.
// Versions 1 and 2 (no section) still load.
const (
	magic     = "SHSEISMC"
	version   = 3
	versionV1 = 1
	// versionTrailer is the first version with the checksum trailer; every
	// later version keeps it.
	versionTrailer = 2
	// versionSection is the first version with the adaptive section.
	versionSection = 3
	headerSize     = 128
	trailerSize    = 8

	flagWide  = 1
	flagHalf  = 2
	flagRemap = 4
	flagPerm  = 8
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// WriteTo writes the index in the current format version. It implements
// io.WriterTo.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	if !littleEndian {
		return 0, fmt.Errorf("%w: writing needs a little-endian host", ErrFormat)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var h [headerSize]byte
	copy(h[:], magic)
	le := binary.LittleEndian
	le.PutUint32(h[8:], version)
	var flags uint32
	if ix.wide {
		flags |= flagWide
	}
	if ix.half {
		flags |= flagHalf
	}
	if ix.termMap != nil {
		flags |= flagRemap
	}
	if ix.perm != nil {
		flags |= flagPerm
	}
	le.PutUint32(h[12:], flags)
	for i, v := range []uint64{uint64(ix.n), uint64(ix.dim), uint64(ix.m), uint64(len(ix.fOff) - 1),
		uint64(len(ix.blkOff) - 1), uint64(len(ix.post)), uint64(len(ix.sCode)), uint64(ix.knnK), ix.cfg.Seed} {
		le.PutUint64(h[16+8*i:], v)
	}
	// nnz is fOff[n], not len(fOff)-1.
	le.PutUint64(h[40:], ix.fOff[len(ix.fOff)-1])
	le.PutUint64(h[88:], math.Float64bits(ix.cfg.Alpha))
	le.PutUint64(h[96:], math.Float64bits(ix.cfg.Beta))
	le.PutUint64(h[104:], uint64(int64(ix.cfg.NPostings)))
	le.PutUint32(h[112:], uint32(ix.cfg.DocCut))
	le.PutUint32(h[116:], uint32(ix.cfg.MinClusterSize))
	h[120], h[121] = byte(ix.cfg.Pruning), byte(ix.cfg.Values)
	var n int64
	crc := crc32.New(castagnoli)
	cw := io.MultiWriter(bw, crc)
	write := func(b []byte) error {
		k, err := cw.Write(b)
		n += int64(k)
		if err != nil {
			return err
		}
		if pad := (8 - n%8) % 8; pad > 0 {
			k, err = cw.Write(make([]byte, pad))
			n += int64(k)
		}
		return err
	}
	parts := [][]byte{h[:]}
	if ix.termMap != nil {
		parts = append(parts, bytesOf(ix.termMap))
	}
	parts = append(parts, bytesOf(ix.fOff))
	switch {
	case ix.packed():
		parts = append(parts, bytesOf(ix.fP))
	case ix.wide:
		parts = append(parts, bytesOf(ix.fT32), bytesOf(ix.fV16), bytesOf(ix.fV32))
	default:
		parts = append(parts, bytesOf(ix.fT16), bytesOf(ix.fV16), bytesOf(ix.fV32))
	}
	parts = append(parts, bytesOf(ix.listBlk), bytesOf(ix.blkOff), bytesOf(ix.post), bytesOf(ix.sumOff))
	if ix.wide {
		parts = append(parts, bytesOf(ix.sT32))
	} else {
		parts = append(parts, bytesOf(ix.sT16))
	}
	parts = append(parts, ix.sCode, bytesOf(ix.sMin), bytesOf(ix.sScale), bytesOf(ix.knn), bytesOf(ix.perm), bytesOf(ix.inv))
	parts = append(parts, ix.appendSection(nil))
	for _, p := range parts {
		if err := write(p); err != nil {
			return n, err
		}
	}
	var tr [trailerSize]byte
	le.PutUint32(tr[:], crc.Sum32())
	k, err := bw.Write(tr[:])
	n += int64(k)
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// castagnoli is the CRC-32C table; the checksum runs in hardware on amd64
// and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func bytesOf[T uint16 | uint32 | uint64 | float32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// Load reads an index written by WriteTo into memory.
func Load(r io.Reader) (*Index, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	// Copy into 8-byte aligned memory so the arrays can be used in place.
	words := make([]uint64, (len(b)+7)/8)
	adviseHuge(words)
	ab := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)[:len(b)]
	copy(ab, b)
	return parse(ab)
}

// Open memory-maps an index file written by WriteTo. The index reads the
// file in place; Close unmaps it. Close must not run while searches do. The
// checksum of a version-2 file is verified once, here; errors name path.
func Open(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < headerSize || size > math.MaxInt {
		return nil, fmt.Errorf("%w: %s: size %d", ErrFormat, path, size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("seismic: mmap %s: %w", path, err)
	}
	ix, err := parse(b)
	if err != nil {
		_ = syscall.Munmap(b)
		return nil, fmt.Errorf("seismic: %s: %w", path, err)
	}
	ix.mapped = b
	return ix, nil
}

// Close releases the memory map of an index opened with Open. It is a no-op
// for built or loaded indexes, apart from making later searches return
// nothing.
func (ix *Index) Close() error {
	if ix.closed.Swap(true) {
		return nil
	}
	if ix.mapped != nil {
		b := ix.mapped
		ix.mapped = nil
		return syscall.Munmap(b)
	}
	return nil
}

// reader hands out typed views of an aligned byte slice.
type reader struct {
	b   []byte
	off uint64
	err error
}

func view[T uint8 | uint16 | uint32 | uint64 | float32](r *reader, count uint64) []T {
	if r.err != nil {
		return nil
	}
	var zero T
	size := uint64(unsafe.Sizeof(zero))
	if count > uint64(len(r.b))/size || r.off > uint64(len(r.b))-count*size {
		r.err = fmt.Errorf("%w: truncated (need %d more elements at byte %d)", ErrFormat, count, r.off)
		return nil
	}
	var out []T
	if count > 0 {
		out = unsafe.Slice((*T)(unsafe.Pointer(&r.b[r.off])), count)
	}
	r.off += count * size
	r.off = (r.off + 7) &^ 7
	return out
}

// parse checks a whole index image and builds an Index that uses b in
// place. Every offset and id is validated, so a corrupt file fails here
// instead of in Search.
func parse(b []byte) (*Index, error) {
	if !littleEndian {
		return nil, fmt.Errorf("%w: needs a little-endian host", ErrFormat)
	}
	if len(b) < headerSize || string(b[:8]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, fmt.Errorf("%w: image not 8-byte aligned", ErrFormat)
	}
	le := binary.LittleEndian
	v := le.Uint32(b[8:])
	switch {
	case v == versionV1:
	case v >= versionTrailer && v <= version:
		if len(b) < headerSize+trailerSize {
			return nil, fmt.Errorf("%w: truncated (no checksum trailer)", ErrFormat)
		}
		body, tr := b[:len(b)-trailerSize], b[len(b)-trailerSize:]
		if got, want := crc32.Checksum(body, castagnoli), le.Uint32(tr); got != want || le.Uint32(tr[4:]) != 0 {
			return nil, fmt.Errorf("%w: %w: crc32c %08x, trailer says %08x", ErrFormat, ErrChecksum, got, want)
		}
		b = body
	default:
		return nil, fmt.Errorf("%w: version %d, this build reads %d and %d", ErrFormat, v, versionV1, version)
	}
	flags := le.Uint32(b[12:])
	u := func(off int) uint64 { return le.Uint64(b[off:]) }
	n, dim, m, nnz, nb, np, ns, kk := u(16), u(24), u(32), u(40), u(48), u(56), u(64), u(72)
	if flags&^15 != 0 || n >= math.MaxUint32 || dim > math.MaxUint32 || m > dim || kk > 1024 ||
		nb >= math.MaxUint32 || (flags&flagWide == 0) != (m <= 1<<16) || (flags&flagRemap == 0 && m != dim) {
		return nil, fmt.Errorf("%w: inconsistent header", ErrFormat)
	}
	ix := &Index{n: int(n), dim: uint32(dim), m: uint32(m), wide: flags&flagWide != 0, half: flags&flagHalf != 0, knnK: int(kk)}
	ix.cfg = DefaultConfig()
	ix.cfg.Seed = u(80)
	ix.cfg.Alpha = math.Float64frombits(u(88))
	ix.cfg.Beta = math.Float64frombits(u(96))
	ix.cfg.NPostings = int(int64(u(104)))
	ix.cfg.DocCut = int(le.Uint32(b[112:]))
	ix.cfg.MinClusterSize = int(le.Uint32(b[116:]))
	ix.cfg.Pruning, ix.cfg.Values, ix.cfg.KNN = Pruning(b[120]), ValueType(b[121]), int(kk)
	r := &reader{b: b, off: headerSize}
	if flags&flagRemap != 0 {
		ix.termMap = view[uint32](r, m)
	}
	ix.fOff = view[uint64](r, n+1)
	switch {
	case ix.packed():
		ix.fP = view[uint32](r, nnz)
	case ix.wide:
		ix.fT32 = view[uint32](r, nnz)
	default:
		ix.fT16 = view[uint16](r, nnz)
	}
	switch {
	case ix.packed():
	case ix.half:
		ix.fV16 = view[uint16](r, nnz)
	default:
		ix.fV32 = view[float32](r, nnz)
	}
	ix.listBlk = view[uint32](r, m+1)
	ix.blkOff = view[uint64](r, nb+1)
	ix.post = view[uint32](r, np)
	ix.sumOff = view[uint64](r, nb+1)
	if ix.wide {
		ix.sT32 = view[uint32](r, ns)
	} else {
		ix.sT16 = view[uint16](r, ns)
	}
	ix.sCode = view[uint8](r, ns)
	ix.sMin = view[float32](r, nb)
	ix.sScale = view[float32](r, nb)
	if kk > 0 && n > 0 {
		if n > math.MaxUint64/kk {
			return nil, fmt.Errorf("%w: knn size overflows", ErrFormat)
		}
		ix.knn = view[uint32](r, n*kk)
	}
	if flags&flagPerm != 0 {
		ix.perm = view[uint32](r, n)
		ix.inv = view[uint32](r, n)
	}
	if v >= versionSection {
		if r.err == nil {
			r.err = ix.parseSection(r)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if v >= versionTrailer && r.off != uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d bytes between the arrays and the trailer", ErrFormat, uint64(len(b))-r.off)
	}
	if err := ix.check(nnz, ns); err != nil {
		return nil, err
	}
	return ix, nil
}

// check validates the arrays' internal consistency.
func (ix *Index) check(nnz, ns uint64) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrFormat, what) }
	for i := 1; i < len(ix.termMap); i++ {
		if ix.termMap[i] <= ix.termMap[i-1] {
			return bad("term map not ascending")
		}
	}
	if len(ix.termMap) > 0 && uint64(ix.termMap[len(ix.termMap)-1]) >= uint64(ix.dim) {
		return bad("term map beyond dim")
	}
	if !monotone(ix.fOff, nnz) || !monotone(ix.blkOff, uint64(len(ix.post))) || !monotone(ix.sumOff, ns) {
		return bad("offsets")
	}
	for i := 1; i < len(ix.listBlk); i++ {
		if ix.listBlk[i] < ix.listBlk[i-1] {
			return bad("list blocks")
		}
	}
	if ix.listBlk[0] != 0 || uint64(ix.listBlk[len(ix.listBlk)-1]) != uint64(len(ix.blkOff)-1) {
		return bad("list blocks")
	}
	m := ix.m
	for _, t := range ix.fT16 {
		if uint32(t) >= m {
			return bad("forward term id")
		}
	}
	for _, t := range ix.fT32 {
		if t >= m {
			return bad("forward term id")
		}
	}
	for _, p := range ix.fP {
		if p&0xffff >= m {
			return bad("forward term id")
		}
	}
	for _, t := range ix.sT16 {
		if uint32(t) >= m {
			return bad("summary term id")
		}
	}
	for _, t := range ix.sT32 {
		if t >= m {
			return bad("summary term id")
		}
	}
	n := uint32(ix.n)
	for _, d := range ix.post {
		if d >= n {
			return bad("posting doc id")
		}
	}
	for _, d := range ix.knn {
		if d >= n {
			return bad("knn doc id")
		}
	}
	for i, d := range ix.perm {
		if d >= n || ix.inv[d] != uint32(i) {
			return bad("document permutation")
		}
	}
	return nil
}

func monotone(off []uint64, last uint64) bool {
	if len(off) == 0 || off[0] != 0 || off[len(off)-1] != last {
		return false
	}
	for i := 1; i < len(off); i++ {
		if off[i] < off[i-1] {
			return false
		}
	}
	return true
}
