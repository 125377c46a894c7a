package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/embtable"
)

// denseOpts are the flags of the dense subcommand.
type denseOpts struct {
	data, set, only, tmp string
	n, dim, queries, k   int
	seed                 uint64
	quick                bool
}

func defaultDenseOpts() denseOpts {
	return denseOpts{n: 1_000_000, dim: 128, k: 10, seed: 1}
}

// denseSet is a loaded base/query set.
type denseSet struct {
	name          string
	base, queries []float32
	dim           int
	metric        embtable.Metric
	gt            []int32 // published ground truth, gtDim per query, or nil
	gtDim         int
}

// denseSpec is one table configuration with the search settings to try.
type denseSpec struct {
	codec   embtable.Codec
	nlist   int
	pqm     int
	rescore embtable.Precision
	params  []embtable.SearchParams
}

func (s denseSpec) name() string {
	layout := "flat"
	if s.nlist > 0 {
		layout = "ivf"
	}
	return layout + "-" + s.codec.String()
}

// denseResult is one JSON line.
type denseResult struct {
	Bench          string         `json:"bench"`
	Dataset        string         `json:"dataset"`
	Index          string         `json:"index"`
	Params         map[string]any `json:"params"`
	N              int            `json:"n"`
	Dim            int            `json:"dim"`
	Queries        int            `json:"queries"`
	BytesPerVector float64        `json:"bytes_per_vector"`
	Compression    float64        `json:"compression"`
	Recall         float64        `json:"recall"`
	P50us          float64        `json:"p50_us"`
	P99us          float64        `json:"p99_us"`
	QPS            float64        `json:"qps"`
	BuildS         float64        `json:"build_s"`
	SpeedupP50     float64        `json:"speedup_p50"`
	GTAgreement    *float64       `json:"gt_agreement,omitempty"`
}

func runDense(ctx context.Context, out, logw io.Writer, o denseOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	set, err := loadDenseSet(o)
	if err != nil {
		return err
	}
	nq := len(set.queries) / set.dim
	n := len(set.base) / set.dim
	fmt.Fprintf(logw, "dense: %s, %d × %d (%s), %d queries\n", set.name, n, set.dim, set.metric, nq)
	tmp := o.tmp
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "shoalbench-dense-"); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	}
	only := map[string]bool{}
	for _, s := range strings.Split(o.only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			only[s] = true
		}
	}

	// The exact reference: flat f32, which also gives the true top-k.
	exact, buildS, err := buildDense(set, denseSpec{codec: embtable.F32}, o.seed, tmp)
	if err != nil {
		return err
	}
	truth := make([][]uint32, nq)
	lat := make([]time.Duration, nq)
	var res []topk.Item
	start := time.Now()
	for i := 0; i < nq; i++ {
		t0 := time.Now()
		res = exact.Search(set.queries[i*set.dim:(i+1)*set.dim], o.k, embtable.SearchParams{}, nil, res[:0])
		lat[i] = time.Since(t0)
		truth[i] = itemIDs(res)
	}
	base := summarize(lat, time.Since(start))
	r := denseResult{Bench: "dense", Dataset: set.name, Index: "flat-f32", Params: map[string]any{"codec": "f32", "metric": set.metric.String()},
		N: n, Dim: set.dim, Queries: nq, BytesPerVector: exact.BytesPerVector(), Compression: exact.Compression(), Recall: 1,
		P50us: base.p50, P99us: base.p99, QPS: base.qps, BuildS: buildS, SpeedupP50: 1}
	if set.gt != nil {
		var agree float64
		for i := 0; i < nq; i++ {
			want := make([]uint32, 0, o.k)
			for _, id := range set.gt[i*set.gtDim : i*set.gtDim+min(o.k, set.gtDim)] {
				want = append(want, uint32(id))
			}
			agree += eval.Recall(truth[i], want)
		}
		agree /= float64(nq)
		r.GTAgreement = &agree
	}
	if len(only) == 0 || only["flat-f32"] {
		if err := emit(out, r); err != nil {
			return err
		}
	}
	_ = exact.Close()

	for _, spec := range denseSpecs(set, n, o.quick) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(only) > 0 && !only[spec.name()] {
			continue
		}
		tab, buildS, err := buildDense(set, spec, o.seed, tmp)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.name(), err)
		}
		for _, p := range spec.params {
			var recall float64
			start := time.Now()
			for i := 0; i < nq; i++ {
				t0 := time.Now()
				res = tab.Search(set.queries[i*set.dim:(i+1)*set.dim], o.k, p, nil, res[:0])
				lat[i] = time.Since(t0)
				recall += eval.Recall(itemIDs(res), truth[i])
			}
			st := summarize(lat, time.Since(start))
			params := map[string]any{"codec": spec.codec.String(), "metric": set.metric.String(),
				"rescore": p.Rescore, "oversample": max(1, p.Oversample)}
			if p.Rescore {
				params["rescore_precision"] = tab.RescorePrecision().String()
			}
			if spec.nlist > 0 {
				params["nlist"], params["nprobe"] = spec.nlist, min(p.NProbe, spec.nlist)
			}
			if spec.pqm > 0 {
				params["pq_m"] = spec.pqm
			}
			if err := emit(out, denseResult{Bench: "dense", Dataset: set.name, Index: spec.name(), Params: params,
				N: n, Dim: set.dim, Queries: nq, BytesPerVector: tab.BytesPerVector(), Compression: tab.Compression(),
				Recall: recall / float64(nq), P50us: st.p50, P99us: st.p99, QPS: st.qps, BuildS: buildS,
				SpeedupP50: base.p50 / st.p50}); err != nil {
				return err
			}
		}
		if err := tab.Close(); err != nil {
			return err
		}
	}
	return nil
}

