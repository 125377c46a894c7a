package shard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shoal-search/shoal/internal/atomicfile"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/embtable"
	"github.com/shoal-search/shoal/shard/multivec"
	"github.com/shoal-search/shoal/shard/seismic"
)

// Segment index files live in Config.Dir, named by segment id:
//
//	seg-<id>.sparse    seismic format (seismic.Index.WriteTo)
//	seg-<id>.blockmax  blockmax format (blockmax.Index.WriteTo), instead of .sparse
//	                   when Config.SparseKind is SparseExact
//	seg-<id>.dense     embtable format (plus .rescore, the rescoring copy)
//	seg-<id>.multi     multivec format
//	seg-<id>.ok        written last: the row count, so a partial set is never used
//
// A segment's id is the log index of the seal or compaction that made it, so
// the same id always names the same documents on a replica.
//
// Every index file carries a checksum in its own format (CRC-32C trailers
// for Seismic and multivec, CRC-32 for the embtable codes, CRC-32C for the
// rescoring copy), verified by loadIndex before the index is used. A file
// that fails is reported (log, Config.OnCorrupt), the segment's files are
// removed, and the indexes are built again from the segment's documents,
// which the raft snapshot and log hold (the raft snapshot has its own
// checksum; see docs/replication.md for a damaged one). Until the rebuild
// ends the segment is scored exactly, so a corrupt file is never searched.

func (s *Shard) segPath(id uint64, ext string) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("seg-%d.%s", id, ext))
}

func (s *Shard) saveIndex(sg *segment, ix *segIndex) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return err
	}
	if ix.sparse != nil {
		if err := writeFileAtomic(s.segPath(sg.id, "sparse"), func(w io.Writer) error {
			_, err := ix.sparse.WriteTo(w)
			return err
		}); err != nil {
			return err
		}
	}
	if ix.exact != nil {
		if err := writeFileAtomic(s.segPath(sg.id, "blockmax"), func(w io.Writer) error {
			_, err := ix.exact.WriteTo(w)
			return err
		}); err != nil {
			return err
		}
	}
	if ix.dense != nil {
		if err := ix.dense.Save(s.segPath(sg.id, "dense")); err != nil {
			return err
		}
	}
	if ix.multi != nil {
		if err := ix.multi.Save(s.segPath(sg.id, "multi")); err != nil {
			return err
		}
	}
	return writeFileAtomic(s.segPath(sg.id, "ok"), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%d\n", len(sg.docs))
		return err
	})
}

// hasIndexFiles reports whether sg's index files were saved (its ok file
// exists).
func (s *Shard) hasIndexFiles(sg *segment) bool {
	if s.cfg.Dir == "" {
		return false
	}
	_, err := os.Stat(s.segPath(sg.id, "ok"))
	return err == nil
}

