package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Batch is the replicated write command: upserts and deletes applied in
// order, all or nothing.
type Batch struct {
	Ops []Op
}

// Op is one operation: an upsert (Doc set), a delete (DeleteID set), a seal
// of the write buffer into a segment (Seal), a compaction that merges the
// segments named in Compact into one, or the activation of the built indexes
// of the segments named in Activate (see Config.ActivateByCommand).
type Op struct {
	Doc      *Document
	DeleteID string
	Seal     bool
	Compact  []uint64
	Activate []uint64
}

// Command encoding, version 1:
//
//	magic "SHC" | version byte (1) | uvarint op count | ops...
//	op: kind byte | payload
//	  1 upsert: document
//	  2 delete: string id
//	  3 seal: nothing
//	  4 compact: uvarint n | n × uvarint segment id
//	  5 activate: uvarint n | n × uvarint segment id
//	document: string id | sparse | dense | multi | attrs
//	string: uvarint length | bytes
//	sparse: uvarint nnz | nnz × uint32 LE | nnz × float32 LE
//	dense, multi: uvarint count | count × float32 LE
//	attrs: uvarint n | n × (string name | kind byte | value)
//	value: keyword string | int zigzag varint | float64 LE bits
const (
	commandVersion = 1
	opUpsert       = 1
	opDelete       = 2
	opSeal         = 3
	opCompact      = 4
	opActivate     = 5
)

var commandMagic = [3]byte{'S', 'H', 'C'}

// ErrCorrupt reports a command or snapshot that cannot be decoded.
var ErrCorrupt = errors.New("shard: corrupt encoding")

// EncodeBatch encodes b as a replicated command.
func EncodeBatch(b Batch) ([]byte, error) {
	if len(b.Ops) == 0 || len(b.Ops) > MaxBatchOps {
		return nil, fieldErr("documents", "batch has %d operations, want 1..%d", len(b.Ops), MaxBatchOps)
	}
	dst := make([]byte, 0, 64)
	dst = append(dst, commandMagic[:]...)
	dst = append(dst, commandVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.Ops)))
	for _, op := range b.Ops {
		switch {
		case op.Doc != nil:
			dst = append(dst, opUpsert)
			dst = appendDocument(dst, op.Doc)
		case op.Seal:
			dst = append(dst, opSeal)
		case op.Compact != nil:
			dst = append(dst, opCompact)
			dst = binary.AppendUvarint(dst, uint64(len(op.Compact)))
			for _, id := range op.Compact {
				dst = binary.AppendUvarint(dst, id)
			}
		case op.Activate != nil:
			dst = append(dst, opActivate)
			dst = binary.AppendUvarint(dst, uint64(len(op.Activate)))
			for _, id := range op.Activate {
				dst = binary.AppendUvarint(dst, id)
			}
		default:
			dst = append(dst, opDelete)
			dst = appendString(dst, op.DeleteID)
		}
	}
	return dst, nil
}

// DecodeBatch decodes a command written by EncodeBatch.
func DecodeBatch(p []byte) (Batch, error) {
	if len(p) < 4 || [3]byte(p[:3]) != commandMagic {
		return Batch{}, fmt.Errorf("%w: bad command magic", ErrCorrupt)
	}
	if p[3] != commandVersion {
		return Batch{}, fmt.Errorf("%w: unsupported command version %d", ErrCorrupt, p[3])
	}
	r := reader{buf: p[4:]}
	n := r.uvarint()
	if r.err == nil && (n == 0 || n > MaxBatchOps) {
		return Batch{}, fmt.Errorf("%w: op count %d", ErrCorrupt, n)
	}
	var b Batch
	for i := uint64(0); i < n && r.err == nil; i++ {
		switch kind := r.byte(); kind {
		case opUpsert:
			d := r.document()
			b.Ops = append(b.Ops, Op{Doc: d})
		case opDelete:
			b.Ops = append(b.Ops, Op{DeleteID: r.string()})
		case opSeal:
			b.Ops = append(b.Ops, Op{Seal: true})
		case opCompact, opActivate:
			m := r.uvarint()
			if r.err == nil && (m == 0 || m > uint64(len(r.buf))) {
				r.fail("bad segment count")
				break
			}
			ids := make([]uint64, m)
			for j := range ids {
				ids[j] = r.uvarint()
			}
			if kind == opCompact {
				b.Ops = append(b.Ops, Op{Compact: ids})
			} else {
				b.Ops = append(b.Ops, Op{Activate: ids})
			}
		default:
			r.fail("unknown op kind")
		}
	}
	if r.err == nil && len(r.buf) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return Batch{}, r.err
	}
	return b, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendFloats(dst []byte, v []float32) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst
}

