package multivec

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestClusterCounts(t *testing.T) {
	c := DefaultClusterConfig()
	for _, tc := range []struct {
		method Clustering
		k      int
		ratio  float64
		pool   int
		n      int
		want   int
	}{
		{KMeans, 8, 0, 0, 100, 8}, {KMeans, 8, 0, 0, 5, 5}, {KMeans, 0, 0.25, 0, 100, 25},
		{KMeans, 0, 0.25, 0, 3, 1}, {Ward, 0, 0, 2, 101, 50}, {Ward, 0, 0, 4, 3, 1}, {NoClustering, 0, 0, 0, 7, 7},
	} {
		c.Method, c.K, c.Ratio, c.PoolFactor = tc.method, tc.k, tc.ratio, tc.pool
		if got := c.Clusters(tc.n); got != tc.want {
			t.Fatalf("%v k=%d ratio=%v pool=%d n=%d: got %d, want %d", tc.method, tc.k, tc.ratio, tc.pool, tc.n, got, tc.want)
		}
	}
}

func TestClusterDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	d := randVecs(rng, 60, 16)
	for _, m := range []Clustering{KMeans, Ward} {
		c := DefaultClusterConfig()
		c.Method, c.K = m, 8
		a := Cluster(nil, d, 16, c, true)
		b := Cluster(nil, slices.Clone(d), 16, c, true)
		if !slices.Equal(a, b) {
			t.Fatalf("%v: two runs differ", m)
		}
		want := c.Clusters(60)
		if len(a) != want*16 {
			t.Fatalf("%v: got %d vectors, want %d", m, len(a)/16, want)
		}
		for i := 0; i < len(a); i += 16 {
			if n := math.Sqrt(float64(dot(a[i:i+16], a[i:i+16]))); math.Abs(n-1) > 1e-4 {
				t.Fatalf("%v: centroid %d norm %v, want 1", m, i/16, n)
			}
		}
	}
}

func TestKMeansRecoversSeparatedGroups(t *testing.T) {
	const dim = 4
	var d []float32
	for g := 0; g < 3; g++ {
		for i := 0; i < 10; i++ {
			v := make([]float32, dim)
			v[g] = 10
			v[3] = float32(i) * 0.01
			d = append(d, v...)
		}
	}
	assign := kmeansDoc(d, nil, dim, 3, 10, 1)
	for g := 0; g < 3; g++ {
		for i := 1; i < 10; i++ {
			if assign[g*10+i] != assign[g*10] {
				t.Fatalf("group %d split: %v", g, assign)
			}
		}
	}
	if assign[0] == assign[10] || assign[10] == assign[20] || assign[0] == assign[20] {
		t.Fatalf("groups merged: %v", assign)
	}
}

func TestWardProtectsFirstAndPoolsNeighbours(t *testing.T) {
	const dim = 2
	// Token 0 sits in a pair's neighbourhood but must stay alone; pairs
	// (1,2), (3,4), (5,6) are close together.
	d := []float32{0, 0, 0, 0.1, 5, 5, 5, 5.1, -5, 5, -5, 5.1, 0, 0.05}
	assign := wardDoc(d, nil, dim, 4, true)
	if slices.Contains(assign[1:], assign[0]) {
		t.Fatalf("first token pooled: %v", assign)
	}
	if assign[2] != assign[3] || assign[4] != assign[5] || assign[1] != assign[6] {
		t.Fatalf("got %v, want pairs (1,6), (2,3), (4,5)", assign)
	}
}

func TestDropSingletons(t *testing.T) {
	const dim = 2
	d := []float32{1, 0, 1, 0.01, 1, 0.02, 0, 1}
	c := DefaultClusterConfig()
	c.Method, c.K, c.DropSingletons = KMeans, 2, true
	out := Cluster(nil, d, dim, c, false)
	if len(out) != dim {
		t.Fatalf("got %d vectors, want 1 (singleton dropped)", len(out)/dim)
	}
}

// dupDoc returns n rows drawn from a pool of distinct random vectors, so
// most rows repeat an earlier one.
func dupDoc(rng *rand.Rand, n, distinct, dim int) []float32 {
	pool := randVecs(rng, distinct, dim)
	d := make([]float32, 0, n*dim)
	for i := 0; i < n; i++ {
		j := rng.IntN(distinct)
		d = append(d, pool[j*dim:(j+1)*dim]...)
	}
	return d
}

func TestClusterDedupIsLosslessForMaxSim(t *testing.T) {
	const dim = 16
	rng := rand.New(rand.NewPCG(3, 4))
	c := DefaultClusterConfig()
	c.Dedup = true
	maxes := make([]float32, 8)
	for doc := 0; doc < 50; doc++ {
		d := dupDoc(rng, 5+rng.IntN(60), 1+rng.IntN(12), dim)
		for j := 0; j+dim <= len(d); j += dim {
			normalize(d[j : j+dim])
		}
		got := Cluster(nil, d, dim, c, true)
		if len(got) > len(d) {
			t.Fatalf("doc %d: dedup grew %d → %d rows", doc, len(d)/dim, len(got)/dim)
		}
		for qi := 0; qi < 5; qi++ {
			q := randVecs(rng, 8, dim)
			// The exact (per-pair, position-independent) score is identical;
			// the blocked kernel may round a pair differently by position.
			if a, b := maxSimNaive(q, got, dim), maxSimNaive(q, d, dim); a != b {
				t.Fatalf("doc %d: exact MaxSim %v after dedup, %v before", doc, a, b)
			}
			want := MaxSim(q, d, dim, maxes)
			if s := MaxSim(q, got, dim, maxes); math.Abs(float64(s-want)) > 1e-5*math.Abs(float64(want))+1e-6 {
				t.Fatalf("doc %d: MaxSim %v after dedup, %v before", doc, s, want)
			}
		}
	}
}

func TestClusterDedupWeighsRepeats(t *testing.T) {
	// Ward over deduplicated rows weighted by their counts pools like Ward
	// over the full rows: same cluster count, and each stored vector is a
	// unit centroid.
	const dim = 8
	rng := rand.New(rand.NewPCG(5, 6))
	d := dupDoc(rng, 90, 20, dim)
	for j := 0; j+dim <= len(d); j += dim {
		normalize(d[j : j+dim])
	}
	c := DefaultClusterConfig()
	c.Method, c.PoolFactor, c.Dedup = Ward, 6, true
	got := Cluster(nil, d, dim, c, true)
	if len(got)/dim != 15 {
		t.Fatalf("got %d clusters, want 15", len(got)/dim)
	}
	c.DistinctRatio = 0.5
	got = Cluster(nil, d, dim, c, true)
	u, w := uniqueRows(d, dim)
	if len(got)/dim != len(u)/dim/2 {
		t.Fatalf("distinct ratio 0.5: got %d clusters of %d distinct rows", len(got)/dim, len(u)/dim)
	}
	var total float64
	for _, x := range w {
		total += x
	}
	if total != 90 {
		t.Fatalf("weights sum to %v, want 90", total)
	}
	if !slices.Equal(Cluster(nil, d, dim, c, true), got) {
		t.Fatal("not deterministic")
	}
	c.DistinctRatio = 1.5
	if c.Validate() == nil {
		t.Fatal("distinct ratio 1.5 accepted")
	}
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}
