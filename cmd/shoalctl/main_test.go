package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/client/clienttest"
)

// run executes shoalctl with args against srv and returns its outputs.
func run(t *testing.T, srv *clienttest.Server, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut, func(k string) string {
		if k == addrEnv {
			return srv.URL
		}
		return ""
	})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// mustRun is run that fails the test on error.
func mustRun(t *testing.T, srv *clienttest.Server, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, srv, args...)
	if err != nil {
		t.Fatalf("shoalctl %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAddrFlagAndEnv(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	if out := mustRun(t, srv, "status"); !strings.Contains(out, "health: ok") {
		t.Errorf("status via $SHOAL_ADDR: got %q", out)
	}
	// --addr wins over the environment.
	if _, _, err := run(t, srv, "--addr", "http://127.0.0.1:1", "--timeout", "50ms", "status"); err == nil {
		t.Error("status with --addr of a closed port: got nil error")
	}
	if _, _, err := run(t, srv, "-o", "yaml", "status"); !errors.Is(err, errUsage) {
		t.Errorf("-o yaml: got %v, want errUsage", err)
	}
}

func TestCollectionCreateFromFlags(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	out := mustRun(t, srv, "collection", "create", "quickstart", "--shards", "2", "--replication", "3",
		"--sparse-max-term", "30522", "--dense-dim", "8", "--dense-metric", "cosine", "--dense-codec", "sq8",
		"--multivector-dim", "4", "--attr", "topic=keyword", "--attr", "year=int")
	if !strings.Contains(out, "created collection quickstart") || !strings.Contains(out, "dim=8 metric=cosine codec=sq8") {
		t.Errorf("create output: got %q", out)
	}
	var col api.Collection
	if err := json.Unmarshal([]byte(mustRun(t, srv, "-o", "json", "collection", "describe", "quickstart")), &col); err != nil {
		t.Fatal(err)
	}
	want := api.CollectionSpec{Name: "quickstart", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 30522},
		Dense: &api.DenseField{Dim: 8, Metric: "cosine", Codec: "sq8"}, Multivector: &api.MultivectorField{Dim: 4},
		Attributes: map[string]string{"topic": "keyword", "year": "int"}}
	got, _ := json.Marshal(col.CollectionSpec)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("describe: got %s, want %s", got, wantJSON)
	}
	if len(col.Placement) != 2 {
		t.Errorf("placement: got %d shards, want 2", len(col.Placement))
	}
	if _, _, err := run(t, srv, "collection", "create", "quickstart", "--sparse-max-term", "10"); !errors.Is(err, client.ErrConflict) {
		t.Errorf("create twice: got %v, want ErrConflict", err)
	}
}

func TestCollectionCreateFromSpecFile(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	spec := writeFile(t, "spec.json", `{"name":"fromfile","shards":4,"dense":{"dim":3,"metric":"l2"}}`)
	mustRun(t, srv, "collection", "create", "--spec", spec, "--shards", "2")
	mustRun(t, srv, "collection", "create", "renamed", "--spec", spec)
	out := mustRun(t, srv, "collection", "list")
	for _, want := range []string{"fromfile  2 ", "renamed   4 ", "dim=3 metric=l2"} {
		if !strings.Contains(out, want) {
			t.Errorf("list: got\n%s\nwant it to contain %q", out, want)
		}
	}
}

func TestCollectionCreateRejectsBadFlags(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	bad := writeFile(t, "bad.json", `{"name":"x","shardz":2}`)
	for _, args := range [][]string{
		{"collection", "create", "x"},
		{"collection", "create", "--sparse-max-term", "5"},
		{"collection", "create", "x", "--sparse-max-term", "5", "--attr", "topic"},
		{"collection", "create", "x", "--sparse-max-term", "5", "--attr", "topic=text"},
		{"collection", "create", "x", "--dense-metric", "l2"},
		{"collection", "create", "--spec", bad},
	} {
		if _, _, err := run(t, srv, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want errUsage", args, err)
		}
	}
	if got := srv.Requests(); got != 0 {
		t.Errorf("requests sent for bad flags: got %d, want 0", got)
	}
}

