package dataset

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// sharedData returns ../shared/data relative to the repository root, or skips.
func vecsSharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present at %s: %v", dir, err)
	}
	return dir
}

func TestFvecsRoundTrip(t *testing.T) {
	data := []float32{1, 2, 3, -4, 5.5, 6}
	raw := AppendFvecs(nil, data, 3)
	got, dim, err := DecodeFvecs(raw)
	if err != nil {
		t.Fatal(err)
	}
	if dim != 3 || len(got) != 6 {
		t.Fatalf("got dim %d len %d, want 3 and 6", dim, len(got))
	}
	for i := range data {
		if got[i] != data[i] {
			t.Fatalf("got[%d] = %v, want %v", i, got[i], data[i])
		}
	}
}

func TestVecsMalformed(t *testing.T) {
	good := AppendFvecs(nil, []float32{1, 2, 3, 4}, 2)
	bad := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(bad[12:], 3)
	cases := map[string][]byte{
		"short":     {1, 0},
		"truncated": good[:len(good)-1],
		"zero dim":  {0, 0, 0, 0},
		"mixed dim": bad,
	}
	for name, raw := range cases {
		if _, _, err := DecodeFvecs(raw); !errors.Is(err, ErrVecsFormat) {
			t.Errorf("%s: got %v, want ErrVecsFormat", name, err)
		}
	}
}

func TestReadSharedVecs(t *testing.T) {
	dir := vecsSharedData(t)
	b, dim, err := ReadBvecs(filepath.Join(dir, "ann", "bigann10k_base.bvecs"))
	if err != nil {
		t.Fatal(err)
	}
	if dim != 128 || len(b) != 10000*128 {
		t.Fatalf("bigann: got dim %d rows %d, want 128 and 10000", dim, len(b)/max(dim, 1))
	}
	gt, gdim, err := ReadIvecs(filepath.Join(dir, "ann", "bigann10k_groundtruth.ivecs"))
	if err != nil {
		t.Fatal(err)
	}
	if gdim != 100 || len(gt) != 100*100 {
		t.Fatalf("bigann gt: got dim %d len %d", gdim, len(gt))
	}
	q, qdim, err := ReadFvecs(filepath.Join(dir, "glove", "glove1k_query.fvecs"))
	if err != nil {
		t.Fatal(err)
	}
	if qdim != 100 || len(q) != 1000*100 {
		t.Fatalf("glove queries: got dim %d len %d", qdim, len(q))
	}
}

func FuzzDecodeVecs(f *testing.F) {
	f.Add(AppendFvecs(nil, []float32{1, 2, 3, 4}, 2))
	f.Add([]byte{1, 0, 0, 0, 7})
	f.Add([]byte{})
	f.Add([]byte{255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if d, dim, err := DecodeFvecs(raw); err == nil && dim > 0 && len(d)%dim != 0 {
			t.Fatalf("fvecs: %d values not a multiple of dim %d", len(d), dim)
		}
		if d, dim, err := DecodeIvecs(raw); err == nil && dim > 0 && len(d)%dim != 0 {
			t.Fatalf("ivecs: %d values not a multiple of dim %d", len(d), dim)
		}
		if d, dim, err := DecodeBvecs(raw); err == nil && dim > 0 && len(d)%dim != 0 {
			t.Fatalf("bvecs: %d values not a multiple of dim %d", len(d), dim)
		}
	})
}
