package multivec

import (
	"math"
	"math/rand/v2"

	"github.com/shoal-search/shoal/internal/vecmath"
)

// Clustering selects how a document's token vectors are reduced when it is
// added to a store.
type Clustering uint8

const (
	// NoClustering stores every token vector as it is.
	NoClustering Clustering = iota
	// KMeans replaces the tokens with the centroids of a per-document
	// k-means (k-means++ seeding with a fixed seed, then Lloyd iterations).
	KMeans
	// Ward pools tokens by hierarchical agglomerative clustering with Ward
	// linkage until n/PoolFactor clusters remain; the first token is kept
	// alone when ProtectFirst is set.
	Ward
	// Precomputed stores documents as they arrive: they were clustered
	// upstream (for example by a CRISP-trained model).
	Precomputed
)

// String returns the clustering's lower-case name.
func (c Clustering) String() string {
	switch c {
	case NoClustering:
		return "none"
	case KMeans:
		return "kmeans"
	case Ward:
		return "ward"
	case Precomputed:
		return "precomputed"
	}
	return "unknown"
}

// ClusterConfig describes the per-document reduction. Start from
// DefaultClusterConfig.
type ClusterConfig struct {
	// Method is the reduction. Default NoClustering.
	Method Clustering
	// K is the fixed number of clusters per document for KMeans (CRISP's
	// C·x32 and C·x8 settings use 32 and 8). 0 means use Ratio. A document
	// with at most K tokens is stored unchanged. Default 0.
	K int
	// Ratio gives k = max(1, int(n·Ratio)) for KMeans when K is 0 (CRISP's
	// 25% and 50% settings). Default 0.25.
	Ratio float64
	// PoolFactor gives the Ward target of max(1, n/PoolFactor) clusters
	// (2–4 in the token-pooling paper). Default 2.
	PoolFactor int
	// ProtectFirst keeps the first token in a cluster of its own under Ward
	// (it is usually a special token in ColBERT models). Default true.
	ProtectFirst bool
	// DropSingletons removes clusters that hold a single token, unless that
	// would leave the document empty (CRISP's pruning experiment). Default
	// false.
	DropSingletons bool
	// Dedup drops exact duplicate token vectors of a document (bitwise
	// equal after normalization; the first occurrence is kept) before any
	// clustering. MaxSim takes a maximum over the document vectors, so this
	// alone never changes a score. The cluster target (K, Ratio,
	// PoolFactor) is still computed from the original token count, and a
	// document whose distinct vectors fit that target is stored as its
	// distinct vectors. With NoClustering, Dedup alone is applied. Default
	// false.
	Dedup bool
	// DistinctRatio, when Dedup is set and it is positive, replaces the
	// cluster target: a document with u distinct vectors keeps
	// max(1, int(u·DistinctRatio)) clusters under KMeans or Ward. The
	// budget then follows each document's vocabulary, not its length
	// (repeats cost nothing). In (0, 1]; default 0 (off).
	DistinctRatio float64
	// Iterations is the maximum number of Lloyd iterations for KMeans.
	// Default 10.
	Iterations int
	// Seed seeds k-means++; every document uses the same seed, so a
	// document clusters the same way wherever it is built. Default 1.
	Seed uint64
}

// DefaultClusterConfig returns the defaults documented on ClusterConfig.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{Method: NoClustering, Ratio: 0.25, PoolFactor: 2, ProtectFirst: true, Iterations: 10, Seed: 1}
}

