package eval

import (
	"math"
	"strings"
	"testing"
)

func TestNDCG(t *testing.T) {
	rel := map[string]int{"a": 1, "b": 1}
	run := []Scored{{"x", 3}, {"a", 2}, {"b", 1}}
	want := (1/math.Log2(3) + 1/math.Log2(4)) / (1 + 1/math.Log2(3))
	if got := NDCG(run, rel, 10); math.Abs(got-want) > 1e-12 {
		t.Fatalf("got %v, want %v", got, want)
	}
	// ties: equal scores are ordered by id descending, so "b" ranks before "a"
	tie := []Scored{{"a", 1}, {"z", 1}}
	if got := NDCG(tie, map[string]int{"a": 1}, 10); math.Abs(got-1/math.Log2(3)) > 1e-12 {
		t.Fatalf("tie order: got %v", got)
	}
}

func TestParseQrels(t *testing.T) {
	q, err := ParseQrels(strings.NewReader("query-id\tcorpus-id\tscore\n1\t10\t1\n1\t11\t2\n"))
	if err != nil || q["1"]["11"] != 2 || len(q["1"]) != 2 {
		t.Fatalf("got %v, %v", q, err)
	}
	if _, err := ParseQrels(strings.NewReader("1\t2\n")); err == nil {
		t.Fatal("want error for short line")
	}
}

func TestRecall(t *testing.T) {
	if got := Recall([]int{1, 2, 3}, []int{2, 3, 4, 5}); got != 0.5 {
		t.Fatalf("got %v, want 0.5", got)
	}
}
