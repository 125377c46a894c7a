package blockmax

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

// The on-disk format, version 1. All numbers are little-endian. A 64-byte
// header is followed by the arrays, each starting at a multiple of 8 bytes
// so that a memory-mapped file is used in place, and an 8-byte trailer:
//
//	0  magic "SHBLKMAX"   8 version u32   12 block shift u32 (block size 1<<shift)
//	16 n u64   24 dim u64   32 m (lists) u64   40 nnz u64   48 blocks u64   56 reserved u64 (0)
//
//	terms u32[m], listOff u64[m+1], listBlk u64[m+1], listMax f32[m],
//	listMin f32[m], scale f32[m], blkLast u32[blocks], blkMax u8[blocks],
//	docs u32[nnz], vals f32[nnz]
//
//	trailer: CRC32C (Castagnoli) of every byte before it u32, reserved u32 (0)
//
// Load and Open check the checksum and then every invariant Search relies
// on (ascending documents, block ends, bounds not below any value), so a
// corrupt file fails with ErrFormat.
const (
	magic      = "SHBLKMAX"
	version    = 1
	headerSize = 64
	trailer    = 8
)

var (
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
	littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
)

// WriteTo writes the index in the current format version. It implements
// io.WriterTo.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	if !littleEndian {
		return 0, fmt.Errorf("%w: writing needs a little-endian host", ErrFormat)
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	var h [headerSize]byte
	le := binary.LittleEndian
	copy(h[:], magic)
	le.PutUint32(h[8:], version)
	le.PutUint32(h[12:], ix.shift)
	for i, v := range []uint64{uint64(ix.n), uint64(ix.dim), uint64(len(ix.terms)), uint64(len(ix.docs)), uint64(len(ix.blkLast))} {
		le.PutUint64(h[16+8*i:], v)
	}
	var n int64
	var pad [8]byte
	for _, p := range [][]byte{h[:], bytesOf(ix.terms), bytesOf(ix.listOff), bytesOf(ix.listBlk), bytesOf(ix.listMax),
		bytesOf(ix.listMin), bytesOf(ix.scale), bytesOf(ix.blkLast), ix.blkMax, bytesOf(ix.docs), bytesOf(ix.vals)} {
		k, err := bw.Write(p)
		n += int64(k)
		if err != nil {
			return n, err
		}
		if r := (8 - n%8) % 8; r > 0 {
			k, err = bw.Write(pad[:r])
			n += int64(k)
			if err != nil {
				return n, err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	var t [trailer]byte
	le.PutUint32(t[:], crc.Sum32())
	k, err := w.Write(t[:])
	return n + int64(k), err
}

func bytesOf[T uint32 | uint64 | float32](s []T) []byte {
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
	ab := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)[:len(b)]
	copy(ab, b)
	return parse(ab)
}

// Open memory-maps an index file written by WriteTo; the index reads the
// file in place and Close unmaps it. Open reads the whole file once to
// check it. Close must not run while searches do.
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
	if size < headerSize+trailer || size > math.MaxInt {
		return nil, fmt.Errorf("%w: %s: size %d", ErrFormat, path, size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("blockmax: mmap %s: %w", path, err)
	}
	ix, err := parse(b)
	if err != nil {
		_ = syscall.Munmap(b)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ix.mapped = b
	return ix, nil
}

// Close releases the memory map of an index opened with Open. For built or
// loaded indexes it only makes later searches return nothing.
func (ix *Index) Close() error {
	if ix.closed.Swap(true) {
		return nil
	}
	if b := ix.mapped; b != nil {
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

func view[T uint8 | uint32 | uint64 | float32](r *reader, count uint64) []T {
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
	r.off = (r.off + count*size + 7) &^ 7
	return out
}

// parse checks a whole index image and builds an Index that uses b in
// place.
func parse(b []byte) (*Index, error) {
	if !littleEndian {
		return nil, fmt.Errorf("%w: needs a little-endian host", ErrFormat)
	}
	if len(b) < headerSize+trailer || string(b[:8]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("%w: image not 8-byte aligned", ErrFormat)
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[8:]); v != version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFormat, v, version)
	}
	body := b[:len(b)-trailer]
	if got, want := crc32.Checksum(body, castagnoli), le.Uint32(b[len(body):]); got != want || le.Uint32(b[len(body)+4:]) != 0 {
		return nil, fmt.Errorf("%w: checksum %08x, file says %08x", ErrFormat, got, want)
	}
	u := func(off int) uint64 { return le.Uint64(b[off:]) }
	shift := le.Uint32(b[12:])
	n, dim, m, nnz, nb := u(16), u(24), u(32), u(40), u(48)
	if shift < 3 || shift > 16 || n >= math.MaxUint32 || dim > math.MaxUint32 || m > dim || u(56) != 0 {
		return nil, fmt.Errorf("%w: inconsistent header", ErrFormat)
	}
	ix := &Index{n: int(n), dim: uint32(dim), shift: shift}
	r := &reader{b: body, off: headerSize}
	ix.terms = view[uint32](r, m)
	ix.listOff = view[uint64](r, m+1)
	ix.listBlk = view[uint64](r, m+1)
	ix.listMax = view[float32](r, m)
	ix.listMin = view[float32](r, m)
	ix.scale = view[float32](r, m)
	ix.blkLast = view[uint32](r, nb)
	ix.blkMax = view[uint8](r, nb)
	ix.docs = view[uint32](r, nnz)
	ix.vals = view[float32](r, nnz)
	if r.err != nil {
		return nil, r.err
	}
	if r.off != uint64(len(body)) {
		return nil, fmt.Errorf("%w: %d bytes after the arrays", ErrFormat, uint64(len(body))-r.off)
	}
	if err := ix.check(); err != nil {
		return nil, err
	}
	return ix, nil
}

// check validates every invariant Search relies on.
func (ix *Index) check() error {
	bad := func(what string, i int) error { return fmt.Errorf("%w: %s (list %d)", ErrFormat, what, i) }
	m := len(ix.terms)
	if ix.listOff[0] != 0 || ix.listBlk[0] != 0 || ix.listOff[m] != uint64(len(ix.docs)) || ix.listBlk[m] != uint64(len(ix.blkLast)) {
		return bad("offsets", -1)
	}
	bs := uint64(1) << ix.shift
	n := uint32(ix.n)
	for i := range m {
		if i > 0 && ix.terms[i] <= ix.terms[i-1] || ix.terms[i] >= ix.dim {
			return bad("term ids", i)
		}
		a, e := ix.listOff[i], ix.listOff[i+1]
		b0, b1 := ix.listBlk[i], ix.listBlk[i+1]
		if e <= a || e > uint64(len(ix.docs)) || b1 < b0 || b1 > uint64(len(ix.blkLast)) || b1-b0 != (e-a+bs-1)/bs {
			return bad("list bounds", i)
		}
		hi, lo, sc := ix.listMax[i], ix.listMin[i], ix.scale[i]
		if !finite(hi) || !finite(lo) || !finite(sc) || sc < 0 || lo > hi {
			return bad("list extremes", i)
		}
		for b := b0; b < b1; b++ {
			p0 := a + (b-b0)*bs
			p1 := min(p0+bs, e)
			bound := float64(sc) * float64(ix.blkMax[b])
			for p := p0; p < p1; p++ {
				d, v := ix.docs[p], ix.vals[p]
				if d >= n || p > a && d <= ix.docs[p-1] {
					return bad("documents not ascending", i)
				}
				if !finite(v) || v > hi || v < lo || v > 0 && float64(v) > bound {
					return bad("value beyond its bounds", i)
				}
			}
			if ix.blkLast[b] != ix.docs[p1-1] {
				return bad("block end", i)
			}
		}
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
