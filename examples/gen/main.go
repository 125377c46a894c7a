// Command gen writes shoal's quickstart example: examples/quickstart.jsonl
// (32 short documents on four topics, each with a sparse vector of
// bert-base-uncased word-piece ids, an 8-dim dense vector that puts
// same-topic documents near each other, and topic/year attributes) and
// examples/quickstart-query.json (a sparse query for "planet orbit").
//
// The texts are the project's own. The output is deterministic:
//
//	go run ./examples/gen -vocab ../shared/data/vocab/bert-base-uncased.txt -out examples
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/shoal-search/shoal/api"
)

// doc is one example document before vectorization.
type doc struct {
	id, topic, text string
	year            int
}

// topics fixes the order of topics, and so their dense directions.
var topics = []string{"animals", "programming", "astronomy", "cooking"}

var docs = []doc{
	{"animal-cheetah", "animals", "The cheetah is the fastest land animal and hunts gazelles on the open savanna.", 2016},
	{"animal-elephant", "animals", "Elephants live in close family herds led by the oldest female.", 2018},
	{"animal-octopus", "animals", "An octopus has three hearts and can change the color of its skin.", 2021},
	{"animal-wolf", "animals", "Wolves hunt in packs and howl to call the pack together.", 2015},
	{"animal-whale", "animals", "The blue whale is the largest animal that has ever lived.", 2019},
	{"animal-bee", "animals", "Honey bees dance to tell the hive where the flowers are.", 2022},
	{"animal-penguin", "animals", "Penguins cannot fly but swim fast through cold ocean water.", 2017},
	{"animal-owl", "animals", "Owls hunt at night and can turn their heads almost all the way around.", 2020},
	{"lang-go", "programming", "Go is a compiled programming language with goroutines and channels for concurrency.", 2023},
	{"lang-python", "programming", "Python is a popular programming language for data science and quick scripts.", 2019},
	{"lang-rust", "programming", "Rust checks memory safety at compile time with its borrow checker.", 2024},
	{"lang-javascript", "programming", "JavaScript runs in every web browser and on servers too.", 2016},
	{"lang-compiler", "programming", "A compiler translates source code into machine code before the program runs.", 2015},
	{"lang-c", "programming", "The C language gives direct access to memory through pointers.", 2018},
	{"lang-haskell", "programming", "Haskell is a pure functional language with lazy evaluation.", 2021},
	{"lang-sql", "programming", "SQL is the language used to query tables in a relational database.", 2022},
	{"astro-jupiter", "astronomy", "Jupiter is the largest planet in the solar system and has dozens of moons.", 2020},
	{"astro-moon", "astronomy", "The moon orbits the earth about once every twenty seven days.", 2017},
	{"astro-mars", "astronomy", "Mars is a cold desert planet with the tallest volcano in the solar system.", 2023},
	{"astro-comet", "astronomy", "A comet grows a bright tail when its orbit brings it close to the sun.", 2015},
	{"astro-saturn", "astronomy", "Saturn is a gas giant planet famous for its wide rings of ice.", 2022},
	{"astro-exoplanet", "astronomy", "Astronomers find planets around other stars when they pass in front of them.", 2024},
	{"astro-blackhole", "astronomy", "A black hole bends light with gravity so strong that nothing escapes.", 2019},
	{"astro-year", "astronomy", "The earth takes one year to orbit the sun.", 2016},
	{"cook-bread", "cooking", "Bread rises because yeast turns sugar into gas inside the dough.", 2018},
	{"cook-sauce", "cooking", "Simmer the tomato sauce slowly with garlic and fresh basil.", 2021},
	{"cook-rice", "cooking", "Rice should rest a few minutes after cooking so the water is absorbed.", 2015},
	{"cook-roast", "cooking", "Roast the vegetables in a hot oven until their edges turn brown.", 2020},
	{"cook-omelette", "cooking", "A good omelette needs butter, eggs and a hot pan.", 2017},
	{"cook-soup", "cooking", "Soup tastes better the next day after the flavors blend.", 2023},
	{"cook-pizza", "cooking", "Knead pizza dough for ten minutes and let it rise for an hour.", 2024},
	{"cook-chocolate", "cooking", "Melt chocolate gently in a bowl over warm water.", 2022},
}

// stopwords carry no topic and are left out of the sparse vectors.
var stopwords = map[string]bool{
	"a": true, "an": true, "the": true, "is": true, "and": true, "of": true, "in": true, "on": true,
	"to": true, "for": true, "with": true, "its": true, "it": true, "at": true, "that": true, "has": true,
	"can": true, "but": true, "so": true, "by": true, "be": true, "are": true, "they": true, "them": true,
	"their": true, "too": true, "when": true, "where": true, "after": true, "before": true, "into": true,
	"through": true, "over": true, "all": true, "let": true, "every": true, "about": true, "once": true,
}

