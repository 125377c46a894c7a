package kmeans

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/shoal-search/shoal/internal/vecmath"
)

// Metric selects how points are compared with centroids.
type Metric uint8

const (
	// L2 assigns each point to the centroid at the smallest squared Euclidean
	// distance; centroids are means.
	L2 Metric = iota
	// IP assigns each point to the centroid with the largest inner product;
	// centroids are means scaled to unit norm (spherical k-means).
	IP
)

// String returns "l2" or "ip".
func (m Metric) String() string {
	if m == IP {
		return "ip"
	}
	return "l2"
}

// Init selects how the first centroids are chosen.
type Init uint8

const (
	// InitAuto uses k-means++ when the sample is small enough for its
	// O(sample·k·dim) cost (sample·k ≤ 2^24) and sampled rows otherwise.
	InitAuto Init = iota
	// InitPlusPlus is k-means++ seeding (D² sampling) over the training sample.
	InitPlusPlus
	// InitSampled takes k distinct rows of the training sample at random.
	InitSampled
)

// ErrConfig reports an invalid Config or arguments.
var ErrConfig = errors.New("kmeans: invalid config")

// Config holds the knobs of Train. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Seed seeds every random choice, so that the same input and seed give the
	// same centroids. Default 1.
	Seed uint64
	// Iterations is the maximum number of Lloyd iterations; training stops
	// earlier when no assignment changes. Default 20.
	Iterations int
	// SampleSize caps the number of rows used for training (a seeded uniform
	// sample); 0 uses every row. Default 0. Callers usually pass 64·k to 256·k.
	SampleSize int
	// Metric is L2 (default) or IP (spherical k-means).
	Metric Metric
	// Init is InitAuto (default), InitPlusPlus or InitSampled.
	Init Init
	// Workers is the number of goroutines for the assignment step; 0 means
	// GOMAXPROCS. The result does not depend on it. Default 0.
	Workers int
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Seed: 1, Iterations: 20}
}

// Validate reports whether the config can be used.
func (c Config) Validate() error {
	switch {
	case c.Iterations < 0:
		return fmt.Errorf("%w: iterations %d < 0", ErrConfig, c.Iterations)
	case c.SampleSize < 0:
		return fmt.Errorf("%w: sample size %d < 0", ErrConfig, c.SampleSize)
	case c.Metric > IP:
		return fmt.Errorf("%w: unknown metric %d", ErrConfig, c.Metric)
	case c.Init > InitSampled:
		return fmt.Errorf("%w: unknown init %d", ErrConfig, c.Init)
	case c.Workers < 0:
		return fmt.Errorf("%w: workers %d < 0", ErrConfig, c.Workers)
	}
	return nil
}

// chunk is the number of rows each parallel work unit covers. Partial sums
// are reduced in chunk order, which keeps results independent of Workers.
const chunk = 1024

