package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFilesAreCurrent regenerates the quickstart files and
// compares them with the committed ones. It needs the vocabulary in
// ../shared/data and skips without it.
func TestCommittedFilesAreCurrent(t *testing.T) {
	vocabPath := filepath.Join("..", "..", "..", "shared", "data", "vocab", "bert-base-uncased.txt")
	if _, err := os.Stat(vocabPath); err != nil {
		t.Skipf("no vocabulary at %s: %v", vocabPath, err)
	}
	vocab, err := readVocab(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	corpus, query, err := build(vocab)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"quickstart.jsonl": corpus, "quickstart-query.json": query} {
		want, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("examples/%s is stale: run go run ./examples/gen -out examples", name)
		}
	}
}

func TestPiecesSplitsUnknownWords(t *testing.T) {
	vocab := map[string]uint32{"go": 1, "##rou": 2, "##tine": 3, "##s": 4, "planet": 5}
	got, err := pieces(vocab, "The goroutines, PLANET!")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{1, 2, 3, 4, 5}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := pieces(vocab, "xyz"); err == nil {
		t.Error("pieces of a word with no split: got nil error")
	}
}

func TestDenseKeepsTopicsApart(t *testing.T) {
	dot := func(a, b []float32) float32 {
		var s float32
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	for i, a := range docs {
		for j, b := range docs[i+1:] {
			s := dot(dense(a), dense(b))
			if same := a.topic == b.topic; same && s < 0.8 || !same && s > 0.3 {
				t.Errorf("%s · %s = %.2f (same topic %v)", a.id, docs[i+1+j].id, s, same)
			}
		}
	}
}
