package seismic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata fixtures")

// fixtureForward returns a small deterministic collection for the format
// fixtures: 300 documents over a 2,000-term vocabulary.
func fixtureForward() Forward {
	r := rand.New(rand.NewPCG(7, 7))
	f := Forward{Offsets: []int64{0}}
	for d := 0; d < 300; d++ {
		seen := map[uint32]bool{}
		var ts []uint32
		for len(ts) < 5+r.IntN(30) {
			t := uint32(r.IntN(2000) * r.IntN(2000) / 2000)
			if !seen[t] {
				seen[t] = true
				ts = append(ts, t)
			}
		}
		slices.Sort(ts)
		for _, t := range ts {
			f.Indices = append(f.Indices, t)
			f.Values = append(f.Values, 0.01+3*r.Float32()*r.Float32())
		}
		f.Offsets = append(f.Offsets, int64(len(f.Indices)))
	}
	return f
}

func fixtureQuery(i int) Vector {
	r := rand.New(rand.NewPCG(9, uint64(i)))
	var q Vector
	for t := uint32(r.IntN(20)); t < 2000; t += 1 + uint32(r.IntN(120)) {
		q.Indices = append(q.Indices, t)
		q.Values = append(q.Values, r.Float32())
	}
	return q
}

func fixtureIndex(t testing.TB) *Index {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KNN = 3
	ix, err := Build(fixtureForward(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestFormatRoundTrip(t *testing.T) {
	ix := fixtureIndex(t)
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if ix.perm == nil {
		t.Fatal("default build has no document permutation")
	}
	loaded, err := Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ix.seismic")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mapped, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mapped.Close()
	p := DefaultSearchParams()
	p.KNN = true
	for i := 0; i < 20; i++ {
		want := ix.Search(fixtureQuery(i), 10, p, nil, nil)
		for name, other := range map[string]*Index{"load": loaded, "mmap": mapped} {
			if got := other.Search(fixtureQuery(i), 10, p, nil, nil); !slices.Equal(got, want) {
				t.Fatalf("%s query %d: got %v, want %v", name, i, got, want)
			}
		}
	}
	if loaded.Stats() != ix.Stats() {
		t.Errorf("stats differ after load: %+v vs %+v", loaded.Stats(), ix.Stats())
	}
	if ix.Calibration() == nil {
		t.Fatal("default build has no calibration table")
	}
	for name, other := range map[string]*Index{"load": loaded, "mmap": mapped} {
		if !reflect.DeepEqual(other.Calibration(), ix.Calibration()) {
			t.Errorf("%s: calibration %+v, want %+v", name, other.Calibration(), ix.Calibration())
		}
		if other.Adaptive() != ix.Adaptive() || !slices.Equal(other.listMax, ix.listMax) {
			t.Errorf("%s: adaptive section differs: %+v, want %+v", name, other.Adaptive(), ix.Adaptive())
		}
	}
}

// TestFormatFixtures loads the fixtures of every version and checks that
// they answer with exact scores. v1.seismic was written before documents
// were reordered (no flag 8, float32 values); v1-packed.seismic has the
// document permutation, packed half-float values and a kNN graph;
// v2-packed.seismic is the same index with the checksum trailer; v3.seismic
// is an adaptive, calibrated build (the adaptive section and the trailer).
// Run with -update to rewrite v3.seismic (the older files are kept as
// written).
func TestFormatFixtures(t *testing.T) {
	if *update {
		cfg := DefaultConfig()
		cfg.KNN = 3
		cfg.Values = ValueF16
		ix, err := Build(fixtureForward(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := ix.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "v3.seismic"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"v1.seismic", "v1-packed.seismic", "v2-packed.seismic", "v3.seismic"} {
		old, err := Open(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if v3 := name == "v3.seismic"; v3 != (old.Calibration() != nil) || v3 != (old.listMax != nil) {
			t.Errorf("%s: calibration %v, list maxima %d", name, old.Calibration(), len(old.listMax))
		}
		tol := float32(1e-5)
		if old.half {
			tol = 0.01
		}
		// Every returned score must be the document's exact score.
		for i := 0; i < 20; i++ {
			exact := map[uint32]float32{}
			for _, it := range ScanSearch(fixtureForward(), fixtureQuery(i), 300, nil) {
				exact[it.ID] = it.Score
			}
			p := DefaultSearchParams()
			p.KNN = true
			got := old.Search(fixtureQuery(i), 10, p, nil, nil)
			if len(got) == 0 {
				t.Fatalf("%s query %d: no results", name, i)
			}
			for _, it := range got {
				if d := exact[it.ID] - it.Score; d > tol*max(1, exact[it.ID]) || -d > tol*max(1, exact[it.ID]) {
					t.Errorf("%s query %d doc %d: score %v, exact %v", name, i, it.ID, it.Score, exact[it.ID])
				}
			}
		}
		old.Close()
	}
}

func TestFormatRejectsCorruption(t *testing.T) {
	var buf bytes.Buffer
	if _, err := fixtureIndex(t).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, cut := range []int{0, 7, headerSize, len(b) / 2, len(b) - 1} {
		if _, err := Load(bytes.NewReader(b[:cut])); !errors.Is(err, ErrFormat) {
			t.Errorf("truncated to %d: err %v, want ErrFormat", cut, err)
		}
	}
	bad := slices.Clone(b)
	bad[8] = 99 // version
	if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrFormat) {
		t.Errorf("bad version: err %v", err)
	}
}

// TestFormatChecksum flips single bytes all over a version-2 file, values
// as well as ids and offsets, and checks that neither Load nor Open accepts
// any of them.
func TestFormatChecksum(t *testing.T) {
	var buf bytes.Buffer
	ix := fixtureIndex(t)
	if _, err := ix.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if v := binary.LittleEndian.Uint32(good[8:]); v != version {
		t.Fatalf("written version %d, want %d", v, version)
	}
	dir := t.TempDir()
	// The forward index's values: the last quarter of the file holds the
	// summaries and the kNN graph; a byte a third in is a forward value or a
	// posting, either of which a consistency check cannot catch.
	offsets := []int{9, 20, 130, len(good) / 3, len(good) / 2, 2 * len(good) / 3, len(good) - trailerSize - 1, len(good) - 2}
	for step := 1; step < len(good); step += len(good) / 40 {
		offsets = append(offsets, step)
	}
	for _, off := range offsets {
		bad := slices.Clone(good)
		bad[off] ^= 0x5a
		if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrFormat) {
			t.Fatalf("byte %d flipped: Load err %v, want ErrFormat", off, err)
		}
		path := filepath.Join(dir, "bad.seismic")
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("byte %d flipped: Open err %v, want ErrFormat", off, err)
		}
		if off > 16 && off < len(good)-trailerSize && !errors.Is(err, ErrChecksum) {
			t.Errorf("byte %d flipped: Open err %v, want ErrChecksum", off, err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Open error %q does not name the file", err)
		}
	}
	// Bytes appended after the trailer break the checksum too.
	if _, err := Load(bytes.NewReader(append(slices.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0))); !errors.Is(err, ErrFormat) {
		t.Errorf("appended bytes: err %v, want ErrFormat", err)
	}
}

// fixChecksum rewrites the trailer of a version-2 image so that fuzzed
// bytes reach the structural checks behind the checksum.
func fixChecksum(b []byte) []byte {
	if len(b) < headerSize+trailerSize || binary.LittleEndian.Uint32(b[8:]) != version {
		return b
	}
	b = slices.Clone(b)
	body := b[:len(b)-trailerSize]
	binary.LittleEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
	binary.LittleEndian.PutUint32(b[len(body)+4:], 0)
	return b
}

func FuzzLoad(f *testing.F) {
	var buf bytes.Buffer
	ix, _ := Build(fixtureForward(), DefaultConfig())
	_, _ = ix.WriteTo(&buf)
	f.Add(buf.Bytes(), false)
	f.Add(buf.Bytes(), true)
	f.Add(buf.Bytes()[:headerSize], false)
	f.Add([]byte(magic), false)
	for _, name := range []string{"v1.seismic", "v1-packed.seismic"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b, false)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			b = fixChecksum(b)
		}
		ix, err := Load(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		// A file that loads must search without panicking.
		p := DefaultSearchParams()
		p.KNN = true
		ix.Search(fixtureQuery(0), 5, p, nil, nil)
	})
}

// FuzzAdaptiveSection fuzzes the version-2 section on its own: the bytes
// after a valid index's version-1 arrays are replaced by the input, with a
// correct length prefix, so the fuzzer explores the section's fields rather
// than the outer framing.
func FuzzAdaptiveSection(f *testing.F) {
	ix, err := Build(fixtureForward(), DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	sec := ix.appendSection(nil)
	prefix := buf.Bytes()[:buf.Len()-len(sec)-(8-len(sec)%8)%8]
	f.Add(sec[8:])
	f.Add(sec[8 : 8+64])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		img := slices.Clone(prefix)
		img = binary.LittleEndian.AppendUint64(img, uint64(len(body)))
		img = append(img, body...)
		got, err := Load(bytes.NewReader(img))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		p, _, _ := got.ParamsFor(0.95, DefaultSearchParams())
		if err := p.Validate(); err != nil {
			t.Fatalf("loaded calibration gives invalid params: %v", err)
		}
		got.Search(fixtureQuery(0), 5, p, nil, nil)
	})
}
