package shard

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/RoaringBitmap/roaring/v2"
)

// Snapshot formats. Version 2 (written):
//
//	magic "SHS" | version byte (2) | uint64 LE applied index |
//	uvarint segment count | segments... | uvarint buffer count | buffer documents
//	segment: uvarint id | uvarint document count | documents | uvarint n | n bytes of roaring tombstones
//	document: uvarint length | document encoding (as in commands)
//
// Version 1 (still read): the header, then uvarint count and documents, all
// of which become the write buffer.
//
// Indexes are not in the snapshot: a restored segment rebuilds them in the
// background (deterministically) and is searched exactly until then.
const (
	snapshotV1 = 1
	snapshotV2 = 2
)

var snapshotMagic = [3]byte{'S', 'H', 'S'}

// Snapshot is a point-in-time view of a shard that can be written while the
// shard goes on applying commands.
type Snapshot struct {
	applied uint64
	segs    []snapSegment
	buf     []*Document
}

type snapSegment struct {
	id   uint64
	docs []*Document
	dead *roaring.Bitmap
}

// Snapshot captures the current state. It copies pointers and tombstones
// only: stored documents are immutable.
func (s *Shard) Snapshot() *Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sn := &Snapshot{applied: s.applied}
	for _, sg := range s.segs {
		sn.segs = append(sn.segs, snapSegment{id: sg.id, docs: sg.docs, dead: sg.dead.Clone()})
	}
	it := s.bufLive.Iterator()
	for it.HasNext() {
		sn.buf = append(sn.buf, s.buf[it.Next()])
	}
	return sn
}

// WriteTo writes the snapshot in format version 2.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriterSize(w, 1<<20)}
	hdr := append([]byte(nil), snapshotMagic[:]...)
	hdr = append(hdr, snapshotV2)
	hdr = binary.LittleEndian.AppendUint64(hdr, sn.applied)
	hdr = binary.AppendUvarint(hdr, uint64(len(sn.segs)))
	cw.write(hdr)
	var buf []byte
	writeDocs := func(docs []*Document) {
		cw.write(binary.AppendUvarint(buf[:0], uint64(len(docs))))
		for _, d := range docs {
			buf = appendDocument(buf[:0], d)
			cw.write(binary.AppendUvarint(nil, uint64(len(buf))))
			cw.write(buf)
		}
	}
	for _, sg := range sn.segs {
		cw.write(binary.AppendUvarint(nil, sg.id))
		writeDocs(sg.docs)
		tb, err := sg.dead.ToBytes()
		if err != nil {
			return cw.n, err
		}
		cw.write(binary.AppendUvarint(nil, uint64(len(tb))))
		cw.write(tb)
	}
	writeDocs(sn.buf)
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, cw.w.(*bufio.Writer).Flush()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

// Restore replaces the shard's state with a snapshot read from r (format
// version 1 or 2). On error the shard keeps its previous state.
func (s *Shard) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	hdr := make([]byte, 12)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("%w: snapshot header: %v", ErrCorrupt, err)
	}
	if [3]byte(hdr[:3]) != snapshotMagic {
		return fmt.Errorf("%w: bad snapshot magic", ErrCorrupt)
	}
	version := hdr[3]
	if version != snapshotV1 && version != snapshotV2 {
		return fmt.Errorf("%w: unsupported snapshot version %d", ErrCorrupt, version)
	}
	applied := binary.LittleEndian.Uint64(hdr[4:])
	var segs []snapSegment
	if version == snapshotV2 {
		n, err := binary.ReadUvarint(br)
		if err != nil || n > 1<<20 {
			return fmt.Errorf("%w: snapshot segment count", ErrCorrupt)
		}
		for i := uint64(0); i < n; i++ {
			id, err := binary.ReadUvarint(br)
			if err != nil {
				return fmt.Errorf("%w: snapshot segment %d id", ErrCorrupt, i)
			}
			docs, err := readDocs(br)
			if err != nil {
				return fmt.Errorf("snapshot segment %d: %w", i, err)
			}
			tl, err := binary.ReadUvarint(br)
			if err != nil || tl > 1<<30 {
				return fmt.Errorf("%w: snapshot segment %d tombstones", ErrCorrupt, i)
			}
			tb := make([]byte, tl)
			if _, err := io.ReadFull(br, tb); err != nil {
				return fmt.Errorf("%w: snapshot segment %d tombstones: %v", ErrCorrupt, i, err)
			}
			dead := roaring.New()
			if _, err := dead.FromUnsafeBytes(tb); err != nil {
				return fmt.Errorf("%w: snapshot segment %d tombstones: %v", ErrCorrupt, i, err)
			}
			dead = dead.Clone()
			if dead.GetCardinality() > 0 && uint64(dead.Maximum()) >= uint64(len(docs)) {
				return fmt.Errorf("%w: snapshot segment %d: tombstone beyond its rows", ErrCorrupt, i)
			}
			segs = append(segs, snapSegment{id: id, docs: docs, dead: dead})
		}
	}
	buf, err := readDocs(br)
	if err != nil {
		return fmt.Errorf("snapshot buffer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	s.applied = applied
	for _, ss := range segs {
		sg := newSegment(ss.id, ss.docs, &s.schema)
		sg.dead = ss.dead
		for row, d := range sg.docs {
			if !sg.dead.Contains(uint32(row)) {
				s.loc[d.ID] = location{seg: sg, row: uint32(row)}
			}
		}
		s.segs = append(s.segs, sg)
		s.startBuildLocked(sg)
	}
	for _, d := range buf {
		s.removeLocked(d.ID)
		s.insertLocked(d)
	}
	s.dropFilesLocked(applied)
	return nil
}

func readDocs(br *bufio.Reader) ([]*Document, error) {
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: document count: %v", ErrCorrupt, err)
	}
	var docs []*Document
	var buf []byte
	for i := uint64(0); i < count; i++ {
		n, err := binary.ReadUvarint(br)
		if err != nil || n > 1<<30 {
			return nil, fmt.Errorf("%w: document %d: bad length", ErrCorrupt, i)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("%w: document %d: %v", ErrCorrupt, i, err)
		}
		rd := reader{buf: buf}
		d := rd.document()
		if rd.err != nil {
			return nil, fmt.Errorf("document %d: %w", i, rd.err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}
