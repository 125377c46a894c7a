package blockmax_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-search/shoal/shard/blockmax"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.blockmax")

// fixtureDocs is the small collection of the version-1 fixture: ties,
// a negative value, a repeated doc id pattern across lists, an empty row.
func fixtureDocs() blockmax.Forward {
	return blockmax.Forward{
		Offsets: []int64{0, 3, 5, 5, 8, 10, 12},
		Indices: []uint32{1, 4, 9, 1, 2, 2, 4, 9, 1, 9, 3, 4},
		Values:  []float32{1, 2, 3, 1, 0.5, 2, -1, 3, 4, 1.25, 7, 2},
		Dim:     12,
	}
}

// TestFixtureV1 checks that the version-1 file kept in testdata loads and
// answers as the index built from the same documents, and that a build
// writes it byte for byte (go test -run FixtureV1 -args -update rewrites
// it).
func TestFixtureV1(t *testing.T) {
	cfg := blockmax.Config{BlockSize: 8}
	ix, err := blockmax.Build(fixtureDocs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := ix.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "v1.blockmax")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, b.Bytes()) {
		t.Fatal("a build no longer writes testdata/v1.blockmax byte for byte")
	}
	fx, err := blockmax.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	for _, q := range []blockmax.Vector{
		{Indices: []uint32{1, 9}, Values: []float32{1, 1}},
		{Indices: []uint32{4, 2, 3}, Values: []float32{2, 1, 0.5}},
		{Indices: []uint32{11, 4}, Values: []float32{1, -1}},
	} {
		sameItems(t, "fixture", fx.Search(q, 3, nil, nil, nil), ix.Search(q, 3, nil, nil, nil))
	}
	if fx.Len() != 6 || fx.Dim() != 12 || fx.BlockSize() != 8 {
		t.Fatalf("fixture: %d docs, dim %d, block %d", fx.Len(), fx.Dim(), fx.BlockSize())
	}
}

// fixCRC rewrites the checksum of an image, so that mutated images reach
// the structural checks.
func fixCRC(b []byte) []byte {
	if len(b) < 72 || len(b)%8 != 0 {
		return b
	}
	c := bytes.Clone(b)
	body := c[:len(c)-8]
	binary.LittleEndian.PutUint32(c[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return c
}

// TestCorruption checks that a flipped byte anywhere fails the checksum,
// and that structural damage behind a valid checksum fails the checks.
func TestCorruption(t *testing.T) {
	ix, err := blockmax.Build(fixtureDocs(), blockmax.Config{BlockSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := ix.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	img := b.Bytes()
	for i := range img {
		c := bytes.Clone(img)
		c[i] ^= 0x40
		if _, err := blockmax.Load(bytes.NewReader(c)); !errors.Is(err, blockmax.ErrFormat) {
			t.Fatalf("byte %d flipped: got %v, want ErrFormat", i, err)
		}
	}
	if _, err := blockmax.Load(bytes.NewReader(img[:len(img)-8])); !errors.Is(err, blockmax.ErrFormat) {
		t.Fatalf("truncated: got %v, want ErrFormat", err)
	}
	// Behind a valid checksum: every header and array byte, changed.
	bad := 0
	for i := 8; i < len(img)-8; i++ {
		c := bytes.Clone(img)
		c[i] += 0x81
		fx, err := blockmax.Load(bytes.NewReader(fixCRC(c)))
		if err != nil {
			bad++
			continue
		}
		fx.Search(blockmax.Vector{Indices: []uint32{1, 2, 3, 4, 9}, Values: []float32{1, 1, 1, 1, 1}}, 3, nil, nil, nil)
	}
	if bad == 0 {
		t.Fatal("no structural change was caught")
	}
}

// FuzzLoad feeds arbitrary images to Load, with their checksum as found
// and made valid: Load must fail with ErrFormat or give an index that
// searches without panicking.
func FuzzLoad(f *testing.F) {
	ix, err := blockmax.Build(fixtureDocs(), blockmax.Config{BlockSize: 8})
	if err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := ix.WriteTo(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:64])
	f.Add([]byte("SHBLKMAX"))
	q := blockmax.Vector{Indices: []uint32{0, 1, 2, 3, 4, 9, 11}, Values: []float32{1, 1, 2, 1, -1, 1, 3}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, img := range [][]byte{data, fixCRC(data)} {
			fx, err := blockmax.Load(bytes.NewReader(img))
			if err != nil {
				if !errors.Is(err, blockmax.ErrFormat) {
					t.Fatalf("got %v, want ErrFormat", err)
				}
				continue
			}
			for _, k := range []int{1, 3, 100} {
				fx.Search(q, k, nil, nil, nil)
			}
			_ = fx.Stats()
		}
	})
}
