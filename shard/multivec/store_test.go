package multivec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/internal/vecmath"
	"github.com/shoal-search/shoal/shard/embtable"
)

var update = flag.Bool("update", false, "rewrite the testdata fixtures")

// topicalDocs returns n documents of 5..40 vectors drawn around a few topic
// centres, and nq queries of 4 vectors each.
func topicalDocs(seed uint64, n, nq, dim int) (docs, queries [][]float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	centres := randVecs(rng, 12, dim)
	draw := func(tokens int) []float32 {
		t := rng.IntN(12)
		v := make([]float32, tokens*dim)
		for i := 0; i < tokens; i++ {
			c := centres[t*dim : (t+1)*dim]
			if rng.IntN(3) == 0 {
				u := rng.IntN(12)
				c = centres[u*dim : (u+1)*dim]
			}
			for j := 0; j < dim; j++ {
				v[i*dim+j] = c[j] + 0.7*float32(rng.NormFloat64())
			}
		}
		return v
	}
	for i := 0; i < n; i++ {
		docs = append(docs, draw(5+rng.IntN(36)))
	}
	for i := 0; i < nq; i++ {
		queries = append(queries, draw(4))
	}
	return docs, queries
}

func normalizedCopy(v []float32, dim int) []float32 {
	v = slices.Clone(v)
	for i := 0; i+dim <= len(v); i += dim {
		vecmath.Normalize(v[i : i+dim])
	}
	return v
}

// naiveTop ranks every document by float64 MaxSim over normalized vectors.
func naiveTop(docs [][]float32, q []float32, dim, k int) []uint32 {
	q = normalizedCopy(q, dim)
	type sc struct {
		id uint32
		s  float64
	}
	all := make([]sc, len(docs))
	for i, d := range docs {
		all[i] = sc{uint32(i), maxSimNaive(q, normalizedCopy(d, dim), dim)}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].s > all[b].s })
	out := make([]uint32, k)
	for i := range out {
		out[i] = all[i].id
	}
	return out
}

func ids(items []topk.Item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func overlap(a, b []uint32) int {
	n := 0
	for _, x := range a {
		if slices.Contains(b, x) {
			n++
		}
	}
	return n
}

func testConfig(dim int) Config {
	cfg := DefaultConfig()
	cfg.Dim = dim
	cfg.CentroidIVF = true
	cfg.FDEParams.Reps = 8
	cfg.FDEParams.KSim = 3
	cfg.CentroidTable.NList = 8
	return cfg
}

func TestSearchExhaustiveMatchesNaive(t *testing.T) {
	const dim = 16
	docs, queries := topicalDocs(1, 200, 10, dim)
	s, err := Build(docs, testConfig(dim))
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		got := ids(s.Search(q, 10, SearchParams{Candidates: Exhaustive}, nil, nil))
		want := naiveTop(docs, q, dim, 10)
		if overlap(got, want) < 9 {
			t.Fatalf("query %d: got %v, want %v", i, got, want)
		}
	}
}

func TestCandidatePathsWithFullRerankAreExact(t *testing.T) {
	const dim = 16
	docs, queries := topicalDocs(2, 150, 8, dim)
	s, err := Build(docs, testConfig(dim))
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		want := ids(s.Search(q, 10, SearchParams{Candidates: Exhaustive}, nil, nil))
		fde := ids(s.Search(q, 10, SearchParams{Candidates: ByFDE, Rerank: len(docs)}, nil, nil))
		if !slices.Equal(fde, want) {
			t.Fatalf("query %d: fde with full rerank got %v, want %v", i, fde, want)
		}
		cen := ids(s.Search(q, 10, SearchParams{Candidates: ByCentroids, Rerank: len(docs), NProbe: 8, PerQueryVector: 100000}, nil, nil))
		if !slices.Equal(cen, want) {
			t.Fatalf("query %d: centroids with full probe got %v, want %v", i, cen, want)
		}
	}
}