// Validate reports whether c can cluster documents.
func (c ClusterConfig) Validate() error {
	switch {
	case c.Method > Precomputed:
		return errorf("unknown clustering %d", c.Method)
	case c.K < 0:
		return errorf("cluster K %d < 0", c.K)
	case c.Method == KMeans && c.K == 0 && !(c.Ratio > 0 && c.Ratio <= 1):
		return errorf("cluster ratio %v outside (0, 1]", c.Ratio)
	case c.Method == Ward && c.PoolFactor < 1:
		return errorf("pool factor %d < 1", c.PoolFactor)
	case c.DistinctRatio < 0 || c.DistinctRatio > 1 || math.IsNaN(c.DistinctRatio):
		return errorf("distinct ratio %v outside [0, 1]", c.DistinctRatio)
	case c.Method == KMeans && c.Iterations < 1:
		return errorf("k-means iterations %d < 1", c.Iterations)
	}
	return nil
}

// Clusters returns the number of clusters c keeps for a document of n tokens.
func (c ClusterConfig) Clusters(n int) int {
	if n == 0 {
		return 0
	}
	var k int
	switch c.Method {
	case KMeans:
		k = c.K
		if k == 0 {
			k = int(float64(n) * c.Ratio)
		}
	case Ward:
		k = n / c.PoolFactor
	default:
		return n
	}
	return min(max(1, k), n)
}

// Cluster reduces the document d (row-major n×dim) as c describes and
// appends the kept vectors to dst. Centroids are the means of their tokens,
// re-normalized to unit length when normalize is set (cosine scoring). The
// result never holds padding: its length is the true cluster count times
// dim. Cluster is deterministic for the same d and c.
func Cluster(dst, d []float32, dim int, c ClusterConfig, normalize bool) []float32 {
	n := len(d) / dim
	k := c.Clusters(n)
	// w holds each distinct row's multiplicity under Dedup (nil: all 1);
	// clustering and centroids weigh rows by it, so a repeated word pulls
	// as hard as its copies would.
	var w []float64
	if c.Dedup && c.Method != Precomputed {
		d, w = uniqueRows(d[:n*dim], dim)
		n = len(d) / dim
		if c.DistinctRatio > 0 && c.Method != NoClustering {
			k = min(max(1, int(float64(n)*c.DistinctRatio)), n)
		}
	}
	if c.Method == NoClustering || c.Method == Precomputed || k >= n {
		return append(dst, d[:n*dim]...)
	}
	var assign []int32
	switch c.Method {
	case KMeans:
		assign = kmeansDoc(d, w, dim, k, c.Iterations, c.Seed)
	case Ward:
		assign = wardDoc(d, w, dim, k, c.ProtectFirst)
	}
	return appendCentroids(dst, d, w, dim, assign, k, c.DropSingletons, normalize)
}

// appendCentroids appends the mean of every non-empty cluster, in cluster
// order, optionally dropping one-row clusters. Rows weigh w[i] (nil: 1).
func appendCentroids(dst, d []float32, w []float64, dim int, assign []int32, k int, dropSingletons, normalize bool) []float32 {
	sums := make([]float32, k*dim)
	counts := make([]int, k)
	weights := make([]float64, k)
	for i, a := range assign {
		counts[a]++
		wi := float32(1)
		if w != nil {
			wi = float32(w[i])
		}
		weights[a] += float64(wi)
		s := sums[int(a)*dim : int(a+1)*dim]
		for j, x := range d[i*dim : (i+1)*dim] {
			s[j] += wi * x
		}
	}
	kept := 0
	for _, n := range counts {
		if n > 1 || (n == 1 && !dropSingletons) {
			kept++
		}
	}
	for c, n := range counts {
		if n == 0 || (n == 1 && dropSingletons && kept > 0) {
			continue
		}
		s := sums[c*dim : (c+1)*dim]
		inv := float32(1 / weights[c])
		for j := range s {
			s[j] *= inv
		}
		if normalize {
			vecmath.Normalize(s)
		}
		dst = append(dst, s...)
	}
	return dst
}

