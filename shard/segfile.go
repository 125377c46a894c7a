package shard

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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

func (s *Shard) segPath(id uint64, ext string) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("seg-%d.%s", id, ext))
}

func (s *Shard) saveIndex(sg *segment, ix *segIndex) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return err
	}
	if ix.sparse != nil {
		if err := writeFileAtomic(s.segPath(sg.id, "sparse"), func(w *bufio.Writer) error {
			_, err := ix.sparse.WriteTo(w)
			return err
		}); err != nil {
			return err
		}
	}
	if ix.exact != nil {
		if err := writeFileAtomic(s.segPath(sg.id, "blockmax"), func(w *bufio.Writer) error {
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
	return writeFileAtomic(s.segPath(sg.id, "ok"), func(w *bufio.Writer) error {
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
func (s *Shard) loadIndex(sg *segment) (*segIndex, error) {
	raw, err := os.ReadFile(s.segPath(sg.id, "ok"))
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || n != len(sg.docs) {
		return nil, fmt.Errorf("segment %d: files hold %q rows, want %d", sg.id, raw, len(sg.docs))
	}
	ix := &segIndex{}
	if sg.nSparse > 0 && s.cfg.exactSparse() {
		f, err := os.Open(s.segPath(sg.id, "blockmax"))
		if err != nil {
			return nil, err
		}
		idx, err := blockmax.Load(bufio.NewReaderSize(f, 1<<20))
		f.Close()
		if err != nil {
			return nil, err
		}
		if idx.Len() != n {
			return nil, fmt.Errorf("segment %d: exact sparse index has %d rows, want %d", sg.id, idx.Len(), n)
		}
		ix.exact = idx
		ix.bytes += idx.Stats().Bytes
	} else if sg.nSparse > 0 {
		f, err := os.Open(s.segPath(sg.id, "sparse"))
		if err != nil {
			return nil, err
		}
		idx, err := seismic.Load(bufio.NewReaderSize(f, 1<<20))
		f.Close()
		if err != nil {
			return nil, err
		}
		if idx.Len() != n {
			return nil, fmt.Errorf("segment %d: sparse index has %d rows, want %d", sg.id, idx.Len(), n)
		}
		ix.sparse = idx
		ix.bytes += idx.Stats().TotalBytes
	}
	if sg.nDense > 0 {
		tab, err := embtable.Open(s.segPath(sg.id, "dense"))
		if err != nil {
			return nil, err
		}
		if tab.Len() != n {
			return nil, fmt.Errorf("segment %d: dense table has %d rows, want %d", sg.id, tab.Len(), n)
		}
		ix.dense = tab
		ix.bytes += int64(n) * int64(tab.Dim())
	}
	if sg.nMulti > 0 {
		st, err := multivec.Load(s.segPath(sg.id, "multi"))
		if err != nil {
			return nil, err
		}
		if st.Len() != n {
			return nil, fmt.Errorf("segment %d: multi-vector store has %d rows, want %d", sg.id, st.Len(), n)
		}
		ix.multi = st
		ix.bytes += int64(st.Vectors()) * int64(st.Dim()) * 4
	}
	return ix, nil
}

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

func writeFileAtomic(path string, write func(*bufio.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
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