func appendDocument(dst []byte, d *Document) []byte {
	dst = appendString(dst, d.ID)
	dst = binary.AppendUvarint(dst, uint64(len(d.Sparse.Indices)))
	for _, t := range d.Sparse.Indices {
		dst = binary.LittleEndian.AppendUint32(dst, t)
	}
	for _, x := range d.Sparse.Values {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	// A nil dense or multi vector is absent; it is written with count 0
	// and a presence flag so that absent and empty stay distinct.
	dst = appendOptFloats(dst, d.Dense)
	dst = appendOptFloats(dst, d.Multi)
	dst = binary.AppendUvarint(dst, uint64(len(d.Attrs)))
	for _, name := range sortedAttrNames(d.Attrs) {
		a := d.Attrs[name]
		dst = appendString(dst, name)
		dst = append(dst, byte(a.Kind))
		switch a.Kind {
		case AttrKeyword:
			dst = appendString(dst, a.Str)
		case AttrInt:
			dst = binary.AppendVarint(dst, a.Int)
		case AttrFloat:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(a.Float))
		}
	}
	return dst
}

func appendOptFloats(dst []byte, v []float32) []byte {
	if v == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	return appendFloats(dst, v)
}

// reader decodes the primitives above, remembering the first error.
type reader struct {
	buf []byte
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, msg)
	}
	r.buf = nil
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.buf) < 1 {
		r.fail("truncated")
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.buf)) {
		r.fail("truncated")
		return nil
	}
	p := r.buf[:n]
	r.buf = r.buf[n:]
	return p
}

func (r *reader) uint64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (r *reader) string() string {
	n := r.uvarint()
	return string(r.take(n))
}

func (r *reader) floats() []float32 {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.buf))/4 {
		r.fail("float count exceeds input")
		return nil
	}
	p := r.take(4 * n)
	if p == nil {
		return nil
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v
}

func (r *reader) optFloats() []float32 {
	switch r.byte() {
	case 0:
		return nil
	case 1:
		v := r.floats()
		if v == nil && r.err == nil {
			v = []float32{}
		}
		return v
	default:
		r.fail("bad presence flag")
		return nil
	}
}

func (r *reader) document() *Document {
	d := &Document{ID: r.string()}
	nnz := r.uvarint()
	if r.err == nil && nnz > uint64(len(r.buf))/8 {
		r.fail("sparse count exceeds input")
		return nil
	}
	if nnz > 0 {
		p := r.take(8 * nnz)
		if p == nil {
			return nil
		}
		d.Sparse.Indices = make([]uint32, nnz)
		d.Sparse.Values = make([]float32, nnz)
		for i := range d.Sparse.Indices {
			d.Sparse.Indices[i] = binary.LittleEndian.Uint32(p[4*i:])
			d.Sparse.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*int(nnz)+4*i:]))
		}
	}
	d.Dense = r.optFloats()
	d.Multi = r.optFloats()
	na := r.uvarint()
	if r.err == nil && na > uint64(len(r.buf)) {
		r.fail("attribute count exceeds input")
		return nil
	}
	if na > 0 {
		d.Attrs = make(map[string]Attr, na)
	}
	for i := uint64(0); i < na && r.err == nil; i++ {
		name := r.string()
		a := Attr{Kind: AttrKind(r.byte())}
		switch a.Kind {
		case AttrKeyword:
			a.Str = r.string()
		case AttrInt:
			a.Int = r.varint()
		case AttrFloat:
			a.Float = math.Float64frombits(r.uint64())
		default:
			r.fail("bad attribute kind")
		}
		d.Attrs[name] = a
	}
	return d
}
