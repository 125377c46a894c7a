package faulttest

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-search/shoal/api"
)

// The checker must find what it is there to find: these histories are built
// by hand, each with or without one anomaly.

func w(key string, v, call, ret int64, out string) Op {
	return Op{Kind: OpWrite, Key: key, Value: v, Call: call, Return: ret, Outcome: out}
}

func rd(kind, key string, v, call, ret int64) Op {
	return Op{Kind: kind, Key: key, Value: v, Call: call, Return: ret, Outcome: Acked}
}

func TestLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want porcupine.CheckResult
	}{
		{"sequential", []Op{w("a", 1, 0, 10, Acked), rd(OpStrongRead, "a", 1, 20, 30), w("a", 2, 40, 50, Acked), rd(OpStrongRead, "a", 2, 60, 70)}, porcupine.Ok},
		{"stale read", []Op{w("a", 1, 0, 10, Acked), w("a", 2, 20, 30, Acked), rd(OpStrongRead, "a", 1, 40, 50)}, porcupine.Illegal},
		{"concurrent read may see either", []Op{w("a", 1, 0, 10, Acked), w("a", 2, 20, 50, Acked), rd(OpStrongRead, "a", 1, 30, 40), rd(OpStrongRead, "a", 2, 45, 60)}, porcupine.Ok},
		{"unknown write seen later", []Op{w("a", 1, 0, 10, Unknown), rd(OpStrongRead, "a", 0, 20, 30), rd(OpStrongRead, "a", 1, 100, 110)}, porcupine.Ok},
		{"unknown write never seen", []Op{w("a", 1, 0, 10, Unknown), rd(OpStrongRead, "a", 0, 20, 30)}, porcupine.Ok},
		{"failed write is not there", []Op{w("a", 1, 0, 10, Failed), rd(OpStrongRead, "a", 1, 20, 30)}, porcupine.Illegal},
		{"value flips back", []Op{w("a", 1, 0, 10, Acked), w("a", 2, 0, 10, Acked), rd(OpStrongRead, "a", 1, 20, 30), rd(OpStrongRead, "a", 2, 40, 50), rd(OpStrongRead, "a", 1, 60, 70)}, porcupine.Illegal},
		{"keys are independent", []Op{w("a", 1, 0, 10, Acked), w("b", 2, 0, 10, Acked), rd(OpStrongRead, "a", 1, 20, 30), rd(OpStrongRead, "b", 2, 20, 30)}, porcupine.Ok},
		{"eventual reads are not checked here", []Op{w("a", 1, 0, 10, Acked), rd(OpEventualRead, "a", 0, 20, 30)}, porcupine.Ok},
		{"delete", []Op{w("a", 1, 0, 10, Acked), {Kind: OpDelete, Key: "a", Call: 20, Return: 30, Outcome: Acked}, rd(OpStrongRead, "a", 0, 40, 50)}, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Linearizable(tc.ops, 10*time.Second); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLostWrites(t *testing.T) {
	ops := []Op{
		w("a", 1, 0, 10, Acked), w("a", 2, 20, 30, Acked), // a: final 1 loses 2
		w("b", 3, 0, 10, Acked), w("b", 4, 5, 15, Acked), // b: concurrent, either may win
		w("c", 5, 0, 10, Acked), w("c", 6, 20, 30, Unknown), // c: final 6 fine, 5 overwritten
		w("d", 7, 0, 10, Acked),                                                                     // d: final 0, no delete: lost
		w("e", 8, 0, 10, Acked), {Kind: OpDelete, Key: "e", Call: 20, Return: 30, Outcome: Unknown}, // e: final 0 fine
		w("f", 9, 0, 10, Failed), // f: final 9 comes from a failed write
	}
	final := map[string]int64{"a": 1, "b": 3, "c": 6, "d": 0, "e": 0, "f": 9, "g": 42}
	got := LostWrites(ops, final)
	want := []string{"a: acknowledged write of 2", "d: acknowledged write of 7", "f: final value 9 comes from a failed write", "g: final value 42 was never written"}
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("finding %d: got %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestBadEventualReads(t *testing.T) {
	ops := []Op{
		w("a", 1, 0, 10, Acked), w("a", 2, 50, 60, Failed),
		rd(OpEventualRead, "a", 1, 20, 30), // fine
		rd(OpEventualRead, "a", 0, 20, 30), // fine (initial)
		rd(OpEventualRead, "a", 2, 70, 80), // failed write
		rd(OpEventualRead, "a", 9, 70, 80), // never written
		w("b", 3, 100, 110, Unknown),
		rd(OpEventualRead, "b", 3, 20, 30), // before it was written
	}
	got := BadEventualReads(ops)
	if len(got) != 3 {
		t.Fatalf("got %d findings, want 3: %v", len(got), got)
	}
}

func TestExactTopKAndCompare(t *testing.T) {
	wl := Workload{Collection: "c", Shards: 1, Keys: 4, MaxTerm: 50}
	docs := map[string]api.Document{}
	for i := 0; i < 30; i++ {
		docs[wl.Key(i)] = wl.Doc(wl.Key(i), int64(i+1))
	}
	q := docs[wl.Key(3)].Sparse
	want := ExactTopK(docs, q, 5)
	if len(want) == 0 || want[0].ID != wl.Key(3) {
		t.Fatalf("a document's own vector should rank it first: %v", want)
	}
	if why := compareHits(want, want); why != "" {
		t.Fatal(why)
	}
	bad := append([]api.Hit(nil), want...)
	bad[0].Score = float32(math.Nextafter32(bad[0].Score, 1e9) * 2)
	if compareHits(bad, want) == "" {
		t.Fatal("a wrong score was not reported")
	}
	if compareHits(want[:2], want) == "" {
		t.Fatal("missing hits were not reported")
	}
}

func TestResultsTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	for _, r := range []Result{
		{Scenario: "x", Fault: "kill", Pass: false, Linearizable: "Ok", Search: "ok", Replicas: "ok", Failures: []string{"first"}},
		{Scenario: "y", Fault: "stop", Pass: true, Linearizable: "Ok", Search: "ok", Replicas: "ok"},
		{Scenario: "x", Fault: "kill", Pass: true, Linearizable: "Ok", Search: "ok", Replicas: "ok"},
	} {
		if err := AppendResult(path, r); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || !rs[0].Pass || rs[0].Scenario != "x" {
		t.Fatalf("got %+v, want the last line of x first, then y", rs)
	}
	if tab := Table(rs); strings.Count(tab, "\n") != 4 || !strings.Contains(tab, "| x | kill | **pass**") {
		t.Fatalf("table:\n%s", tab)
	}
}
