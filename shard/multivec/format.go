package multivec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"

	"github.com/shoal-search/shoal/internal/atomicfile"
	"github.com/shoal-search/shoal/internal/vecmath"
	"github.com/shoal-search/shoal/shard/embtable"
)

// The store file: magic, version, then the fields below, little-endian.
// Version 2 appends a trailer: u32 CRC-32C (Castagnoli) of every byte
// before it, which Decode verifies before it parses anything else. Version 1
// (still read) has no trailer.
const (
	magic     = "SHMV"
	version   = 2
	versionV1 = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Version returns the store format version that AppendBinary writes.
func Version() int { return version }

// AppendBinary appends the store file encoding to dst: header, cluster and
// FDE parameters, document offsets, the stored vectors under their codec,
// and the candidate tables (embtable encodings, without rescoring copies).
func (s *Store) AppendBinary(dst []byte) []byte {
	start := len(dst)
	dst = s.appendBody(dst, version)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// appendBody appends the encoding without the trailer, under format
// version v.
func (s *Store) appendBody(dst []byte, v uint32) []byte {
	c := s.cfg
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint32(dst, v)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(c.Dim))
	dst = append(dst, b2u(c.Normalize), byte(c.Codec))
	cc := c.Cluster
	dst = append(dst, byte(cc.Method), b2u(cc.ProtectFirst), b2u(cc.DropSingletons))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(cc.K))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(cc.Ratio))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(cc.PoolFactor))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(cc.Iterations))
	dst = binary.LittleEndian.AppendUint64(dst, cc.Seed)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.tokens))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(s.Len()))
	for _, o := range s.offsets {
		dst = binary.LittleEndian.AppendUint32(dst, o)
	}
	switch c.Codec {
	case F32:
		for _, x := range s.f32 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	case F16:
		for _, h := range s.f16 {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(h))
		}
	case SQ8:
		for i := range s.sqMin {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.sqMin[i]))
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.sqStep[i]))
		}
		dst = append(dst, s.sq8...)
	}
	dst = append(dst, b2u(s.fdeTab != nil))
	if s.fdeTab != nil {
		f := s.fde.cfg
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.KSim))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.DProj))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.Reps))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(f.FinalDim))
		dst = append(dst, b2u(f.FillEmpty)|b2u(f.Dedup)<<1)
		dst = binary.LittleEndian.AppendUint64(dst, f.Seed)
		dst = appendTable(dst, s.fdeTab)
	}
	dst = append(dst, b2u(s.vecTab != nil))
	if s.vecTab != nil {
		dst = appendTable(dst, s.vecTab)
	}
	return dst
}

func appendTable(dst []byte, t *embtable.Table) []byte {
	at := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, 0)
	dst = t.AppendBinary(dst)
	binary.LittleEndian.PutUint64(dst[at:], uint64(len(dst)-at-8))
	return dst
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// reader decodes little-endian fields and remembers the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrFormat)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
}