// Train runs Lloyd's k-means over the row-major data (n×dim) and returns k
// centroids, row-major (k×dim). With fewer than k rows, the missing centroids
// repeat existing rows. It is deterministic for the same input and Config.
func Train(data []float32, dim, k int, cfg Config) ([]float32, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dim <= 0 || k <= 0 || len(data)%dim != 0 || len(data) == 0 {
		return nil, fmt.Errorf("%w: dim %d, k %d, %d values", ErrConfig, dim, k, len(data))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6b6d65616e73))
	n := len(data) / dim
	sample := data
	if cfg.SampleSize > 0 && cfg.SampleSize < n {
		idx := rng.Perm(n)[:cfg.SampleSize]
		sample = make([]float32, 0, cfg.SampleSize*dim)
		for _, i := range idx {
			sample = append(sample, data[i*dim:(i+1)*dim]...)
		}
	}
	m := len(sample) / dim
	cent := make([]float32, k*dim)
	if m <= k {
		for c := 0; c < k; c++ {
			copy(cent[c*dim:], sample[(c%m)*dim:(c%m+1)*dim])
		}
		return cent, nil
	}
	init := cfg.Init
	if init == InitAuto {
		init = InitSampled
		if m*k <= 1<<24 {
			init = InitPlusPlus
		}
	}
	if init == InitPlusPlus {
		plusPlus(sample, dim, k, cent, rng)
	} else {
		for c, i := range rng.Perm(m)[:k] {
			copy(cent[c*dim:], sample[i*dim:(i+1)*dim])
		}
	}
	if cfg.Metric == IP {
		normalizeRows(cent, dim)
	}
	assign := make([]int32, m)
	for i := range assign {
		assign[i] = -1
	}
	dist := make([]float32, m)
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sums := make([]float64, k*dim)
	counts := make([]int, k)
	for it := 0; it < cfg.Iterations; it++ {
		changed := assignAll(sample, dim, cent, cfg.Metric, assign, dist, workers)
		if changed == 0 && it > 0 {
			break
		}
		clear(sums)
		clear(counts)
		for i := 0; i < m; i++ {
			c := int(assign[i])
			counts[c]++
			row := sample[i*dim : (i+1)*dim]
			s := sums[c*dim : (c+1)*dim]
			for j, x := range row {
				s[j] += float64(x)
			}
		}
		for c := 0; c < k; c++ {
			if counts[c] == 0 {
				continue
			}
			inv := 1 / float64(counts[c])
			for j := 0; j < dim; j++ {
				cent[c*dim+j] = float32(sums[c*dim+j] * inv)
			}
		}
		// Empty clusters take the row that is currently worst served, which
		// splits the loosest cluster; ties go to the smaller row.
		for c := 0; c < k; c++ {
			if counts[c] != 0 {
				continue
			}
			worst, wd := 0, float32(math.Inf(-1))
			for i, d := range dist {
				if d > wd {
					worst, wd = i, d
				}
			}
			copy(cent[c*dim:(c+1)*dim], sample[worst*dim:(worst+1)*dim])
			dist[worst] = float32(math.Inf(-1))
		}
		if cfg.Metric == IP {
			normalizeRows(cent, dim)
		}
	}
	return cent, nil
}

// plusPlus fills cent with k-means++ seeds drawn from sample.
func plusPlus(sample []float32, dim, k int, cent []float32, rng *rand.Rand) {
	m := len(sample) / dim
	first := rng.IntN(m)
	copy(cent[:dim], sample[first*dim:(first+1)*dim])
	d2 := make([]float64, m)
	for i := range d2 {
		d2[i] = float64(vecmath.L2Sq(sample[i*dim:(i+1)*dim], cent[:dim]))
	}
	for c := 1; c < k; c++ {
		var total float64
		for _, d := range d2 {
			total += d
		}
		pick := 0
		if total > 0 {
			r := rng.Float64() * total
			for i, d := range d2 {
				r -= d
				if r <= 0 {
					pick = i
					break
				}
				pick = i
			}
		} else {
			pick = rng.IntN(m)
		}
		cr := cent[c*dim : (c+1)*dim]
		copy(cr, sample[pick*dim:(pick+1)*dim])
		for i := range d2 {
			if d := float64(vecmath.L2Sq(sample[i*dim:(i+1)*dim], cr)); d < d2[i] {
				d2[i] = d
			}
		}
	}
}