// kmeansDoc clusters the n rows of d into k groups: k-means++ seeding drawn
// from a generator seeded with seed, then up to iters Lloyd rounds on the
// squared L2 distance, centroids weighing row i by w[i] (nil: 1). It
// returns each row's cluster.
func kmeansDoc(d []float32, w []float64, dim, k, iters int, seed uint64) []int32 {
	n := len(d) / dim
	rng := rand.New(rand.NewPCG(seed, 0x6d756c7469766563))
	cent := make([]float32, k*dim)
	dist := make([]float64, n)
	first := rng.IntN(n)
	copy(cent, d[first*dim:(first+1)*dim])
	for i := range dist {
		dist[i] = float64(vecmath.L2Sq(d[i*dim:(i+1)*dim], cent[:dim]))
	}
	for c := 1; c < k; c++ {
		var total float64
		for _, x := range dist {
			total += x
		}
		pick := n - 1
		if total > 0 {
			r := rng.Float64() * total
			for i, x := range dist {
				r -= x
				if r < 0 {
					pick = i
					break
				}
			}
		} else {
			pick = rng.IntN(n)
		}
		cc := cent[c*dim : (c+1)*dim]
		copy(cc, d[pick*dim:(pick+1)*dim])
		for i := range dist {
			dist[i] = math.Min(dist[i], float64(vecmath.L2Sq(d[i*dim:(i+1)*dim], cc)))
		}
	}
	assign := make([]int32, n)
	for i := range assign {
		assign[i] = -1
	}
	counts := make([]int, k)
	mass := make([]float32, k)
	for it := 0; it < iters; it++ {
		changed := false
		for i := 0; i < n; i++ {
			v := d[i*dim : (i+1)*dim]
			best, bd := int32(0), float32(math.MaxFloat32)
			for c := 0; c < k; c++ {
				if x := vecmath.L2Sq(v, cent[c*dim:(c+1)*dim]); x < bd {
					best, bd = int32(c), x
				}
			}
			if assign[i] != best {
				assign[i], changed = best, true
			}
		}
		if !changed {
			break
		}
		clear(cent)
		clear(counts)
		clear(mass)
		for i, a := range assign {
			counts[a]++
			wi := float32(1)
			if w != nil {
				wi = float32(w[i])
			}
			mass[a] += wi
			cc := cent[int(a)*dim : int(a+1)*dim]
			for j, x := range d[i*dim : (i+1)*dim] {
				cc[j] += wi * x
			}
		}
		for c := 0; c < k; c++ {
			cc := cent[c*dim : (c+1)*dim]
			if counts[c] == 0 {
				// Reseed an empty cluster with the row farthest from its
				// centroid, so k clusters stay in use.
				far, fd := 0, float32(-1)
				for i, a := range assign {
					if x := vecmath.L2Sq(d[i*dim:(i+1)*dim], cent[int(a)*dim:int(a+1)*dim]); x > fd && counts[a] > 1 {
						far, fd = i, x
					}
				}
				copy(cc, d[far*dim:(far+1)*dim])
				continue
			}
			inv := 1 / mass[c]
			for j := range cc {
				cc[j] *= inv
			}
		}
	}
	return assign
}