// buildDense builds a table, saves it and opens it again, so that the
// rescoring copy is mapped from disk as it would be in a shard.
func buildDense(set *denseSet, spec denseSpec, seed uint64, tmp string) (*embtable.Table, float64, error) {
	cfg := embtable.DefaultConfig()
	cfg.Codec, cfg.Metric, cfg.NList, cfg.PQM, cfg.Seed = spec.codec, set.metric, spec.nlist, spec.pqm, seed
	cfg.Rescore = spec.rescore
	t0 := time.Now()
	tab, err := embtable.Build(set.base, set.dim, cfg)
	if err != nil {
		return nil, 0, err
	}
	buildS := time.Since(t0).Seconds()
	path := filepath.Join(tmp, spec.name()+".emb")
	if err := tab.Save(path); err != nil {
		return nil, 0, err
	}
	tab = nil
	opened, err := embtable.Open(path)
	if err != nil {
		return nil, 0, err
	}
	return opened, buildS, nil
}

type latStats struct{ p50, p99, qps float64 }

func summarize(lat []time.Duration, total time.Duration) latStats {
	s := slices.Clone(lat)
	slices.Sort(s)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return latStats{
		p50: us(s[len(s)/2]),
		p99: us(s[min(len(s)-1, len(s)*99/100)]),
		qps: float64(len(s)) / total.Seconds(),
	}
}

func itemIDs(items []topk.Item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// loadDenseSet reads the set named by the options, or generates the
// synthetic one.
func loadDenseSet(o denseOpts) (*denseSet, error) {
	nq := o.queries
	if o.data == "" {
		if nq == 0 {
			nq = 200
		}
		cfg := dataset.DefaultDenseSynthConfig()
		cfg.Dim, cfg.Seed = o.dim, o.seed
		base, err := dataset.SyntheticDense(o.n, cfg, 0)
		if err != nil {
			return nil, err
		}
		qs, err := dataset.SyntheticDense(nq, cfg, 1)
		if err != nil {
			return nil, err
		}
		return &denseSet{name: fmt.Sprintf("synthetic-%dx%d", o.n, o.dim), base: base, queries: qs, dim: o.dim, metric: embtable.L2}, nil
	}
	if nq == 0 {
		nq = 1000
	}
	name := o.set
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(o.data, p)); return err == nil }
	if name == "" {
		switch {
		case exists("glove100k_base.fvecs"):
			name = "glove"
		case exists("bigann10k_base.bvecs"):
			name = "bigann10k"
		case exists("fmnist1k_base.fvecs"):
			name = "fmnist1k"
		default:
			return nil, fmt.Errorf("dense: no known set in %s", o.data)
		}
	}
	s := &denseSet{name: name}
	var err error
	var gtFile string
	switch name {
	case "glove":
		s.name, s.metric = "glove-100", embtable.Cosine
		if s.base, s.dim, err = dataset.ReadFvecs(filepath.Join(o.data, "glove100k_base.fvecs")); err != nil {
			return nil, err
		}
		if s.queries, _, err = dataset.ReadFvecs(filepath.Join(o.data, "glove1k_query.fvecs")); err != nil {
			return nil, err
		}
		gtFile = "glove1k_groundtruth.ivecs"
	case "bigann10k":
		s.metric = embtable.L2
		b, dim, err := dataset.ReadBvecs(filepath.Join(o.data, "bigann10k_base.bvecs"))
		if err != nil {
			return nil, err
		}
		q, _, err := dataset.ReadBvecs(filepath.Join(o.data, "bigann10k_query.bvecs"))
		if err != nil {
			return nil, err
		}
		s.base, s.queries, s.dim = dataset.BytesToFloat32(b), dataset.BytesToFloat32(q), dim
		gtFile = "bigann10k_groundtruth.ivecs"
	case "fmnist1k":
		s.metric = embtable.L2
		if s.base, s.dim, err = dataset.ReadFvecs(filepath.Join(o.data, "fmnist1k_base.fvecs")); err != nil {
			return nil, err
		}
		if s.queries, _, err = dataset.ReadFvecs(filepath.Join(o.data, "fmnist1k_query.fvecs")); err != nil {
			return nil, err
		}
		gtFile = "fmnist1k_groundtruth.ivecs"
	default:
		return nil, fmt.Errorf("dense: unknown set %q", name)
	}
	if s.dim == 0 {
		return nil, fmt.Errorf("dense: empty set %s", name)
	}
	if q := len(s.queries) / s.dim; nq > q {
		nq = q
	}
	s.queries = s.queries[:nq*s.dim]
	if gt, gdim, err := dataset.ReadIvecs(filepath.Join(o.data, gtFile)); err == nil && gdim > 0 && len(gt)/gdim >= nq {
		s.gt, s.gtDim = gt, gdim
	}
	return s, nil
}