// assignAll assigns every row of data to its nearest centroid in parallel,
// records the distance (for IP, the negated inner product) and returns how
// many assignments changed.
func assignAll(data []float32, dim int, cent []float32, metric Metric, assign []int32, dist []float32, workers int) int {
	n := len(data) / dim
	chunks := (n + chunk - 1) / chunk
	changed := make([]int, chunks)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	norms := centroidNorms(cent, dim)
	for w := 0; w < min(workers, chunks); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				ch := next
				next++
				mu.Unlock()
				if ch >= chunks {
					return
				}
				for i := ch * chunk; i < min(n, (ch+1)*chunk); i++ {
					c, d := nearest(data[i*dim:(i+1)*dim], cent, norms, dim, metric)
					if int32(c) != assign[i] {
						assign[i] = int32(c)
						changed[ch]++
					}
					dist[i] = d
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range changed {
		total += c
	}
	return total
}

func centroidNorms(cent []float32, dim int) []float32 {
	k := len(cent) / dim
	norms := make([]float32, k)
	for c := 0; c < k; c++ {
		r := cent[c*dim : (c+1)*dim]
		norms[c] = vecmath.Dot(r, r)
	}
	return norms
}

// nearest returns the best centroid for v and its distance: ||v-c||² for L2
// (computed as ||c||² - 2v·c + ||v||²) and -v·c for IP.
func nearest(v, cent, norms []float32, dim int, metric Metric) (int, float32) {
	best, bd := 0, float32(math.Inf(1))
	k := len(cent) / dim
	for c := 0; c < k; c++ {
		var dot float32
		if dim <= 16 {
			// Short rows (PQ subspaces): an inlined loop beats a kernel call.
			row := cent[c*dim : (c+1)*dim : (c+1)*dim]
			for i, x := range v {
				dot += x * row[i]
			}
		} else {
			dot = vecmath.Dot(v, cent[c*dim:(c+1)*dim])
		}
		var d float32
		if metric == IP {
			d = -dot
		} else {
			d = norms[c] - 2*dot
		}
		if d < bd {
			best, bd = c, d
		}
	}
	if metric == L2 {
		bd += vecmath.Dot(v, v)
	}
	return best, bd
}

// Nearest returns the index of the centroid nearest to v under metric and its
// distance (squared L2, or the negated inner product for IP).
func Nearest(v, centroids []float32, metric Metric) (int, float32) {
	dim := len(v)
	best, bd := 0, float32(math.Inf(1))
	for c := 0; c+dim <= len(centroids); c += dim {
		var d float32
		if metric == IP {
			d = -vecmath.Dot(v, centroids[c:c+dim])
		} else {
			d = vecmath.L2Sq(v, centroids[c:c+dim])
		}
		if d < bd {
			best, bd = c/dim, d
		}
	}
	return best, bd
}

// Assign returns, for every row of data, the index of its nearest centroid,
// computed in parallel with workers goroutines (0 means GOMAXPROCS). dst is
// reused when it is large enough.
func Assign(data []float32, dim int, centroids []float32, metric Metric, workers int, dst []int32) []int32 {
	n := len(data) / dim
	if cap(dst) < n {
		dst = make([]int32, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = -1
	}
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	assignAll(data, dim, centroids, metric, dst, make([]float32, n), workers)
	return dst
}

// NearestN writes into dst the indices of the nprobe centroids nearest to v
// (best first) and returns it; scratch must hold len(centroids)/dim floats.
func NearestN(v, centroids []float32, metric Metric, nprobe int, scratch []float32, dst []int32) []int32 {
	dim := len(v)
	k := len(centroids) / dim
	nprobe = min(nprobe, k)
	scratch = scratch[:k]
	for c := 0; c < k; c++ {
		if metric == IP {
			scratch[c] = -vecmath.Dot(v, centroids[c*dim:(c+1)*dim])
		} else {
			scratch[c] = vecmath.L2Sq(v, centroids[c*dim:(c+1)*dim])
		}
	}
	dst = dst[:0]
	// Partial selection: keep dst sorted by distance, insertion style; nprobe
	// is small compared with k.
	for c := 0; c < k; c++ {
		d := scratch[c]
		if len(dst) == nprobe && d >= scratch[dst[len(dst)-1]] {
			continue
		}
		if len(dst) < nprobe {
			dst = append(dst, int32(c))
		} else {
			dst[len(dst)-1] = int32(c)
		}
		for j := len(dst) - 1; j > 0 && scratch[dst[j]] < scratch[dst[j-1]]; j-- {
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	return dst
}

func normalizeRows(m []float32, dim int) {
	for i := 0; i+dim <= len(m); i += dim {
		vecmath.Normalize(m[i : i+dim])
	}
}
