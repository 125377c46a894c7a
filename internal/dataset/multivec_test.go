package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseMultivecTokens(t *testing.T) {
	in := `{"id": "a", "words": [0, 2, 2]}
{"id": "b", "words": []}
`
	got, err := ParseMultivecTokens(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a" || !slices.Equal(got[0].Words, []int32{0, 2, 2}) || len(got[1].Words) != 0 {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{`{"id": "", "words": [1]}`, `{"id": "x", "words": [-1]}`, `{"id": "x", "words": [1,}`} {
		if _, err := ParseMultivecTokens(strings.NewReader(bad)); !errors.Is(err, ErrMultivecFormat) {
			t.Fatalf("%q: got %v, want ErrMultivecFormat", bad, err)
		}
	}
}

func TestJoinMultivec(t *testing.T) {
	table := []float32{3, 4, 1, 0, 0, 2}
	set, err := JoinMultivec([]MultivecTokens{{ID: "d", Words: []int32{0, 2, 0}}}, table, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.6, 0.8, 0, 1, 0.6, 0.8}
	if !slices.Equal(set.Vectors[0], want) || set.Tokens() != 3 {
		t.Fatalf("got %v, want %v", set.Vectors[0], want)
	}
	if _, err := JoinMultivec([]MultivecTokens{{ID: "d", Words: []int32{3}}}, table, 2, false); !errors.Is(err, ErrMultivecFormat) {
		t.Fatalf("row outside table: got %v, want ErrMultivecFormat", err)
	}
}

func FuzzParseMultivecTokens(f *testing.F) {
	f.Add(`{"id": "4983", "words": [21253, 334, 1]}` + "\n")
	f.Add(`{"id": "1"}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseMultivecTokens(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, l := range out {
			if l.ID == "" {
				t.Fatal("accepted an empty id")
			}
			for _, w := range l.Words {
				if w < 0 {
					t.Fatal("accepted a negative row")
				}
			}
		}
	})
}

func sciFactDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data", "scifact")
	if _, err := os.Stat(filepath.Join(dir, "multivec-glove", "docs.tokens.jsonl.gz")); err != nil {
		t.Skip("../shared/data/scifact/multivec-glove is absent")
	}
	return dir
}

func TestReadSciFactMultivec(t *testing.T) {
	dir := sciFactDir(t)
	docs, queries, err := ReadSciFactMultivec(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Counts from the data README.
	if len(docs.IDs) != 5183 || len(queries.IDs) != 300 || docs.Dim != 100 {
		t.Fatalf("got %d docs, %d queries, dim %d", len(docs.IDs), len(queries.IDs), docs.Dim)
	}
	if docs.Tokens() != 1045968 || queries.Tokens() != 3558 {
		t.Fatalf("tokens: got %d docs, %d queries, want 1045968 and 3558", docs.Tokens(), queries.Tokens())
	}
	if docs.IDs[0] != "4983" || queries.IDs[0] != "1" {
		t.Fatalf("first ids: got %s and %s", docs.IDs[0], queries.IDs[0])
	}
}

func TestMultivecSynthDeterministic(t *testing.T) {
	cfg := DefaultMultivecSynthConfig()
	cfg.Topics, cfg.Dim = 20, 16
	a, err := NewMultivecSynth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewMultivecSynth(cfg)
	for i := 0; i < 5; i++ {
		da, db := a.Doc(i), b.Doc(i)
		if !slices.Equal(da, db) {
			t.Fatalf("doc %d differs between generators", i)
		}
		if n := len(da) / cfg.Dim; n < cfg.MinTokens || n > cfg.MaxTokens || len(da)%cfg.Dim != 0 {
			t.Fatalf("doc %d has %d tokens", i, n)
		}
		if q := a.Query(i, 100); len(q) != cfg.QueryTokens*cfg.Dim || !slices.Equal(q, b.Query(i, 100)) {
			t.Fatalf("query %d wrong or not deterministic", i)
		}
	}
	cfg.MaxTokens = 1
	if _, err := NewMultivecSynth(cfg); err == nil {
		t.Fatal("accepted MaxTokens < MinTokens")
	}
}
