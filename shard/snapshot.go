package shard

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Snapshot formats. Version 4 (written) is version 3 followed by a trailer:
// uint32 LE CRC-32C (Castagnoli) of every byte before it. Restore verifies
// it before it replaces any state, and removes the index files it wrote
// when the check fails. Version 3 (still read):
//
//	magic "SHS" | version byte (3) | uint64 LE applied index |
//	uvarint segment count | segments... | uvarint buffer count | buffer documents
//	segment: uvarint id | uvarint document count | documents | uvarint n | n bytes of roaring tombstones |
//	         uvarint file count | files... | flags byte (bit 0: activated)
//	file:    uvarint name length | name (the extension: "sparse", "blockmax", "dense", "dense.rescore", "multi", "ok") |
//	         uvarint size | size bytes (the segment index file seg-<id>.<name>, as saved)
//	document: uvarint length | document encoding (as in commands)
//
// A segment carries its index files when its indexes were built and saved
// (Config.Dir set), "ok" last; a replica that restores the snapshot writes
// them into its own Config.Dir and loads them instead of building. Without
// them (or without a Dir) a restored segment builds its indexes in the
// background, deterministically, and is searched exactly until then.
//
// Version 2 (still read) is version 3 without the file lists. Version 1
// (still read): the header, then uvarint count and documents, all of which
// become the write buffer.
const (
	snapshotV1 = 1
	snapshotV2 = 2
	snapshotV3 = 3
	snapshotV4 = 4
)

// snapshotFileExts are the segment files a snapshot may carry, in the order
// written; "ok" comes last, so a partial set is never used.
var snapshotFileExts = []string{"sparse", "blockmax", "dense", "dense.rescore", "multi", "ok"}

var snapshotMagic = [3]byte{'S', 'H', 'S'}

// Snapshot is a point-in-time view of a shard that can be written while the
// shard goes on applying commands.
type Snapshot struct {
	applied uint64
	segs    []snapSegment
	buf     []*Document
}

type snapSegment struct {
	id        uint64
	docs      []*Document
	dead      *roaring.Bitmap
	files     []snapFile
	activated bool
}

// snapFile is a segment index file held open from Snapshot until written:
// the shard may delete its name meanwhile, not its contents.
type snapFile struct {
	ext  string
	f    *os.File
	size int64
	data []byte // a restored file's contents (ok files), instead of f
}

// Snapshot captures the current state. It copies pointers and tombstones
// only: stored documents are immutable.
func (s *Shard) Snapshot() *Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sn := &Snapshot{applied: s.applied}
	for _, sg := range s.segs {
		ss := snapSegment{id: sg.id, docs: sg.docs, dead: sg.dead.Clone(), activated: sg.activated}
		if s.cfg.Dir != "" && sg.indexed && !sg.building() {
			ss.files = s.openSegmentFiles(sg.id)
		}
		sn.segs = append(sn.segs, ss)
	}
	it := s.bufLive.Iterator()
	for it.HasNext() {
		sn.buf = append(sn.buf, s.buf[it.Next()])
	}
	return sn
}

// openSegmentFiles opens the saved index files of segment id, or returns
// nil when they are not all there.
func (s *Shard) openSegmentFiles(id uint64) []snapFile {
	var out []snapFile
	for _, ext := range snapshotFileExts {
		f, err := os.Open(s.segPath(id, ext))
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		out = append(out, snapFile{ext: ext, f: f, size: st.Size()})
	}
	if len(out) == 0 || out[len(out)-1].ext != "ok" {
		closeFiles(out)
		return nil
	}
	return out
}

func closeFiles(files []snapFile) {
	for _, sf := range files {
		if sf.f != nil {
			sf.f.Close()
		}
	}
}

// Close releases the files a snapshot holds open; WriteTo closes them too.
func (sn *Snapshot) Close() {
	for i := range sn.segs {
		closeFiles(sn.segs[i].files)
		sn.segs[i].files = nil
	}
}

// WriteTo writes the snapshot in format version 4.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	defer sn.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	crc := crc32.New(castagnoli)
	cw := &countWriter{w: io.MultiWriter(bw, crc)}
	hdr := append([]byte(nil), snapshotMagic[:]...)
	hdr = append(hdr, snapshotV4)
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
		cw.write(binary.AppendUvarint(nil, uint64(len(sg.files))))
		for _, sf := range sg.files {
			cw.write(binary.AppendUvarint(nil, uint64(len(sf.ext))))
			cw.write([]byte(sf.ext))
			cw.write(binary.AppendUvarint(nil, uint64(sf.size)))
			if cw.err == nil {
				n, err := io.Copy(cw.w, io.NewSectionReader(sf.f, 0, sf.size))
				cw.n += n
				if err == nil && n != sf.size {
					err = fmt.Errorf("segment %d file %s: copied %d of %d bytes", sg.id, sf.ext, n, sf.size)
				}
				cw.err = err
			}
		}
		var flags byte
		if sg.activated {
			flags |= 1
		}
		cw.write([]byte{flags})
	}
	writeDocs(sn.buf)
	if cw.err != nil {
		return cw.n, cw.err
	}
	k, err := bw.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	if err != nil {
		return cw.n + int64(k), err
	}
	return cw.n + int64(k), bw.Flush()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapReader reads a snapshot and keeps the CRC-32C of the bytes it hands
// out (not of what its buffer reads ahead).
type snapReader struct {
	br  *bufio.Reader
	crc uint32
}

func (r *snapReader) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	return n, err
}

