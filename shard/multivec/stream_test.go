package multivec

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// TestBuildFuncMatchesBuild checks that the streaming build gives the same
// store, byte for byte, as Build over the same documents.
func TestBuildFuncMatchesBuild(t *testing.T) {
	const dim = 16
	docs, _ := topicalDocs(21, 90, 0, dim)
	docs[7] = nil // an empty document
	for _, codec := range []Codec{F32, F16, SQ8} {
		for _, method := range []Clustering{NoClustering, Ward} {
			cfg := testConfig(dim)
			cfg.CentroidIVF = false
			cfg.Codec, cfg.Cluster.Method = codec, method
			cfg.Workers = 3
			want, err := Build(docs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := BuildFunc(len(docs), func(i int) []float32 { return docs[i] }, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.AppendBinary(nil), want.AppendBinary(nil)) {
				t.Fatalf("codec %v method %v: BuildFunc store differs from Build", codec, method)
			}
		}
	}
}

func TestBuildFuncRejects(t *testing.T) {
	const dim = 4
	cfg := DefaultConfig()
	cfg.Dim = dim
	good := []float32{1, 0, 0, 0}
	if _, err := BuildFunc(1, func(int) []float32 { return []float32{1, 2, 3} }, cfg); !errors.Is(err, ErrInput) {
		t.Fatalf("ragged document: err %v, want ErrInput", err)
	}
	nan := float32(math.NaN())
	if _, err := BuildFunc(1, func(int) []float32 { return []float32{nan, 0, 0, 0} }, cfg); !errors.Is(err, ErrInput) {
		t.Fatalf("NaN: err %v, want ErrInput", err)
	}
	calls := 0
	changing := func(int) []float32 {
		calls++
		if calls > 1 {
			return append(good, good...)
		}
		return good
	}
	cfg.Workers = 1
	if _, err := BuildFunc(1, changing, cfg); !errors.Is(err, ErrInput) {
		t.Fatalf("document changing between passes: err %v, want ErrInput", err)
	}
	cfg.CentroidIVF = true
	if _, err := BuildFunc(1, func(int) []float32 { return good }, cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("CentroidIVF: err %v, want ErrConfig", err)
	}
}