func TestCollectionListDescribeDrop(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	if out := mustRun(t, srv, "collection", "list"); out != "no collections\n" {
		t.Errorf("empty list: got %q", out)
	}
	mustRun(t, srv, "collection", "create", "a", "--sparse-max-term", "10", "--replication", "3")
	out := mustRun(t, srv, "collection", "describe", "a")
	for _, want := range []string{"name:", "max_term=10", "SHARD", "node-1,node-2,node-3"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe: got\n%s\nwant it to contain %q", out, want)
		}
	}
	for _, op := range []string{"seal", "compact"} {
		if out := mustRun(t, srv, "collection", op, "a"); !strings.Contains(out, "ready:0") {
			t.Errorf("%s: got\n%s\nwant the segments", op, out)
		}
	}
	if out := mustRun(t, srv, "collection", "drop", "a"); out != "dropped collection a\n" {
		t.Errorf("drop: got %q", out)
	}
	if _, _, err := run(t, srv, "collection", "describe", "a"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("describe after drop: got %v, want ErrNotFound", err)
	}
}

func TestStatus(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	mustRun(t, srv, "collection", "create", "a", "--sparse-max-term", "10", "--shards", "2", "--replication", "3")
	out := mustRun(t, srv, "status")
	for _, want := range []string{"health: ok", "NODE", "node-3", "127.0.0.1:7802", "COLLECTION", "APPLIED", "leader", "follower"} {
		if !strings.Contains(out, want) {
			t.Errorf("status: got\n%s\nwant it to contain %q", out, want)
		}
	}
	if n := strings.Count(out, "\na "); n != 6 {
		t.Errorf("status: got %d replica rows, want 6\n%s", n, out)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(mustRun(t, srv, "status", "-o", "json")), &rep); err != nil || rep.Health != "ok" || len(rep.Cluster.Shards) != 2 {
		t.Errorf("status -o json: got %+v, %v", rep, err)
	}
	srv.FailNext(503, 503, 503)
	if out := mustRun(t, srv, "status"); !strings.Contains(out, "health: unavailable: injected failure") {
		t.Errorf("status of an unhealthy cluster: got %q", out)
	}
}

const loadFile = `{"id":"d1","sparse":{"indices":[1,2],"values":[1,0.5]},"dense":[1,0],"attributes":{"topic":"a","year":2001}}
{"id":"d2","indices":[2,3],"values":[0.3,0.9],"content":"ignored in this format"}
{"id":"d3","sparse":{"indices":[1]}
   
{"id":7,"indices":[4],"values":[2]}
{"id":"d5","dense":[1,2,3]}
{"id":"d6","sprase":{"indices":[1],"values":[1]}}
{"indices":[1],"values":[1]}
{"id":"d9","dense":[0,1]}
`

func TestLoad(t *testing.T) {
	defer noLeaks(t)()
	srv := clienttest.NewServer()
	defer srv.Close()
	mustRun(t, srv, "collection", "create", "c", "--sparse-max-term", "10", "--dense-dim", "2")
	p := writeFile(t, "docs.jsonl", loadFile)
	out, errOut, err := run(t, srv, "load", p, "--collection", "c", "--batch", "2", "--parallel", "1")
	if err == nil || !strings.Contains(err.Error(), "3 bad lines and 1 rejected") {
		t.Errorf("load: got error %v, want one naming 3 bad lines and 1 rejected", err)
	}
	for _, want := range []string{"line 3: ", "line 7: unknown field \"sprase\"", "line 8: missing \"id\"", "line 6: rejected: dense: dimension 3, want 2"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr: got\n%s\nwant it to contain %q", errOut, want)
		}
	}
	if !strings.Contains(out, "loaded 4 documents into c in ") || !strings.Contains(out, "docs/s); 3 bad lines, 1 rejected") {
		t.Errorf("summary: got %q", out)
	}
	if got := srv.Documents("c"); got != 4 {
		t.Errorf("stored documents: got %d, want 4", got)
	}
	d := mustRun(t, srv, "get", "--collection", "c", "7", "--consistency", "strong")
	if !strings.Contains(d, `"indices": [`) || !strings.Contains(d, `"id": "7"`) {
		t.Errorf("get 7: got %s", d)
	}
}