func (r *snapReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err == nil {
		r.crc = crc32.Update(r.crc, castagnoli, []byte{c})
	}
	return c, err
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
// version 1 to 4). On error the shard keeps its previous state.
func (s *Shard) Restore(r io.Reader) error {
	br := &snapReader{br: bufio.NewReaderSize(r, 1<<20)}
	hdr := make([]byte, 12)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("%w: snapshot header: %v", ErrCorrupt, err)
	}
	if [3]byte(hdr[:3]) != snapshotMagic {
		return fmt.Errorf("%w: bad snapshot magic", ErrCorrupt)
	}
	version := hdr[3]
	if version < snapshotV1 || version > snapshotV4 {
		return fmt.Errorf("%w: unsupported snapshot version %d", ErrCorrupt, version)
	}
	applied := binary.LittleEndian.Uint64(hdr[4:])
	var segs []snapSegment
	// files written into cfg.Dir; removed again if the snapshot turns out bad
	var written []string
	ok := false
	defer func() {
		if !ok {
			for _, p := range written {
				os.Remove(p)
			}
		}
	}()
	if version >= snapshotV2 {
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
			tb, err := readN(br, tl)
			if err != nil {
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
			ss := snapSegment{id: id, docs: docs, dead: dead}
			if version >= snapshotV3 {
				files, paths, err := s.restoreSegmentFiles(br, id)
				written = append(written, paths...)
				if err != nil {
					return fmt.Errorf("snapshot segment %d: %w", i, err)
				}
				ss.files = files
				flags, err := br.ReadByte()
				if err != nil || flags > 1 {
					return fmt.Errorf("%w: snapshot segment %d flags", ErrCorrupt, i)
				}
				ss.activated = flags&1 != 0
			}
			segs = append(segs, ss)
		}
	}
	buf, err := readDocs(br)
	if err != nil {
		return fmt.Errorf("snapshot buffer: %w", err)
	}
	if version >= snapshotV4 {
		sum := br.crc
		var tr [4]byte
		if _, err := io.ReadFull(br.br, tr[:]); err != nil {
			return fmt.Errorf("%w: snapshot checksum trailer: %v", ErrCorrupt, err)
		}
		if want := binary.LittleEndian.Uint32(tr[:]); sum != want {
			return fmt.Errorf("%w: snapshot checksum mismatch: crc32c %08x, trailer says %08x", ErrCorrupt, sum, want)
		}
	}
	// the ok files last: only now is every segment's set complete
	for _, ss := range segs {
		for _, sf := range ss.files {
			if sf.ext != "ok" {
				continue
			}
			p := s.segPath(ss.id, "ok")
			written = append(written, p)
			if err := writeFileAtomic(p, func(w io.Writer) error { _, err := w.Write(sf.data); return err }); err != nil {
				return fmt.Errorf("snapshot segment %d: %w", ss.id, err)
			}
		}
	}
	ok = true
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	s.applied = applied
	for _, ss := range segs {
		sg := newSegment(ss.id, ss.docs, &s.schema)
		sg.dead = ss.dead
		sg.activated = ss.activated
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

// restoreSegmentFiles reads a segment's file list. With a Dir it writes the
// files there (the ok file is kept in memory, for the caller to write once
// the whole snapshot has been read); without one it skips them.
func (s *Shard) restoreSegmentFiles(br *snapReader, id uint64) (files []snapFile, written []string, err error) {
	n, err := binary.ReadUvarint(br)
	if err != nil || n > uint64(len(snapshotFileExts)) {
		return nil, nil, fmt.Errorf("%w: file count", ErrCorrupt)
	}
	for i := uint64(0); i < n; i++ {
		nl, err := binary.ReadUvarint(br)
		if err != nil || nl > 32 {
			return nil, written, fmt.Errorf("%w: file %d name", ErrCorrupt, i)
		}
		name := make([]byte, nl)
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, written, fmt.Errorf("%w: file %d name: %v", ErrCorrupt, i, err)
		}
		ext := string(name)
		if !slices.Contains(snapshotFileExts, ext) {
			return nil, written, fmt.Errorf("%w: file %d: unknown segment file %q", ErrCorrupt, i, ext)
		}
		size, err := binary.ReadUvarint(br)
		if err != nil || size > 1<<40 || (ext == "ok" && size > 64) {
			return nil, written, fmt.Errorf("%w: file %s: bad size", ErrCorrupt, ext)
		}
		if ext == "ok" {
			data := make([]byte, size)
			if _, err := io.ReadFull(br, data); err != nil {
				return nil, written, fmt.Errorf("%w: file ok: %v", ErrCorrupt, err)
			}
			files = append(files, snapFile{ext: ext, data: data, size: int64(size)})
			continue
		}
		if s.cfg.Dir == "" {
			if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
				return nil, written, fmt.Errorf("%w: file %s: %v", ErrCorrupt, ext, err)
			}
			continue
		}
		if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
			return nil, written, err
		}
		p := s.segPath(id, ext)
		written = append(written, p)
		err = writeFileAtomic(p, func(w io.Writer) error {
			if _, err := io.CopyN(w, br, int64(size)); err != nil {
				return fmt.Errorf("%w: file %s: %v", ErrCorrupt, ext, err)
			}
			return nil
		})
		if err != nil {
			return nil, written, err
		}
	}
	if s.cfg.Dir == "" {
		files = nil // nothing written: the segments build
	}
	return files, written, nil
}

// readN reads exactly n bytes, growing its buffer as the bytes arrive, so a
// corrupt length cannot make it allocate more than the input holds.
func readN(r io.Reader, n uint64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err == nil && uint64(len(b)) != n {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

func readDocs(br *snapReader) ([]*Document, error) {
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
		if uint64(cap(buf)) >= n {
			buf = buf[:n]
			_, err = io.ReadFull(br, buf)
		} else {
			buf, err = readN(br, n)
		}
		if err != nil {
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