// denseSpecs returns the configurations to run for a set of n vectors.
func denseSpecs(set *denseSet, n int, quick bool) []denseSpec {
	d := set.dim
	nlist := 256
	if n >= 500_000 {
		nlist = 1024
	}
	if n < 20_000 {
		nlist = 32
	}
	os := func(nprobe int, oversample ...int) []embtable.SearchParams {
		var ps []embtable.SearchParams
		for _, o := range oversample {
			ps = append(ps, embtable.SearchParams{NProbe: nprobe, Oversample: o, Rescore: true})
		}
		return ps
	}
	probes := func(nprobes []int, oversample ...int) []embtable.SearchParams {
		var ps []embtable.SearchParams
		for _, np := range nprobes {
			ps = append(ps, os(np, oversample...)...)
		}
		return ps
	}
	// PQ sizes for ≥16× and ≥32× of the resident bytes: the largest m whose
	// codes, plus codebooks (1 KiB per dimension) and, for IVF, the 4-byte
	// row id and the centroids, fit in 4·dim/16 and 4·dim/32 bytes.
	pqM := func(ratio float64, ivf bool) int {
		budget := 4*float64(d)/ratio - 1024*float64(d)/float64(n)
		if ivf {
			budget -= 4 + 4*float64(nlist*d+nlist+1)/float64(n)
		}
		return max(1, min(d, int(budget-1e-9)))
	}
	m16, m32 := pqM(16, false), pqM(32, false)
	mIVF16, mIVF32 := pqM(16, true), pqM(32, true)
	specs := []denseSpec{
		{codec: embtable.F16, params: []embtable.SearchParams{{}}},
		{codec: embtable.SQ8, rescore: embtable.RescoreF32, params: []embtable.SearchParams{{}, {Oversample: 2, Rescore: true}}},
		{codec: embtable.SQ4, rescore: embtable.RescoreF32, params: []embtable.SearchParams{{}, {Oversample: 4, Rescore: true}}},
		{codec: embtable.PQ, pqm: m16, rescore: embtable.RescoreF32, params: os(0, 1, 10, 20, 50)},
		{codec: embtable.PQ, pqm: m32, rescore: embtable.RescoreF32, params: os(0, 10, 20, 50, 100)},
		{codec: embtable.Binary, rescore: embtable.RescoreF32, params: os(0, 10, 50, 100)},
		{codec: embtable.RaBitQ, rescore: embtable.RescoreF32, params: os(0, 1, 10, 20, 50)},
		{codec: embtable.PQ, nlist: nlist, pqm: mIVF16, rescore: embtable.RescoreF32, params: probes([]int{8, 16, 32, 64}, 10, 20, 50)},
		{codec: embtable.PQ, nlist: nlist, pqm: mIVF32, rescore: embtable.RescoreF32, params: probes([]int{16, 32, 64}, 20, 50)},
		{codec: embtable.RaBitQ, nlist: nlist, rescore: embtable.RescoreF32, params: probes([]int{8, 16, 32, 64}, 10, 20)},
		{codec: embtable.SQ8, nlist: nlist, rescore: embtable.RescoreF32, params: probes([]int{8, 16, 32}, 2)},
	}
	if quick {
		specs = []denseSpec{specs[3], specs[4], specs[7], specs[9]}
	}
	return specs
}
