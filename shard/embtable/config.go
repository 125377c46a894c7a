package embtable

import (
	"errors"
	"fmt"
	"strings"
)

// Codec selects how each vector is stored in memory.
type Codec uint8

const (
	// F32 stores the vectors unchanged (4·dim bytes); the reference.
	F32 Codec = iota
	// F16 stores IEEE half floats (2·dim bytes).
	F16
	// SQ8 stores one byte per dimension, scaled by a per-dimension min and step.
	SQ8
	// SQ4 stores four bits per dimension, scaled by a per-dimension min and step.
	SQ4
	// PQ stores PQM bytes: the nearest of 256 k-means centroids in each of PQM
	// subspaces; queries score codes through asymmetric distance tables.
	PQ
	// Binary stores the sign bit of each centred dimension and compares by
	// Hamming distance (popcount).
	Binary
	// RaBitQ stores one bit per dimension of the randomly rotated, centred and
	// normalised vector plus two or three floats, and estimates distances with
	// the RaBitQ unbiased estimator and its error bound.
	RaBitQ
	numCodecs
)

var codecNames = [...]string{"f32", "f16", "sq8", "sq4", "pq", "binary", "rabitq"}

// String returns the codec's lower-case name, as ParseCodec accepts it.
func (c Codec) String() string {
	if c < numCodecs {
		return codecNames[c]
	}
	return fmt.Sprintf("codec(%d)", c)
}

// ParseCodec returns the codec named s (f32, f16, sq8, sq4, pq, binary, rabitq).
func ParseCodec(s string) (Codec, error) {
	for i, n := range codecNames {
		if strings.EqualFold(s, n) {
			return Codec(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown codec %q", ErrConfig, s)
}

// Metric is the similarity the table ranks by. Scores are always "higher is
// better": the inner product for IP, the cosine for Cosine and the negated
// squared Euclidean distance for L2.
type Metric uint8

const (
	// L2 ranks by squared Euclidean distance (score = -distance).
	L2 Metric = iota
	// IP ranks by inner product.
	IP
	// Cosine ranks by cosine similarity; vectors and queries are normalised.
	Cosine
	numMetrics
)

var metricNames = [...]string{"l2", "ip", "cosine"}

// String returns "l2", "ip" or "cosine".
func (m Metric) String() string {
	if m < numMetrics {
		return metricNames[m]
	}
	return fmt.Sprintf("metric(%d)", m)
}

// ParseMetric returns the metric named s (l2, ip, cosine; "angular" is an
// alias of cosine).
func ParseMetric(s string) (Metric, error) {
	if strings.EqualFold(s, "angular") {
		return Cosine, nil
	}
	for i, n := range metricNames {
		if strings.EqualFold(s, n) {
			return Metric(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown metric %q", ErrConfig, s)
}

// Precision is the precision of the rescoring copy.
type Precision uint8

const (
	// NoRescore keeps no rescoring copy; Search ranks by codes only.
	NoRescore Precision = iota
	// RescoreF16 keeps a half-precision copy (2·dim bytes per vector).
	RescoreF16
	// RescoreF32 keeps a full-precision copy (4·dim bytes per vector).
	RescoreF32
)

// String returns "none", "f16" or "f32".
func (p Precision) String() string {
	switch p {
	case RescoreF16:
		return "f16"
	case RescoreF32:
		return "f32"
	}
	return "none"
}

// Errors returned by the package.
var (
	// ErrConfig reports an invalid Config or SearchParams.
	ErrConfig = errors.New("embtable: invalid config")
	// ErrInput reports input vectors of the wrong length or with NaN/Inf.
	ErrInput = errors.New("embtable: invalid input vectors")
	// ErrFormat reports a corrupt or unsupported table or rescoring file.
	ErrFormat = errors.New("embtable: bad file format")
	// ErrChecksum reports a table or rescoring file whose bytes do not
	// match the checksum written with them; it comes wrapped with ErrFormat.
	ErrChecksum = errors.New("embtable: checksum mismatch")
	// ErrClosed reports use of a table after Close.
	ErrClosed = errors.New("embtable: table closed")
)

// Config describes how Build stores a table. Start from DefaultConfig.
type Config struct {
	// Codec is the in-memory representation. Default SQ8.
	Codec Codec
	// Metric is the similarity to rank by. Default L2.
	Metric Metric
	// NList is the number of IVF coarse partitions (k-means centroids); 0
	// means a flat scan over all codes. Default 0. Around 1–4·sqrt(n) is
	// usual. IVF adds 4 bytes per vector (the row id of each list entry).
	NList int
	// PQM is the number of PQ subspaces (bytes per vector) for the PQ codec;
	// subspaces split the dimensions as evenly as possible. 0 means dim/4.
	// Default 0. Must be at most dim.
	PQM int
	// TrainSample caps the rows used to train IVF centroids and PQ codebooks
	// (a seeded uniform sample; PQ codebooks use at most 16384 of them).
	// 0 means every row. Default 32768.
	TrainSample int
	// KMeansIters is the number of Lloyd iterations for IVF and PQ. Default 12.
	KMeansIters int
	// Seed seeds sampling, k-means and the RaBitQ rotation; the same data and
	// Config give the same table bit for bit. Default 1.
	Seed uint64
	// Rescore is the precision of the rescoring copy. Default RescoreF32.
	Rescore Precision
	// Workers bounds the goroutines used by Build; 0 means GOMAXPROCS. The
	// result does not depend on it. Default 0.
	Workers int
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Codec:       SQ8,
		Metric:      L2,
		TrainSample: 32768,
		KMeansIters: 12,
		Seed:        1,
		Rescore:     RescoreF32,
	}
}

// Validate reports whether c can build a table.
func (c Config) Validate() error {
	switch {
	case c.Codec >= numCodecs:
		return fmt.Errorf("%w: unknown codec %d", ErrConfig, c.Codec)
	case c.Metric >= numMetrics:
		return fmt.Errorf("%w: unknown metric %d", ErrConfig, c.Metric)
	case c.Rescore > RescoreF32:
		return fmt.Errorf("%w: unknown rescoring precision %d", ErrConfig, c.Rescore)
	case c.NList < 0 || c.NList > 1<<20:
		return fmt.Errorf("%w: nlist %d out of [0, 2^20]", ErrConfig, c.NList)
	case c.PQM < 0:
		return fmt.Errorf("%w: pq m %d < 0", ErrConfig, c.PQM)
	case c.TrainSample < 0:
		return fmt.Errorf("%w: train sample %d < 0", ErrConfig, c.TrainSample)
	case c.KMeansIters < 0:
		return fmt.Errorf("%w: k-means iterations %d < 0", ErrConfig, c.KMeansIters)
	case c.Workers < 0:
		return fmt.Errorf("%w: workers %d < 0", ErrConfig, c.Workers)
	}
	return nil
}

// SearchParams are the per-query knobs of Search.
type SearchParams struct {
	// NProbe is the number of IVF lists scanned; 0 means 16 (capped at NList).
	// Ignored by flat tables.
	NProbe int
	// Oversample multiplies k to give the number of candidates taken from the
	// codes before rescoring; 0 or 1 means k candidates.
	Oversample int
	// Rescore re-scores the candidates from the rescoring copy and returns
	// the best k by exact score. With RaBitQ, candidates are re-scored in
	// order of their upper bound, and rescoring stops once no remaining
	// bound can beat the k-th exact score.
	Rescore bool
}

// DefaultSearchParams returns NProbe 16, Oversample 4, Rescore true.
func DefaultSearchParams() SearchParams {
	return SearchParams{NProbe: 16, Oversample: 4, Rescore: true}
}