func TestFDECandidatesRecall(t *testing.T) {
	const dim = 32
	docs, queries := topicalDocs(3, 400, 20, dim)
	cfg := testConfig(dim)
	cfg.FDEParams = DefaultFDEConfig()
	s, err := Build(docs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hit, total int
	for _, q := range queries {
		want := ids(s.Search(q, 10, SearchParams{Candidates: Exhaustive}, nil, nil))
		got := ids(s.Search(q, 10, SearchParams{Candidates: ByFDE, Rerank: 80}, nil, nil))
		hit += overlap(got, want)
		total += len(want)
	}
	if r := float64(hit) / float64(total); r < 0.8 {
		t.Fatalf("fde recall@10 with 20%% candidates: got %.3f, want ≥ 0.8", r)
	}
}

func TestSearchFilter(t *testing.T) {
	const dim = 8
	docs, queries := topicalDocs(4, 100, 3, dim)
	s, err := Build(docs, testConfig(dim))
	if err != nil {
		t.Fatal(err)
	}
	allow := roaring.New()
	for i := uint32(0); i < 100; i += 3 {
		allow.Add(i)
	}
	for _, c := range []Candidates{Exhaustive, ByFDE, ByCentroids} {
		res := s.Search(queries[0], 10, SearchParams{Candidates: c, Rerank: 50}, allow, nil)
		if len(res) == 0 {
			t.Fatalf("%v: no results", c)
		}
		for _, it := range res {
			if !allow.Contains(it.ID) {
				t.Fatalf("%v: returned %d outside the filter", c, it.ID)
			}
		}
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	cfg := testConfig(4)
	if _, err := Build([][]float32{{1, 2, 3}}, cfg); !errors.Is(err, ErrInput) {
		t.Fatalf("ragged doc: got %v, want ErrInput", err)
	}
	nan := float32(0)
	nan /= nan
	if _, err := Build([][]float32{{1, 2, 3, nan}}, cfg); !errors.Is(err, ErrInput) {
		t.Fatalf("NaN: got %v, want ErrInput", err)
	}
	cfg.Dim = 0
	if _, err := Build(nil, cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("dim 0: got %v, want ErrConfig", err)
	}
}

func TestEmptyDocumentScoresZero(t *testing.T) {
	s, err := Build([][]float32{{}, {1, 0}}, testConfig(2))
	if err != nil {
		t.Fatal(err)
	}
	res := s.Search([]float32{0, 1}, 2, SearchParams{Candidates: Exhaustive}, nil, nil)
	if len(res) != 2 {
		t.Fatalf("got %v, want both documents", res)
	}
	for _, it := range res {
		if it.ID == 0 && it.Score != 0 {
			t.Fatalf("empty doc scored %v, want 0", it.Score)
		}
	}
}

func TestCodecsRankAlike(t *testing.T) {
	const dim = 16
	docs, queries := topicalDocs(5, 150, 5, dim)
	var ref [][]uint32
	for _, c := range []Codec{F32, F16, SQ8} {
		cfg := testConfig(dim)
		cfg.Codec = c
		s, err := Build(docs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range queries {
			got := ids(s.Search(q, 10, SearchParams{Candidates: Exhaustive}, nil, nil))
			if c == F32 {
				ref = append(ref, got)
				continue
			}
			if o := overlap(got, ref[i]); o < 8 {
				t.Fatalf("%v query %d: overlap %d with f32, want ≥ 8", c, i, o)
			}
		}
	}
}

func TestConcurrentSearch(t *testing.T) {
	const dim = 8
	docs, queries := topicalDocs(6, 100, 4, dim)
	s, err := Build(docs, testConfig(dim))
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]uint32, len(queries))
	for i, q := range queries {
		want[i] = ids(s.Search(q, 5, SearchParams{Candidates: ByFDE, Rerank: 30}, nil, nil))
	}
	var wg sync.WaitGroup
	errc := make(chan string, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				i := (g + r) % len(queries)
				c := []Candidates{ByFDE, Exhaustive, ByCentroids}[r%3]
				got := ids(s.Search(queries[i], 5, SearchParams{Candidates: c, Rerank: 30}, nil, nil))
				if c == ByFDE && !slices.Equal(got, want[i]) {
					errc <- "concurrent result differs"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		t.Fatal(e)
	}
}

func TestRoundTrip(t *testing.T) {
	const dim = 8
	docs, queries := topicalDocs(7, 60, 3, dim)
	for _, c := range []Codec{F32, F16, SQ8} {
		cfg := testConfig(dim)
		cfg.Codec = c
		cfg.Cluster.Method, cfg.Cluster.K = KMeans, 4
		s, err := Build(docs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "store")
		if err := s.Save(path); err != nil {
			t.Fatal(err)
		}
		l, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l.AppendBinary(nil), s.AppendBinary(nil)) {
			t.Fatalf("%v: re-encoding differs", c)
		}
		for _, cand := range []Candidates{Exhaustive, ByFDE, ByCentroids} {
			for _, q := range queries {
				a := s.Search(q, 5, SearchParams{Candidates: cand, Rerank: 20}, nil, nil)
				b := l.Search(q, 5, SearchParams{Candidates: cand, Rerank: 20}, nil, nil)
				if !slices.Equal(a, b) {
					t.Fatalf("%v %v: loaded store got %v, want %v", c, cand, b, a)
				}
			}
		}
	}
}

// fixtureStore is the store kept in testdata/store.v1.
func fixtureStore(t *testing.T) *Store {
	t.Helper()
	docs, _ := topicalDocs(8, 12, 0, 4)
	cfg := testConfig(4)
	cfg.Codec = SQ8
	cfg.Cluster.Method, cfg.Cluster.Ratio = KMeans, 0.5
	cfg.FDEParams.Reps, cfg.FDEParams.DProj = 2, 4
	cfg.CentroidTable.NList = 2
	s, err := Build(docs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFixtureV1 checks that the version-1 fixture (no checksum trailer)
// still loads and holds what a fresh build holds.
func TestFixtureV1(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "store.v1"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 12 || s.Dim() != 4 || !s.HasFDE() || !s.HasCentroidIVF() {
		t.Fatalf("fixture: got %d docs dim %d fde %v ivf %v", s.Len(), s.Dim(), s.HasFDE(), s.HasCentroidIVF())
	}
	if !bytes.Equal(s.AppendBinary(nil), fixtureStore(t).AppendBinary(nil)) {
		t.Fatalf("v1 fixture re-encoding differs from a fresh build")
	}
}

// TestFixtureV2 checks the current version byte for byte. Run with -update
// to rewrite testdata/store.v2 (only for a new format version).
func TestFixtureV2(t *testing.T) {
	path := filepath.Join("testdata", "store.v2")
	want := fixtureStore(t).AppendBinary(nil)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 12 || s.Dim() != 4 || !s.HasFDE() || !s.HasCentroidIVF() {
		t.Fatalf("fixture: got %d docs dim %d fde %v ivf %v", s.Len(), s.Dim(), s.HasFDE(), s.HasCentroidIVF())
	}
	if !bytes.Equal(s.AppendBinary(nil), want) {
		t.Fatalf("fixture re-encoding differs from a fresh build (format or build changed; run with -update only for a new version)")
	}
}

// TestChecksum flips single bytes all over a version-2 file (vector values
// as well as offsets) and checks that Load rejects every one with an error
// that names the file.
func TestChecksum(t *testing.T) {
	good := fixtureStore(t).AppendBinary(nil)
	path := filepath.Join(t.TempDir(), "bad.multi")
	for off := 8; off < len(good); off += 1 + len(good)/60 {
		bad := slices.Clone(good)
		bad[off] ^= 0x21
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !errors.Is(err, ErrFormat) || !errors.Is(err, ErrChecksum) && off < len(good)-4 {
			t.Fatalf("byte %d flipped: err %v, want ErrFormat and ErrChecksum", off, err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"store.v1", "store.v2"} {
		if raw, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(raw, false)
			f.Add(raw, true)
			f.Add(raw[:len(raw)/2], false)
		}
	}
	f.Add([]byte("SHMV\x01\x00\x00\x00"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, raw []byte, fixCRC bool) {
		if fixCRC && len(raw) >= 12 && binary.LittleEndian.Uint32(raw[4:]) == version {
			// Let mutations reach the structural checks behind the checksum.
			body := raw[: len(raw)-4 : len(raw)-4]
			raw = binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
		}
		s, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error %v is neither ErrFormat nor ErrVersion", err)
			}
			return
		}
		q := make([]float32, s.Dim())
		q[0] = 1
		for _, c := range []Candidates{Exhaustive, ByFDE, ByCentroids} {
			s.Search(q, 3, SearchParams{Candidates: c}, nil, nil)
		}
	})
}

// TestRoundTripFDERescore checks that a store whose FDE table keeps a
// rescoring copy ranks FDE candidates the same after Save and Load (the
// copy travels in the .fde sidecar), and that saving a store without a copy
// removes a stale sidecar.
func TestRoundTripFDERescore(t *testing.T) {
	const dim = 8
	docs, queries := topicalDocs(11, 200, 6, dim)
	cfg := testConfig(dim)
	cfg.CentroidIVF = false
	cfg.FDETable.Codec, cfg.FDETable.Rescore = embtable.Binary, embtable.RescoreF32
	s, err := Build(docs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "store")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.fdeTab.RescorePrecision(); got != embtable.RescoreF32 {
		t.Fatalf("loaded FDE table rescoring precision %v, want f32", got)
	}
	plain, err := Decode(s.AppendBinary(nil)) // the codes alone, as before the sidecar
	if err != nil {
		t.Fatal(err)
	}
	p := SearchParams{Candidates: ByFDE, Rerank: 4, Oversample: 8}
	differs := false
	for _, q := range queries {
		a := s.Search(q, 3, p, nil, nil)
		if b := l.Search(q, 3, p, nil, nil); !slices.Equal(a, b) {
			t.Fatalf("loaded store got %v, want %v", b, a)
		}
		differs = differs || !slices.Equal(a, plain.Search(q, 3, p, nil, nil))
	}
	if !differs {
		t.Log("rescoring did not change any result here; the precision check above still covers the sidecar")
	}
	// A store without a rescoring copy saved to the same path drops the sidecar.
	cfg.FDETable.Rescore = embtable.NoRescore
	s2, err := Build(docs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".fde.rescore"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale sidecar after saving a store without rescoring copy: %v", err)
	}
	l2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.fdeTab.RescorePrecision(); got != embtable.NoRescore {
		t.Fatalf("rescoring precision %v after re-save, want none", got)
	}
}