// loadIndex loads a segment's saved indexes; fs.ErrNotExist means there are
// none.
//
// Any other error is a *FileError naming the file that failed.
func (s *Shard) loadIndex(sg *segment) (_ *segIndex, err error) {
	okPath := s.segPath(sg.id, "ok")
	raw, err := os.ReadFile(okPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, &FileError{Kind: "ok", Path: okPath, Err: err}
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || n != len(sg.docs) {
		return nil, &FileError{Kind: "ok", Path: okPath, Err: fmt.Errorf("%w: files hold %q rows, want %d", ErrCorrupt, raw, len(sg.docs))}
	}
	ix := &segIndex{}
	defer func() {
		if err != nil {
			ix.close()
		}
	}()
	if bp := s.segPath(sg.id, "blockmax"); sg.nSparse > 0 && (s.cfg.exactSparse() || fileExists(bp)) {
		p := bp
		idx, err := loadBlockmax(p)
		if err != nil {
			return nil, &FileError{Kind: "blockmax", Path: p, Err: err}
		}
		ix.exact = idx
		if idx.Len() != n {
			return nil, &FileError{Kind: "blockmax", Path: p, Err: fmt.Errorf("%w: exact sparse index has %d rows, want %d", ErrCorrupt, idx.Len(), n)}
		}
		ix.bytes += idx.Stats().Bytes
	}
	if sg.nSparse > 0 && !s.cfg.exactSparse() {
		p := s.segPath(sg.id, "sparse")
		idx, err := loadSeismic(p)
		if err != nil {
			return nil, &FileError{Kind: "sparse", Path: p, Err: err}
		}
		if idx.Len() != n {
			return nil, &FileError{Kind: "sparse", Path: p, Err: fmt.Errorf("%w: sparse index has %d rows, want %d", ErrCorrupt, idx.Len(), n)}
		}
		ix.sparse = idx
		ix.bytes += idx.Stats().TotalBytes
	}
	if sg.nDense > 0 {
		p := s.segPath(sg.id, "dense")
		tab, err := embtable.Open(p)
		if err != nil {
			if strings.Contains(err.Error(), p+".rescore") {
				return nil, &FileError{Kind: "dense.rescore", Path: p + ".rescore", Err: err}
			}
			return nil, &FileError{Kind: "dense", Path: p, Err: err}
		}
		ix.dense = tab
		if tab.Len() != n {
			return nil, &FileError{Kind: "dense", Path: p, Err: fmt.Errorf("%w: dense table has %d rows, want %d", ErrCorrupt, tab.Len(), n)}
		}
		ix.bytes += int64(n) * int64(tab.Dim())
	}
	if sg.nMulti > 0 {
		p := s.segPath(sg.id, "multi")
		st, err := multivec.Load(p)
		if err != nil {
			return nil, &FileError{Kind: "multi", Path: p, Err: err}
		}
		ix.multi = st
		if st.Len() != n {
			return nil, &FileError{Kind: "multi", Path: p, Err: fmt.Errorf("%w: multi-vector store has %d rows, want %d", ErrCorrupt, st.Len(), n)}
		}
		ix.bytes += int64(st.Vectors()) * int64(st.Dim()) * 4
	}
	return ix, nil
}

// loadSeismic reads a Seismic index file into memory; Load verifies its
// checksum before it trusts any of it.
func loadSeismic(path string) (*seismic.Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return seismic.Load(bufio.NewReaderSize(f, 1<<20))
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadBlockmax reads an exact sparse index file into memory; Load verifies
// its checksum before parsing.
func loadBlockmax(path string) (*blockmax.Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return blockmax.Load(bufio.NewReaderSize(f, 1<<20))
}

// close releases what the indexes map (loaded dense tables, multi-vector
// FDE tables).
func (ix *segIndex) close() {
	if ix.dense != nil {
		_ = ix.dense.Close()
	}
	if ix.multi != nil {
		_ = ix.multi.Close()
	}
}

// FileError reports a segment index file that could not be used: it failed
// its checksum or consistency checks, or could not be read.
type FileError struct {
	// Kind is the file's extension: "sparse", "blockmax", "dense", "dense.rescore",
	// "multi" or "ok".
	Kind string
	// Path names the file.
	Path string
	// Err is what was wrong with it.
	Err error
}

// Error names the file and the cause.
func (e *FileError) Error() string {
	return fmt.Sprintf("shard: segment file %s: %v", e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// discardCorrupt reports a segment file that failed to load and removes
// all of the segment's index files ("ok" first, so a crash midway leaves no
// set that looks complete); the caller then builds the indexes again.
func (s *Shard) discardCorrupt(sg *segment, fe *FileError) {
	s.corrupt.Add(1)
	s.log.Error("corrupt segment file discarded; rebuilding the segment's indexes from its documents",
		"segment", sg.id, "file", fe.Path, "kind", fe.Kind, "err", fe.Err)
	if s.cfg.OnCorrupt != nil {
		s.cfg.OnCorrupt(fe.Kind, fe.Path, fe.Err)
	}
	for _, ext := range []string{"ok", "sparse", "blockmax", "dense", "dense.rescore", "dense.tmp", "multi", "multi.fde", "multi.fde.rescore"} {
		if err := os.Remove(s.segPath(sg.id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove corrupt segment file", "file", s.segPath(sg.id, ext), "err", err)
		}
	}
	if err := atomicfile.SyncDir(s.cfg.Dir); err != nil {
		s.log.Warn("sync segment directory", "err", err)
	}
}

// CorruptFiles returns how many segment files failed to load since Open.
func (s *Shard) CorruptFiles() int64 { return s.corrupt.Load() }

// removeSegmentFiles deletes the files of every segment with an id up to
// upTo that is not in keep. Segments made later have larger ids, so a removal
// that runs late never touches them.
func (s *Shard) removeSegmentFiles(keep map[uint64]bool, upTo uint64) {
	if s.cfg.Dir == "" {
		return
	}
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, "seg-")
		if !ok {
			continue
		}
		idStr, _, _ := strings.Cut(rest, ".")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || keep[id] || id > upTo {
			continue
		}
		if err := os.Remove(filepath.Join(s.cfg.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove segment file", "file", name, "err", err)
		}
	}
}

// writeFileAtomic writes path through a synced temporary file renamed into
// place, then syncs the directory (see atomicfile).
func writeFileAtomic(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, write)
}

// dropFilesLocked removes, in the background, the files of segments that are
// no longer part of the shard.
func (s *Shard) dropFilesLocked(upTo uint64) {
	if s.cfg.Dir == "" || s.closed {
		return
	}
	keep := make(map[uint64]bool, len(s.segs))
	for _, sg := range s.segs {
		keep[sg.id] = true
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.removeSegmentFiles(keep, upTo)
	}()
}