func TestLoadGzipAndJSONSummary(t *testing.T) {
	defer noLeaks(t)()
	srv := clienttest.NewServer()
	defer srv.Close()
	mustRun(t, srv, "collection", "create", "c", "--sparse-max-term", "1000")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := range 250 {
		_, _ = zw.Write([]byte(`{"id":"` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `","indices":[` + itoa(i) + `],"values":[1]}` + "\n"))
	}
	_ = zw.Close()
	p := writeFile(t, "docs.jsonl.gz", buf.String())
	out := mustRun(t, srv, "-o", "json", "load", p, "-c", "c", "--batch", "100")
	var st loadStats
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Documents != 250 || st.BadLines != 0 || st.DocsPerSec <= 0 {
		t.Errorf("summary: got %+v, %v from %q", st, err, out)
	}
	if got := srv.Documents("c"); got != 250 {
		t.Errorf("stored documents: got %d, want 250", got)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestLoadRetriesUnavailableAndPrintsProgress(t *testing.T) {
	defer noLeaks(t)()
	srv := clienttest.NewServer()
	defer srv.Close()
	mustRun(t, srv, "collection", "create", "c", "--sparse-max-term", "10")
	c, _ := client.New(srv.URL)
	line := `{"id":"a","indices":[1],"values":[1]}` + "\n"
	in, err := newInput(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(503)
	var errOut bytes.Buffer
	st, err := runLoad(context.Background(), c, in, int64(len(line)), loadOptions{Collection: "c", Batch: 10, Parallel: 1, LogEvery: time.Millisecond}, &errOut)
	if err != nil || st.Documents != 1 {
		t.Fatalf("load: got %+v, %v", st, err)
	}
	for _, want := range []string{"lines 1-1: shoal: unavailable: injected failure; retrying", "progress: 0 docs  100.0%"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr: got\n%s\nwant it to contain %q", errOut.String(), want)
		}
	}
}

func TestLoadStopsOnFatalError(t *testing.T) {
	defer noLeaks(t)()
	srv := clienttest.NewServer()
	defer srv.Close()
	p := writeFile(t, "docs.jsonl", loadFile)
	_, _, err := run(t, srv, "load", p, "--collection", "missing")
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "lines 1-") {
		t.Errorf("load into a missing collection: got %v, want ErrNotFound naming the lines", err)
	}
	for _, args := range [][]string{
		{"load", p, "-c", "x", "--batch", "0"},
		{"load", p, "-c", "x", "--batch", "10001"},
		{"load", p, "-c", "x", "--parallel", "0"},
	} {
		if _, _, err := run(t, srv, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want errUsage", args, err)
		}
	}
}

func TestConcurrentLoad(t *testing.T) {
	defer noLeaks(t)()
	srv := clienttest.NewServer()
	defer srv.Close()
	mustRun(t, srv, "collection", "create", "c", "--sparse-max-term", "10")
	var b strings.Builder
	for i := range 200 {
		b.WriteString(`{"id":"d` + itoa(i) + `","indices":[1],"values":[1]}` + "\n")
	}
	p := writeFile(t, "docs.jsonl", b.String())
	mustRun(t, srv, "load", p, "-c", "c", "--batch", "7", "--parallel", "4")
	if got := srv.Documents("c"); got != 200 {
		t.Errorf("stored documents: got %d, want 200", got)
	}
}

func TestSearchGetDelete(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	mustRun(t, srv, "collection", "create", "c", "--sparse-max-term", "10", "--dense-dim", "2", "--attr", "topic=keyword", "--attr", "year=int")
	p := writeFile(t, "docs.jsonl", `{"id":"a","sparse":{"indices":[1,2],"values":[1,1]},"dense":[1,0],"attributes":{"topic":"x","year":2001}}
{"id":"b","sparse":{"indices":[2,3],"values":[2,1]},"dense":[0,1],"attributes":{"topic":"y","year":2002}}
{"id":"c","sparse":{"indices":[3],"values":[3]},"dense":[1,1],"attributes":{"topic":"x","year":2003}}
`)
	mustRun(t, srv, "load", p, "-c", "c")

	out := mustRun(t, srv, "search", "-c", "c", "--sparse", "3:1,2:0.5", "-k", "2")
	want := "RANK  ID  SCORE\n1     c   3.0000\n2     b   2.0000\n"
	if out != want {
		t.Errorf("search: got\n%s\nwant\n%s", out, want)
	}
	out = mustRun(t, srv, "search", "-c", "c", "--sparse", "3:1,2:1", "--filter", "topic=x", "--filter", "year=2003")
	if !strings.Contains(out, "1     c ") || strings.Contains(out, " b ") {
		t.Errorf("filtered search: got\n%s", out)
	}
	q := writeFile(t, "q.json", `{"k":5,"dense":[1,0],"consistency":"strong","params":{"nprobe":4}}`)
	var res api.SearchResponse
	if err := json.Unmarshal([]byte(mustRun(t, srv, "-o", "json", "search", "-c", "c", "--query", q, "-k", "1")), &res); err != nil || len(res.Hits) != 1 || res.Hits[0].ID != "a" {
		t.Errorf("search --query: got %+v, %v", res, err)
	}
	if _, _, err := run(t, srv, "search", "-c", "c", "--dense", "1,0,0"); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("search with a wrong dimension: got %v, want ErrBadRequest", err)
	}
	if _, _, err := run(t, srv, "search", "-c", "c"); !errors.Is(err, errUsage) {
		t.Errorf("search without a query: got %v, want errUsage", err)
	}

	if out := mustRun(t, srv, "delete", "-c", "c", "b"); !strings.HasPrefix(out, "deleted 1 (token ") {
		t.Errorf("delete: got %q", out)
	}
	if out := mustRun(t, srv, "delete", "-c", "c", "b"); !strings.HasPrefix(out, "deleted 0") {
		t.Errorf("delete again: got %q", out)
	}
	if _, _, err := run(t, srv, "get", "-c", "c", "b"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("get deleted: got %v, want ErrNotFound", err)
	}
}