func main() {
	vocabPath := flag.String("vocab", "../shared/data/vocab/bert-base-uncased.txt", "bert-base-uncased vocabulary, one word piece per line")
	outDir := flag.String("out", "examples", "directory for quickstart.jsonl and quickstart-query.json")
	flag.Parse()
	if err := run(*vocabPath, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(vocabPath, outDir string) error {
	vocab, err := readVocab(vocabPath)
	if err != nil {
		return err
	}
	corpus, query, err := build(vocab)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "quickstart.jsonl"), corpus, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "quickstart-query.json"), query, 0o644)
}

// readVocab maps each word piece to its id, the 0-based line number.
func readVocab(path string) (map[string]uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vocab := make(map[string]uint32, 30522)
	sc := bufio.NewScanner(f)
	for id := uint32(0); sc.Scan(); id++ {
		if _, dup := vocab[sc.Text()]; !dup {
			vocab[sc.Text()] = id
		}
	}
	return vocab, sc.Err()
}

// build returns the JSONL corpus and the JSON query.
func build(vocab map[string]uint32) ([]byte, []byte, error) {
	tfs := make([]map[uint32]int, len(docs))
	df := make(map[uint32]int)
	for i, d := range docs {
		ids, err := pieces(vocab, d.text)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.id, err)
		}
		tfs[i] = make(map[uint32]int)
		for _, id := range ids {
			tfs[i][id]++
		}
		for id := range tfs[i] {
			df[id]++
		}
	}
	var corpus bytes.Buffer
	for i, d := range docs {
		out := api.Document{
			ID:         d.id,
			Sparse:     weigh(tfs[i], df, len(docs)),
			Dense:      dense(d),
			Attributes: map[string]any{"topic": d.topic, "year": d.year},
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, nil, err
		}
		corpus.Write(b)
		corpus.WriteByte('\n')
	}
	q, err := pieces(vocab, "planet orbit")
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(q, func(i, j int) bool { return q[i] < q[j] })
	req := api.SearchRequest{K: 5, Sparse: &api.SparseVector{Indices: q, Values: make([]float32, len(q))}}
	for i := range req.Sparse.Values {
		req.Sparse.Values[i] = 1
	}
	query, err := json.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	return corpus.Bytes(), append(query, '\n'), nil
}

// pieces lower-cases text, splits it into words, drops stopwords, and
// splits each word into word pieces greedily, longest match first, with
// "##" marking a piece inside a word.
func pieces(vocab map[string]uint32, text string) ([]uint32, error) {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	var ids []uint32
	for _, w := range words {
		if stopwords[w] {
			continue
		}
		for start := 0; start < len(w); {
			end := len(w)
			for ; end > start; end-- {
				p := w[start:end]
				if start > 0 {
					p = "##" + p
				}
				if id, ok := vocab[p]; ok {
					ids = append(ids, id)
					break
				}
			}
			if end == start {
				return nil, fmt.Errorf("word %q has no word-piece split", w)
			}
			start = end
		}
	}
	return ids, nil
}

// weigh turns term counts into an ascending sparse vector with weights
// (1 + ln tf) * ln(1 + n/df) / ln(1 + n), rounded to 3 decimals: about 1
// for a word piece of one document, less for common ones.
func weigh(tf map[uint32]int, df map[uint32]int, n int) *api.SparseVector {
	v := &api.SparseVector{}
	for id := range tf {
		v.Indices = append(v.Indices, id)
	}
	sort.Slice(v.Indices, func(i, j int) bool { return v.Indices[i] < v.Indices[j] })
	for _, id := range v.Indices {
		w := (1 + math.Log(float64(tf[id]))) * math.Log(1+float64(n)/float64(df[id])) / math.Log(1+float64(n))
		v.Values = append(v.Values, float32(math.Round(w*1000)/1000))
	}
	return v
}

// dense places a document near its topic's direction: topic t weighs dims
// 2t and 2t+1, plus a small deterministic offset from the id's hash, and
// the vector is normalized and rounded to 4 decimals.
func dense(d doc) []float32 {
	t := 0
	for i, name := range topics {
		if name == d.topic {
			t = i
		}
	}
	h := fnv.New64a()
	h.Write([]byte(d.id))
	seed := h.Sum64()
	v := make([]float64, 8)
	v[2*t], v[2*t+1] = 1, 0.6
	var norm float64
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407
		v[i] += 0.3 * (float64(seed>>40)/float64(1<<24) - 0.5)
		norm += v[i] * v[i]
	}
	out := make([]float32, len(v))
	for i := range v {
		out[i] = float32(math.Round(v[i]/math.Sqrt(norm)*10000) / 10000)
	}
	return out
}