// wardDoc pools the n rows of d into k clusters by agglomerative clustering
// with Ward linkage (merge the pair whose union raises the within-cluster
// sum of squares least). With protectFirst, row 0 stays alone and the other
// rows form k-1 clusters. Row i starts with size w[i] (nil: 1). It returns
// each row's cluster, numbered 0..k-1.
func wardDoc(d []float32, w []float64, dim, k int, protectFirst bool) []int32 {
	n := len(d) / dim
	start := 0
	if protectFirst && n > 1 && k > 1 {
		start, k = 1, k-1
	}
	m := n - start
	assign := make([]int32, n)
	if m <= k {
		for i := range assign {
			assign[i] = int32(i)
		}
		return assign
	}
	// Active clusters: centroid, size, and the cost matrix (upper triangle
	// addressed through idx) with a cached best partner per row.
	cent := make([]float32, m*dim)
	copy(cent, d[start*dim:])
	size := make([]float64, m)
	for i := range size {
		size[i] = 1
		if w != nil {
			size[i] = w[start+i]
		}
	}
	cost := make([]float64, m*m)
	wcost := func(a, b int) float64 {
		return size[a] * size[b] / (size[a] + size[b]) * float64(vecmath.L2Sq(cent[a*dim:(a+1)*dim], cent[b*dim:(b+1)*dim]))
	}
	alive := make([]bool, m)
	nn := make([]int, m)
	nnCost := make([]float64, m)
	for a := 0; a < m; a++ {
		alive[a] = true
		for b := a + 1; b < m; b++ {
			c := wcost(a, b)
			cost[a*m+b], cost[b*m+a] = c, c
		}
	}
	refresh := func(a int) {
		nn[a], nnCost[a] = -1, math.Inf(1)
		for b := 0; b < m; b++ {
			if b != a && alive[b] && cost[a*m+b] < nnCost[a] {
				nn[a], nnCost[a] = b, cost[a*m+b]
			}
		}
	}
	for a := 0; a < m; a++ {
		refresh(a)
	}
	parent := make([]int32, m)
	for i := range parent {
		parent[i] = int32(i)
	}
	for left := m; left > k; left-- {
		a := -1
		for i := 0; i < m; i++ {
			if alive[i] && (a < 0 || nnCost[i] < nnCost[a]) {
				a = i
			}
		}
		b := nn[a]
		if b < a {
			a, b = b, a
		}
		// Merge b into a.
		ca, cb := cent[a*dim:(a+1)*dim], cent[b*dim:(b+1)*dim]
		wa, wb := float32(size[a]/(size[a]+size[b])), float32(size[b]/(size[a]+size[b]))
		for j := range ca {
			ca[j] = wa*ca[j] + wb*cb[j]
		}
		size[a] += size[b]
		alive[b] = false
		parent[b] = int32(a)
		for c := 0; c < m; c++ {
			if alive[c] && c != a {
				x := wcost(a, c)
				cost[a*m+c], cost[c*m+a] = x, x
			}
		}
		refresh(a)
		for c := 0; c < m; c++ {
			if !alive[c] || c == a {
				continue
			}
			if nn[c] == a || nn[c] == b {
				refresh(c)
			} else if cost[c*m+a] < nnCost[c] {
				nn[c], nnCost[c] = a, cost[c*m+a]
			}
		}
	}
	// Resolve roots and number the surviving clusters in order.
	label := make([]int32, m)
	for i := range label {
		label[i] = -1
	}
	next := int32(0)
	if start == 1 {
		assign[0] = 0
		next = 1
	}
	for i := 0; i < m; i++ {
		r := int32(i)
		for parent[r] != r {
			r = parent[r]
		}
		if label[r] < 0 {
			label[r] = next
			next++
		}
		assign[start+i] = label[r]
	}
	return assign
}

// uniqueRows returns the rows of d (n×dim) with bitwise duplicates removed,
// in the order of their first occurrence, and how often each occurs.
func uniqueRows(d []float32, dim int) ([]float32, []float64) {
	n := len(d) / dim
	first := make(map[uint64][]int32, n)
	out := make([]float32, 0, len(d))
	var count []float64
	for i := 0; i < n; i++ {
		row := d[i*dim : (i+1)*dim]
		h := uint64(14695981039346656037)
		for _, x := range row {
			h ^= uint64(math.Float32bits(x))
			h *= 1099511628211
		}
		dup := -1
		for _, j := range first[h] {
			if sameBits(row, out[int(j)*dim:(int(j)+1)*dim]) {
				dup = int(j)
				break
			}
		}
		if dup >= 0 {
			count[dup]++
			continue
		}
		first[h] = append(first[h], int32(len(count)))
		count = append(count, 1)
		out = append(out, row...)
	}
	return out, count
}

// sameBits reports whether a and b hold bitwise identical floats.
func sameBits(a, b []float32) bool {
	for i, x := range a {
		if math.Float32bits(x) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
