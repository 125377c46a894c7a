package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// TestSparseSuiteLines runs `sparse --suite` on two small distributions and
// checks the lines: every one names its data set, and each data set has an
// exact-taat line and one seismic-default line with its speed-up.
func TestSparseSuiteLines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds indexes")
	}
	cmd := newSparseCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--suite", "--suite-size", "800", "--nq", "20", "--rounds", "1", "--scan-nq", "0",
		"--query-cut", "5", "--heap-factor", "0.8", "--suite-filter", "^(short|bm25)$", "--scifact", ""})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]int{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ds, _ := m["dataset"].(string)
		if ds == "" {
			t.Fatalf("line without dataset: %s", sc.Text())
		}
		if seen[ds] == nil {
			seen[ds] = map[string]int{}
		}
		if m["bench"] != "sparse" {
			continue
		}
		index := m["index"].(string)
		seen[ds][index]++
		if index == "seismic-default" {
			p := m["params"].(map[string]any)
			if s, ok := p["speedup_cpu_p50_vs_taat"].(float64); !ok || s <= 0 {
				t.Errorf("%s: seismic-default speed-up %v, want > 0", ds, p["speedup_cpu_p50_vs_taat"])
			}
			if r := m["recall"].(float64); r <= 0 || r > 1 {
				t.Errorf("%s: seismic-default recall %v", ds, r)
			}
		}
	}
	if len(seen) != 2 {
		t.Fatalf("data sets %v, want short and bm25", seen)
	}
	for ds, n := range seen {
		// The sweep: one query_cut x heap_factor, without and with kNN.
		if n["exact-taat"] != 1 || n["seismic-default"] != 1 || n["seismic"] != 2 {
			t.Errorf("%s: lines %v, want 1 exact-taat, 1 seismic-default, 2 seismic", ds, n)
		}
	}
}
