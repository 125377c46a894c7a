// Package eval computes retrieval quality: recall@k of an approximate result
// against an exact one, and nDCG@k against graded relevance judgements
// (qrels) the way trec_eval and BEIR compute it.
//
//	q, _ := eval.ReadQrels("../shared/data/scifact/qrels.tsv")
//	ndcg := eval.MeanNDCG(q, runs, 10)
package eval

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Qrels maps a query id to its judged documents and their grades.
type Qrels map[string]map[string]int

// ReadQrels reads a BEIR qrels TSV file (header line, then
// query-id, corpus-id, score).
func ReadQrels(path string) (Qrels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseQrels(f)
}

// ParseQrels parses BEIR qrels TSV from r. A first line starting with
// "query-id" is taken as the header.
func ParseQrels(r io.Reader) (Qrels, error) {
	q := Qrels{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" || (line == 1 && strings.HasPrefix(text, "query-id")) {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("eval: qrels line %d: got %d fields, want 3", line, len(f))
		}
		g, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("eval: qrels line %d: score: %w", line, err)
		}
		if q[f[0]] == nil {
			q[f[0]] = map[string]int{}
		}
		q[f[0]][f[1]] = g
	}
	return q, sc.Err()
}

// Scored is one retrieved document with its score.
type Scored struct {
	ID    string
	Score float32
}

// NDCG returns nDCG@k of one ranked list against the judgements rel, as
// trec_eval computes it: gain = grade, discount 1/log2(rank+1), equal scores
// ordered by document id in descending string order.
func NDCG(run []Scored, rel map[string]int, k int) float64 {
	ranked := append([]Scored(nil), run...)
	sort.SliceStable(ranked, func(i, j int) bool {
		if ranked[i].Score != ranked[j].Score {
			return ranked[i].Score > ranked[j].Score
		}
		return ranked[i].ID > ranked[j].ID
	})
	var dcg float64
	for i := 0; i < len(ranked) && i < k; i++ {
		if g := rel[ranked[i].ID]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	grades := make([]int, 0, len(rel))
	for _, g := range rel {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(grades)))
	var idcg float64
	for i := 0; i < len(grades) && i < k; i++ {
		idcg += float64(grades[i]) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// MeanNDCG averages NDCG over the queries that have judgements; runs maps a
// query id to its ranked list. A judged query missing from runs counts as 0.
func MeanNDCG(q Qrels, runs map[string][]Scored, k int) float64 {
	if len(q) == 0 {
		return 0
	}
	var sum float64
	for qid, rel := range q {
		sum += NDCG(runs[qid], rel, k)
	}
	return sum / float64(len(q))
}

// Recall returns |got ∩ want| / |want|, where want is the exact top-k and got
// the approximate one. An empty want counts as perfect recall.
func Recall[T comparable](got, want []T) float64 {
	if len(want) == 0 {
		return 1
	}
	set := make(map[T]struct{}, len(want))
	for _, w := range want {
		set[w] = struct{}{}
	}
	hit := 0
	for _, g := range got {
		if _, ok := set[g]; ok {
			hit++
			delete(set, g)
		}
	}
	return float64(hit) / float64(len(want))
}
