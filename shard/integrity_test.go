package shard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-search/shoal/shard/embtable"
	"github.com/shoal-search/shoal/shard/seismic"
)

// integrityConfig keeps exact float32 values in every index file, so that a
// test can find a stored value and overwrite it.
func integrityConfig(dir string) Config {
	cfg := segConfig()
	cfg.Dir = dir
	cfg.Seismic.Values = seismic.ValueF32
	cfg.Dense.Rescore = embtable.RescoreF32
	return cfg
}

// integritySchema is testSchema with SQ8 dense codes, whose tables keep a
// rescoring copy file.
func integritySchema() Schema {
	s := testSchema()
	s.DenseCodec = "sq8"
	return s
}

// replaySegments applies two sealed segments of 300 documents to s, the way
// a restarted replica replays its log, and returns the documents.
func replaySegments(t *testing.T, s *Shard) []*Document {
	t.Helper()
	r := rand.New(rand.NewPCG(41, 41))
	var docs []*Document
	idx := uint64(0)
	for seg := 0; seg < 2; seg++ {
		for i := 0; i < 300; i++ {
			d := skewedDoc(r, fmt.Sprintf("s%d-%d", seg, i))
			docs = append(docs, d)
			idx++
			apply(t, s, idx, Op{Doc: d})
		}
		idx++
		apply(t, s, idx, Op{Seal: true})
	}
	return docs
}

// overwriteValue replaces, in the file at path, the first stored copy of
// one of vals (as little-endian float32) with 495, an outsized score
// contribution, leaving every id and offset intact. It reports false when
// no value was found.
func overwriteValue(t *testing.T, path string, vals []float32) bool {
	t.Helper()
	b := mustRead(t, path)
	for _, v := range vals {
		if v == 0 {
			continue
		}
		pat := binary.LittleEndian.AppendUint32(nil, math.Float32bits(v))
		if at := bytes.Index(b, pat); at >= 0 {
			binary.LittleEndian.PutUint32(b[at:], math.Float32bits(495))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return true
		}
	}
	return false
}

// TestCorruptSegmentFileRebuilt overwrites a stored value in each kind of
// segment index file, replays the log on a fresh replica over the same
// directory, and checks that the file is reported (Config.OnCorrupt, the
// counter, the log), discarded and rebuilt, and that searches answer as
// before: the overwritten value is never served.
func TestCorruptSegmentFileRebuilt(t *testing.T) {
	base := t.TempDir()
	s, err := Open(integritySchema(), integrityConfig(base))
	if err != nil {
		t.Fatal(err)
	}
	docs := replaySegments(t, s)
	waitBuilt(t, s)
	queries := make([]Query, 10)
	want := make([]Result, len(queries))
	r := rand.New(rand.NewPCG(5, 5))
	for i := range queries {
		q := skewedDoc(r, "q")
		queries[i] = Query{K: 10, Sparse: &q.Sparse, Dense: q.Dense, Multi: q.Multi}
		want[i], _ = s.Search(context.Background(), queries[i])
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(base, "seg-*.ok"))
	if len(segs) != 2 {
		t.Fatalf("got %v, want 2 saved segments", segs)
	}
	first := strings.TrimSuffix(filepath.Base(segs[0]), ".ok")

	values := func(kind string) []float32 {
		var out []float32
		for _, d := range docs[:300] {
			switch kind {
			case "sparse":
				out = append(out, d.Sparse.Values...)
			case "dense", "dense.rescore":
				out = append(out, d.Dense...)
			case "multi":
				out = append(out, d.Multi...)
			}
		}
		return out
	}
	for _, kind := range []string{"sparse", "dense", "dense.rescore", "multi", "ok"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			path := filepath.Join(dir, first+"."+kind)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("no %s file: %v", kind, err)
			}
			if kind == "ok" {
				if err := os.WriteFile(path, []byte("29x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if !overwriteValue(t, path, values(kind)) {
				// not stored as float32: flip a byte in the middle
				b := mustRead(t, path)
				b[len(b)/2] ^= 0x7f
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var reported []string
			cfg := integrityConfig(dir)
			var logs bytes.Buffer
			cfg.Logger = newTestLogger(&logs)
			cfg.OnCorrupt = func(k, p string, err error) {
				mu.Lock()
				defer mu.Unlock()
				reported = append(reported, k+" "+p)
			}
			s2, err := Open(integritySchema(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			replaySegments(t, s2)
			waitBuilt(t, s2)
			mu.Lock()
			got := slices.Clone(reported)
			mu.Unlock()
			if len(got) != 1 || got[0] != kind+" "+path {
				t.Fatalf("reported %q, want [%s %s]", got, kind, path)
			}
			if n := s2.CorruptFiles(); n != 1 {
				t.Errorf("CorruptFiles %d, want 1", n)
			}
			if !strings.Contains(logs.String(), path) {
				t.Errorf("log does not name %s:\n%s", path, logs.String())
			}
			if n := s2.loaded.Load(); n != 1 {
				t.Errorf("%d segments loaded from files, want 1 (the other rebuilt)", n)
			}
			for i, q := range queries {
				res, err := s2.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(res) != fmt.Sprint(want[i]) {
					t.Fatalf("query %d after rebuild:\n got %v\nwant %v", i, res, want[i])
				}
			}
			// The rebuilt files were saved again, and load cleanly.
			s3, _ := Open(integritySchema(), integrityConfig(dir))
			defer s3.Close()
			replaySegments(t, s3)
			waitBuilt(t, s3)
			if n, c := s3.loaded.Load(), s3.CorruptFiles(); n != 2 || c != 0 {
				t.Errorf("after the rebuild: %d segments loaded, %d corrupt; want 2, 0", n, c)
			}
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(to, e.Name()), mustRead(t, filepath.Join(from, e.Name())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSnapshotChecksum flips bytes of a version-4 snapshot (document values
// among them) and checks that Restore refuses it, keeps the shard's state
// and leaves no files behind.
func TestSnapshotChecksum(t *testing.T) {
	cfg := integrityConfig(t.TempDir())
	s, _ := Open(testSchema(), cfg)
	defer s.Close()
	replaySegments(t, s)
	waitBuilt(t, s)
	var buf bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if good[3] != snapshotV4 {
		t.Fatalf("snapshot version %d, want %d", good[3], snapshotV4)
	}
	dir := t.TempDir()
	dst, _ := Open(integritySchema(), integrityConfig(dir))
	defer dst.Close()
	for off := 40; off < len(good); off += len(good) / 25 {
		bad := slices.Clone(good)
		bad[off] ^= 0x10
		err := dst.Restore(bytes.NewReader(bad))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d of %d flipped: Restore err %v, want ErrCorrupt", off, len(good), err)
		}
		if dst.Len() != 0 {
			t.Fatalf("byte %d flipped: the failed restore left %d documents", off, dst.Len())
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(left) != 0 {
			t.Fatalf("byte %d flipped: files left by a failed restore: %v", off, left)
		}
	}
	if err := dst.Restore(bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	if dst.Len() != 600 {
		t.Fatalf("restored %d documents, want 600", dst.Len())
	}
}

// newTestLogger returns a logger that writes text records to w.
func newTestLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, nil))
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