func TestSearchParamsFlags(t *testing.T) {
	cmd := newSearchCmd(&app{})
	if err := cmd.ParseFlags([]string{"-c", "x", "--sparse", "1:1", "--query-cut", "5", "--heap-factor", "0.9", "--exact"}); err != nil {
		t.Fatal(err)
	}
	req, err := buildSearch(searchFlags{sparse: "1:1", k: 10, params: api.SearchParams{QueryCut: 5, HeapFactor: 0.9, Exact: true}}, cmd.Flags().Changed)
	if err != nil || req.Params == nil || *req.Params != (api.SearchParams{QueryCut: 5, HeapFactor: 0.9, Exact: true}) {
		t.Errorf("got %+v, %v", req.Params, err)
	}
	req, err = buildSearch(searchFlags{sparse: "1:1", k: 10}, func(string) bool { return false })
	if err != nil || req.Params != nil {
		t.Errorf("without knobs: got %+v, %v, want no params", req.Params, err)
	}
}

func TestSegmentsText(t *testing.T) {
	got := segmentsText([]api.Segment{{ID: 1, Docs: 1000, Deleted: 3, State: "ready"}, {ID: 2, Docs: 12, State: "buffer"},
		{ID: 3, Docs: 5000, State: "ready", Sparse: &api.SparseCalibration{Calibrated: true, ExpectedRecall: 0.9612}},
		{ID: 4, Docs: 5000, State: "ready", Sparse: &api.SparseCalibration{Calibrated: true, ExpectedRecall: 0.8, Exact: true}}})
	if want := "ready:1000-3 buffer:12 ready:5000@0.961 ready:5000@0.800exact"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBuildSpecSparseIndexFlags(t *testing.T) {
	f := specFlags{sparseMaxTerm: 30522, sparseKind: "exact", targetRecall: 0.9, sparseQueryCut: 8, sparseHeapFactor: 0.6}
	set := map[string]bool{"sparse-max-term": true, "sparse-kind": true, "target-recall": true, "sparse-query-cut": true, "sparse-heap-factor": true}
	spec, err := buildSpec("c", f, func(n string) bool { return set[n] })
	if err != nil {
		t.Fatal(err)
	}
	want := api.SparseIndex{Kind: "exact", TargetRecall: 0.9, QueryCut: 8, HeapFactor: 0.6}
	if spec.Sparse == nil || spec.Sparse.Index == nil || *spec.Sparse.Index != want {
		t.Fatalf("got %+v, want sparse index %+v", spec.Sparse, want)
	}
	for _, bad := range []specFlags{{sparseMaxTerm: 9, sparseKind: "bm25"}, {sparseMaxTerm: 9, targetRecall: 1.5}} {
		changed := map[string]bool{"sparse-max-term": true, "sparse-kind": bad.sparseKind != "", "target-recall": bad.targetRecall != 0}
		if _, err := buildSpec("c", bad, func(n string) bool { return changed[n] }); err == nil {
			t.Errorf("flags %+v accepted", bad)
		}
	}
	if _, err := buildSpec("c", specFlags{denseDim: 4, targetRecall: 0.9}, func(n string) bool { return n == "dense-dim" || n == "target-recall" }); err == nil {
		t.Error("--target-recall without a sparse field accepted")
	}
}

func TestParseSparse(t *testing.T) {
	v, err := parseSparse("17:1.3, 3:0.4")
	if err != nil || len(v.Indices) != 2 || v.Indices[0] != 3 || v.Values[0] != 0.4 || v.Indices[1] != 17 || v.Values[1] != 1.3 {
		t.Errorf("got %+v, %v", v, err)
	}
	for _, bad := range []string{"", "3", "3:x", "-1:1", "3:1,3:2", "3:NaN", "3:Inf", "99999999999:1"} {
		if _, err := parseSparse(bad); err == nil {
			t.Errorf("parseSparse(%q): got nil error", bad)
		}
	}
}

func TestParseFilterAndConsistency(t *testing.T) {
	for _, tc := range []struct {
		in   string
		key  string
		want string // JSON of the value
	}{
		{"topic=astronomy", "topic", `"astronomy"`},
		{"year=2001", "year", `2001`},
		{`year={"gte":2000,"lte":2010}`, "year", `{"gte":2000,"lte":2010}`},
		{`topic=["a","b"]`, "topic", `["a","b"]`},
		{`topic="2001"`, "topic", `"2001"`},
		{"topic=a=b", "topic", `"a=b"`},
		{"topic=", "topic", `""`},
	} {
		k, v, err := parseFilter(tc.in)
		got, _ := json.Marshal(v)
		if err != nil || k != tc.key || string(got) != tc.want {
			t.Errorf("parseFilter(%q): got %q %s %v, want %q %s", tc.in, k, got, err, tc.key, tc.want)
		}
	}
	if _, _, err := parseFilter("=x"); err == nil {
		t.Error(`parseFilter("=x"): got nil error`)
	}
	for in, want := range map[string]string{"eventual": `"eventual"`, "strong": `"strong"`, "3:17": `{"token":"3:17"}`} {
		got, _ := json.Marshal(parseConsistency(in))
		if string(got) != want {
			t.Errorf("parseConsistency(%q): got %s, want %s", in, got, want)
		}
	}
}