// Decode parses a store file produced by AppendBinary. The candidate tables
// may alias raw, which must not change afterwards.
func Decode(raw []byte) (*Store, error) {
	r := &reader{b: raw}
	if string(r.take(4)) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	switch v := r.u32(); {
	case r.err != nil:
		return nil, r.err
	case v == versionV1:
	case v == version:
		if len(raw) < 12 {
			return nil, fmt.Errorf("%w: truncated (no checksum trailer)", ErrFormat)
		}
		body := raw[:len(raw)-4]
		if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(raw[len(body):]); got != want {
			return nil, fmt.Errorf("%w: %w: crc32c %08x, trailer says %08x", ErrFormat, ErrChecksum, got, want)
		}
		r.b = body[8:]
	default:
		return nil, fmt.Errorf("%w: %d", ErrVersion, v)
	}
	cfg := DefaultConfig()
	cfg.Dim = int(r.u32())
	cfg.Normalize = r.u8() == 1
	cfg.Codec = Codec(r.u8())
	cc := &cfg.Cluster
	cc.Method, cc.ProtectFirst, cc.DropSingletons = Clustering(r.u8()), r.u8() == 1, r.u8() == 1
	cc.K = int(r.u32())
	cc.Ratio = math.Float64frombits(r.u64())
	cc.PoolFactor = int(r.u32())
	cc.Iterations = int(r.u32())
	cc.Seed = r.u64()
	tokens := r.u64()
	n := int(r.u32())
	if r.err != nil {
		return nil, r.err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if n > len(r.b)/4 {
		return nil, fmt.Errorf("%w: %d documents in %d bytes", ErrFormat, n, len(r.b))
	}
	s := &Store{cfg: cfg, tokens: int64(tokens), offsets: make([]uint32, n+1)}
	for i := range s.offsets {
		s.offsets[i] = r.u32()
		if i > 0 && s.offsets[i] < s.offsets[i-1] {
			r.fail("offsets decrease at %d", i)
		}
	}
	if r.err == nil && s.offsets[0] != 0 {
		r.fail("first offset %d", s.offsets[0])
	}
	if r.err != nil {
		return nil, r.err
	}
	vals := uint64(s.offsets[n]) * uint64(cfg.Dim)
	width := map[Codec]uint64{F32: 4, F16: 2, SQ8: 1}[cfg.Codec]
	if vals*width > uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: %d vector values in %d bytes", ErrFormat, vals, len(r.b))
	}
	switch cfg.Codec {
	case F32:
		s.f32 = make([]float32, vals)
		for i := range s.f32 {
			s.f32[i] = math.Float32frombits(r.u32())
		}
	case F16:
		s.f16 = make([]vecmath.F16, vals)
		for i := range s.f16 {
			b := r.take(2)
			if b == nil {
				break
			}
			s.f16[i] = vecmath.F16(binary.LittleEndian.Uint16(b))
		}
	case SQ8:
		s.sqMin, s.sqStep = make([]float32, cfg.Dim), make([]float32, cfg.Dim)
		for i := range s.sqMin {
			s.sqMin[i] = math.Float32frombits(r.u32())
			s.sqStep[i] = math.Float32frombits(r.u32())
		}
		s.sq8 = append([]uint8(nil), r.take(int(vals))...)
	}
	if cfg.FDE = r.u8() == 1; cfg.FDE {
		f := &cfg.FDEParams
		f.KSim, f.DProj, f.Reps, f.FinalDim = int(r.u32()), int(r.u32()), int(r.u32()), int(r.u32())
		flags := r.u8()
		f.FillEmpty, f.Dedup = flags&1 != 0, flags&2 != 0
		f.Seed = r.u64()
		if r.err == nil {
			if err := f.Validate(); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrFormat, err)
			}
			want := f.FinalDim
			if want == 0 {
				want = f.Reps << f.KSim * f.DProj
				if f.DProj == 0 {
					want = f.Reps << f.KSim * cfg.Dim
				}
			}
			// Read the table first: its size bounds the work NewFDE does.
			if s.fdeTab = r.table(want, n); r.err == nil {
				fde, err := NewFDE(cfg.Dim, *f)
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrFormat, err)
				}
				s.fde = fde
			}
		}
	}
	if cfg.CentroidIVF = r.u8() == 1; cfg.CentroidIVF {
		s.vecTab = r.table(cfg.Dim, int(s.offsets[n]))
		if r.err == nil {
			s.docOf = docOfRows(s.offsets)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	s.cfg = cfg
	return s, nil
}

func (r *reader) table(dim, rows int) *embtable.Table {
	size := r.u64()
	if r.err != nil {
		return nil
	}
	if size > uint64(len(r.b)) {
		r.fail("table of %d bytes in %d", size, len(r.b))
		return nil
	}
	t, err := embtable.Decode(r.take(int(size)))
	if err != nil {
		r.fail("table: %v", err)
		return nil
	}
	if t.Dim() != dim || t.Len() != rows {
		r.fail("table is %d×%d, want %d×%d", t.Len(), t.Dim(), rows, dim)
		return nil
	}
	return t
}

// fdeSidecar is the suffix of the FDE table file that Save writes next to
// the store when the table has a rescoring copy; embtable adds ".rescore"
// for the copy itself.
const fdeSidecar = ".fde"

// Save writes the store to path through a temporary file renamed into place.
// When the FDE table has a rescoring copy (Config.FDETable.Rescore), which
// the store format does not hold, Save also writes the table with its copy
// through embtable.Table.Save to path+".fde" and path+".fde.rescore", so
// Load ranks FDE candidates as the saved store did; otherwise it removes
// such files left from an earlier Save to the same path.
func (s *Store) Save(path string) error {
	if s.fdeTab != nil && s.fdeTab.RescorePrecision() != embtable.NoRescore {
		if err := s.fdeTab.Save(path + fdeSidecar); err != nil {
			return fmt.Errorf("multivec: save fde table: %w", err)
		}
	} else {
		for _, f := range []string{path + fdeSidecar, path + fdeSidecar + ".rescore"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if err := atomicfile.WriteBytes(path, s.AppendBinary(nil)); err != nil {
		return fmt.Errorf("multivec: save %s: %w", path, err)
	}
	return nil
}

// Load reads a store written by Save. When path+".fde.rescore" exists, it
// opens the FDE table from path+".fde" with its rescoring copy mapped
// read-only (see embtable.Open; Close releases it) and uses it in place of
// the table in the store file, provided both hold the same codes; a sidecar
// that does not match (left by an interrupted Save) is ignored.
func Load(path string) (*Store, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("multivec: %s: %w", path, err)
	}
	if s.fdeTab == nil {
		return s, nil
	}
	if _, err := os.Stat(path + fdeSidecar + ".rescore"); err != nil {
		return s, nil
	}
	t, err := embtable.Open(path + fdeSidecar)
	if err != nil {
		return nil, fmt.Errorf("multivec: %s: fde table: %w", path, err)
	}
	if !bytes.Equal(t.AppendBinary(nil), s.fdeTab.AppendBinary(nil)) {
		_ = t.Close()
		return s, nil
	}
	s.fdeTab, s.fdeMapped = t, true
	return s, nil
}

// Close releases the FDE rescoring copy mapped by Load, if any. The store
// must not be searched during or after Close. Stores from Build, BuildFunc
// or Decode hold no mapping; Close is then a no-op.
func (s *Store) Close() error {
	if !s.fdeMapped {
		return nil
	}
	s.fdeMapped = false
	return s.fdeTab.Close()
}
