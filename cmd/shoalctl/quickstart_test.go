package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-search/shoal/client/clienttest"
)

// TestQuickstart runs the three commands of examples/quickstart.md against
// the in-memory API and checks that the astronomy documents come first.
// The same commands against a real `shoal dev` cluster are the cluster
// tests' job.
func TestQuickstart(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	examples := filepath.Join("..", "..", "examples")
	mustRun(t, srv, "collection", "create", "quickstart", "--shards", "2", "--replication", "3",
		"--sparse-max-term", "30522", "--dense-dim", "8", "--dense-metric", "cosine",
		"--attr", "topic=keyword", "--attr", "year=int")
	out := mustRun(t, srv, "load", filepath.Join(examples, "quickstart.jsonl"), "--collection", "quickstart")
	if !strings.HasPrefix(out, "loaded 32 documents into quickstart") {
		t.Fatalf("load: got %q", out)
	}
	out = mustRun(t, srv, "search", "--collection", "quickstart", "--query", filepath.Join(examples, "quickstart-query.json"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("search: got %d lines, want a header and 5 hits\n%s", len(lines), out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); !strings.HasPrefix(f[1], "astro-") {
			t.Errorf("search: hit %s is not an astronomy document\n%s", f[1], out)
		}
	}
	out = mustRun(t, srv, "search", "--collection", "quickstart", "--query", filepath.Join(examples, "quickstart-query.json"),
		"--filter", "topic=cooking")
	if strings.Contains(out, "astro-") {
		t.Errorf("search filtered to cooking: got\n%s", out)
	}
}
