package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-search/shoal/internal/clustertest"
)

// TestQuickstartOnCluster runs the three commands of examples/quickstart.md,
// then status, get and delete, against a real in-process cluster (embedded
// etcd and NATS, 3 nodes, raft). It is skipped under -short.
func TestQuickstartOnCluster(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Nodes: 3})
	addr := "http://127.0.0.1:" + strconv.Itoa(cl.Opts.Port)
	ctl := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		root := newRootCmd(&out, &errOut, func(string) string { return "" })
		root.SetArgs(append([]string{"--addr", addr}, args...))
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("shoalctl %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	examples := filepath.Join("..", "..", "examples")

	ctl("collection", "create", "quickstart", "--shards", "2", "--replication", "3",
		"--sparse-max-term", "30522", "--dense-dim", "8", "--dense-metric", "cosine",
		"--attr", "topic=keyword", "--attr", "year=int")
	if out := ctl("load", filepath.Join(examples, "quickstart.jsonl"), "--collection", "quickstart"); !strings.HasPrefix(out, "loaded 32 documents") {
		t.Fatalf("load: got %q", out)
	}
	out := ctl("search", "--collection", "quickstart", "--query", filepath.Join(examples, "quickstart-query.json"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("search: got\n%s\nwant a header and 5 hits", out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); !strings.HasPrefix(f[1], "astro-") {
			t.Errorf("search: hit %s is not an astronomy document\n%s", f[1], out)
		}
	}
	if out := ctl("collection", "seal", "quickstart"); !strings.Contains(out, "SEGMENTS") {
		t.Errorf("seal: got\n%s", out)
	}
	out = ctl("search", "--collection", "quickstart", "--query", filepath.Join(examples, "quickstart-query.json"), "--heap-factor", "0.9")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 6 || !strings.Contains(lines[1], "astro-") {
		t.Errorf("search after seal: got\n%s", out)
	}
	if out := ctl("status"); !strings.Contains(out, "health: ok") || strings.Count(out, "leader") != 2 {
		t.Errorf("status: got\n%s\nwant health ok and 2 shard leaders", out)
	}
	if out := ctl("get", "--collection", "quickstart", "astro-mars", "--consistency", "strong"); !strings.Contains(out, `"topic": "astronomy"`) {
		t.Errorf("get: got %s", out)
	}
	if out := ctl("delete", "--collection", "quickstart", "astro-mars"); !strings.HasPrefix(out, "deleted 1 (token v1.") {
		t.Errorf("delete: got %q", out)
	}
	odd := writeFile(t, "odd.jsonl", `{"id":"..","indices":[7],"values":[1]}
{"id":"a/b c?d","indices":[7],"values":[1]}
`)
	ctl("load", odd, "--collection", "quickstart")
	for _, id := range []string{"..", "a/b c?d"} {
		if out := ctl("get", "--collection", "quickstart", id); !strings.Contains(out, strconv.Quote(id)) {
			t.Errorf("get %q: got %s", id, out)
		}
	}
	token := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(ctl("delete", "--collection", "quickstart", "astro-mars")), "deleted 0 (token "), ")")
	out = ctl("search", "--collection", "quickstart", "--sparse", "4774:1", "--consistency", token)
	if strings.Contains(out, "astro-mars") || !strings.Contains(out, "astro-jupiter") {
		t.Errorf("search after delete, at its token: got\n%s", out)
	}
}
