package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/embtable"
	"github.com/shoal-search/shoal/shard/multivec"
)

// multivecOpts are the flags of the multivec subcommand.
type multivecOpts struct {
	data, only, codec, fdeCodec, rerank string
	queries, ksim, dproj, reps          int
	finalDim, synthDocs, synthQueries   int
	workers                             int
	truthCache                          string
	fdePQM, fdeOversample, fdeNList     int
	fdeNProbe, fdeIters                 int
	settings, fdeRescore                string
}

func defaultMultivecOpts() multivecOpts {
	// The FDE settings tuned on SciFact GloVe (docs/benchmarks.md): 6 SimHash
	// bits, d_proj 8, 32 repetitions (16,384 dims), PQ codes with 1,024
	// subspaces, 4× oversampling rescored from an f32 copy.
	return multivecOpts{
		data: filepath.Join("..", "shared", "data", "scifact"), codec: "f32", fdeCodec: "pq",
		rerank: "100,200,259", ksim: 6, dproj: 8, reps: 32, fdePQM: 1024, fdeOversample: 4, fdeIters: 4,
		synthDocs: 100_000, synthQueries: 30, fdeRescore: "f32",
	}
}

// multivecResult is one JSON line.
type multivecResult struct {
	Bench         string         `json:"bench"`
	Dataset       string         `json:"dataset"`
	Index         string         `json:"index"`
	Params        map[string]any `json:"params,omitempty"`
	Docs          int            `json:"docs"`
	Queries       int            `json:"queries"`
	VectorsPerDoc float64        `json:"vectors_per_doc"`
	Reduction     float64        `json:"reduction"`
	NDCG10        *float64       `json:"ndcg10,omitempty"`
	NDCGLoss      *float64       `json:"ndcg_loss,omitempty"`
	Recall        float64        `json:"recall"`
	Candidates    int            `json:"candidates"`
	CandidateFrac float64        `json:"candidate_frac"`
	P50us         float64        `json:"p50_us"`
	MeanUs        float64        `json:"mean_us"`
	CPUP50us      float64        `json:"cpu_p50_us"`
	Speedup       float64        `json:"speedup,omitempty"`
	SpeedupCPU    float64        `json:"speedup_cpu,omitempty"`
	BytesPerDoc   float64        `json:"bytes_per_doc"`
	IndexBytesDoc float64        `json:"index_bytes_per_doc,omitempty"`
	BuildS        float64        `json:"build_s"`
}

// mvCorpus is a loaded corpus with queries and optional judgements. A
// generated corpus has no docs: its n documents come from doc and are
// built with multivec.BuildFunc, so they never exist as float32 all at once.
type mvCorpus struct {
	name    string
	docs    [][]float32
	n       int
	doc     func(i int) []float32
	ids     []string
	queries [][]float32
	qids    []string
	qrels   eval.Qrels
	dim     int
}

// size returns the number of documents.
func (c *mvCorpus) size() int {
	if c.docs == nil {
		return c.n
	}
	return len(c.docs)
}

func (o multivecOpts) has(part string) bool {
	if o.only == "" {
		return part != "synth"
	}
	for _, p := range strings.Split(o.only, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

func runMultivec(out, logw io.Writer, o multivecOpts) error {
	if o.has("kernel") {
		if err := mvKernel(out, logw); err != nil {
			return err
		}
	}
	if o.data != "" && (o.has("full") || o.has("cluster") || o.has("muvera") || o.has("centroid")) {
		c, err := loadSciFactMultivec(o)
		if err != nil {
			return err
		}
		if err := mvRunCorpus(out, logw, o, c); err != nil {
			return err
		}
	}
	if o.has("synth") {
		c, err := mvSynthCorpus(o)
		if err != nil {
			return err
		}
		if err := mvRunCorpus(out, logw, o, c); err != nil {
			return err
		}
	}
	return nil
}

func loadSciFactMultivec(o multivecOpts) (*mvCorpus, error) {
	docs, queries, err := dataset.ReadSciFactMultivec(o.data)
	if err != nil {
		return nil, err
	}
	qrels, err := eval.ReadQrels(filepath.Join(o.data, "qrels.tsv"))
	if err != nil {
		return nil, err
	}
	c := &mvCorpus{name: "scifact-glove", docs: docs.Vectors, ids: docs.IDs, queries: queries.Vectors, qids: queries.IDs, qrels: qrels, dim: docs.Dim}
	if o.queries > 0 && o.queries < len(c.queries) {
		c.queries, c.qids = c.queries[:o.queries], c.qids[:o.queries]
	}
	return c, nil
}

func mvSynthCorpus(o multivecOpts) (*mvCorpus, error) {
	cfg := dataset.DefaultMultivecSynthConfig()
	if o.synthDocs < 1 || o.synthQueries < 1 {
		return nil, fmt.Errorf("synthetic corpus needs --synth-docs and --synth-queries ≥ 1")
	}
	if err := mvSynthMemoryCheck(o, cfg); err != nil {
		return nil, err
	}
	g, err := dataset.NewMultivecSynth(cfg)
	if err != nil {
		return nil, err
	}
	c := &mvCorpus{name: fmt.Sprintf("synthetic-%d", o.synthDocs), dim: cfg.Dim, n: o.synthDocs, doc: g.Doc}
	c.queries = make([][]float32, o.synthQueries)
	for i := range c.queries {
		c.queries[i] = g.Query(i, o.synthDocs)
	}
	return c, nil
}

// mvSynthMemoryLimit bounds the estimated memory of a synthetic run.
const mvSynthMemoryLimit = 6 << 30

// mvSynthMemoryCheck refuses a synthetic run whose stored vectors plus
// float32 FDEs (held at once while BuildFunc builds the FDE table) would
// pass mvSynthMemoryLimit, e.g. the SciFact defaults (f32 storage, 16,384-dim
// FDE) at 100,000 documents.
func mvSynthMemoryCheck(o multivecOpts, cfg dataset.MultivecSynthConfig) error {
	width := map[string]float64{"f32": 4, "f16": 2, "sq8": 1}[o.codec]
	tokens := float64(o.synthDocs) * float64(cfg.MinTokens+cfg.MaxTokens) / 2
	vec := tokens * float64(cfg.Dim) * width
	fde := 0.0
	if o.has("muvera") {
		fde = float64(o.synthDocs) * float64(o.reps<<o.ksim*max(o.dproj, 1)) * 4
	}
	if est := vec + fde; est > mvSynthMemoryLimit {
		return fmt.Errorf("synthetic %d docs: about %.1f GB of vectors (%s) and %.1f GB of float32 FDEs, above %d GB; "+
			"use --codec sq8 and a smaller FDE (e.g. --ksim 4 --dproj 8 --reps 16 --fde-codec sq8 --fde-oversample 0)",
			o.synthDocs, vec/1e9, o.codec, fde/1e9, mvSynthMemoryLimit>>30)
	}
	return nil
}

// mvRun is the outcome of running every query through one search setting.
type mvRun struct {
	results [][]topk.Item
	lat     []time.Duration
	cpu     []time.Duration // CPU time of the searching thread (0 outside Linux)
}

func (r mvRun) cpuP50() float64 {
	if len(r.cpu) == 0 {
		return 0
	}
	l := slices.Clone(r.cpu)
	slices.Sort(l)
	return float64(l[len(l)/2].Nanoseconds()) / 1e3
}

func (r mvRun) p50() float64 {
	l := slices.Clone(r.lat)
	slices.Sort(l)
	return float64(l[len(l)/2].Nanoseconds()) / 1e3
}

func (r mvRun) mean() float64 {
	var s time.Duration
	for _, d := range r.lat {
		s += d
	}
	return float64(s.Nanoseconds()) / 1e3 / float64(len(r.lat))
}

// mvSearchAll runs every query on one locked OS thread, recording wall and
// thread CPU time; progress, when not nil, gets a line every 10 queries.
func mvSearchAll(s *multivec.Store, c *mvCorpus, k int, p multivec.SearchParams, progress io.Writer) mvRun {
	n := len(c.queries)
	r := mvRun{results: make([][]topk.Item, n), lat: make([]time.Duration, n), cpu: make([]time.Duration, n)}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	for i, q := range c.queries {
		t0, c0 := time.Now(), threadCPUNanos()
		r.results[i] = s.Search(q, k, p, nil, nil)
		r.lat[i], r.cpu[i] = time.Since(t0), time.Duration(threadCPUNanos()-c0)
		if progress != nil && (i+1)%10 == 0 {
			fmt.Fprintf(progress, "multivec: %s %d/%d queries, %.0fs\n", p.Candidates, i+1, n, time.Since(start).Seconds())
		}
	}
	return r
}

func (c *mvCorpus) ndcg(r mvRun) *float64 {
	if c.qrels == nil {
		return nil
	}
	runs := make(map[string][]eval.Scored, len(c.qids))
	for i, res := range r.results {
		l := make([]eval.Scored, len(res))
		for j, it := range res {
			l[j] = eval.Scored{ID: c.ids[it.ID], Score: it.Score}
		}
		runs[c.qids[i]] = l
	}
	// Only the queries that ran count when --queries caps them.
	q := eval.Qrels{}
	for _, id := range c.qids {
		if rel, ok := c.qrels[id]; ok {
			q[id] = rel
		}
	}
	v := eval.MeanNDCG(q, runs, 10)
	return &v
}

func mvRecall(got, want mvRun) float64 {
	var s float64
	for i := range got.results {
		g, w := make([]uint32, 0, 10), make([]uint32, 0, 10)
		for _, it := range got.results[i] {
			g = append(g, it.ID)
		}
		for _, it := range want.results[i] {
			w = append(w, it.ID)
		}
		s += eval.Recall(g, w)
	}
	return s / float64(len(got.results))
}

func mvBuild(c *mvCorpus, cfg multivec.Config) (*multivec.Store, float64, error) {
	t0 := time.Now()
	var s *multivec.Store
	var err error
	if c.docs == nil {
		s, err = multivec.BuildFunc(c.n, c.doc, cfg)
	} else {
		s, err = multivec.Build(c.docs, cfg)
	}
	return s, time.Since(t0).Seconds(), err
}

func mvBaseConfig(o multivecOpts, dim int) (multivec.Config, error) {
	cfg := multivec.DefaultConfig()
	cfg.Dim, cfg.Workers = dim, o.workers
	var err error
	if cfg.Codec, err = multivec.ParseCodec(o.codec); err != nil {
		return cfg, err
	}
	cfg.FDEParams.KSim, cfg.FDEParams.DProj, cfg.FDEParams.Reps, cfg.FDEParams.FinalDim = o.ksim, o.dproj, o.reps, o.finalDim
	if cfg.FDETable.Codec, err = embtable.ParseCodec(o.fdeCodec); err != nil {
		return cfg, err
	}
	cfg.FDETable.PQM, cfg.FDETable.NList = o.fdePQM, o.fdeNList
	if o.fdeIters > 0 {
		cfg.FDETable.KMeansIters = o.fdeIters
	}
	if o.fdeOversample > 1 {
		switch o.fdeRescore {
		case "f32":
			cfg.FDETable.Rescore = embtable.RescoreF32
		case "f16":
			cfg.FDETable.Rescore = embtable.RescoreF16
		default:
			return cfg, fmt.Errorf("fde-rescore %q: want f16 or f32", o.fdeRescore)
		}
	}
	return cfg, nil
}

func mvRunCorpus(out, logw io.Writer, o multivecOpts, c *mvCorpus) error {
	const k = 10
	n := c.size()
	base, err := mvBaseConfig(o, c.dim)
	if err != nil {
		return err
	}
	full := base
	full.FDE = o.has("muvera")
	full.CentroidIVF = o.has("centroid") && c.docs != nil
	if o.has("centroid") && c.docs == nil {
		fmt.Fprintf(logw, "multivec: %s: centroid-ivf skipped (its table needs every stored vector as float32)\n", c.name)
	}
	store, buildS, err := mvBuild(c, full)
	if err != nil {
		return err
	}
	tokens := int(store.Tokens())
	fmt.Fprintf(logw, "multivec: %s: %d docs, %d token vectors (%.1f/doc), %d queries, simd=%v; full store built in %.1fs, %.0f MB vectors, %.0f MB index\n",
		c.name, n, tokens, float64(tokens)/float64(n), len(c.queries), multivec.SIMD(), buildS,
		float64(store.VectorBytes())/1e6, float64(store.IndexBytes())/1e6)
	truthKey := fmt.Sprintf("%s codec=%s", c.name, o.codec)
	exact, ok := mvLoadTruth(o.truthCache, truthKey, len(c.queries))
	if !ok {
		exact = mvSearchAll(store, c, k, multivec.SearchParams{Candidates: multivec.Exhaustive}, logw)
		mvSaveTruth(o.truthCache, truthKey, exact)
	}
	fullNDCG := c.ndcg(exact)
	fullP50, fullCPU := exact.p50(), exact.cpuP50()
	line := func(index string, params map[string]any, s *multivec.Store, r mvRun, cands int, buildS float64) error {
		res := multivecResult{Bench: "multivec", Dataset: c.name, Index: index, Params: params, Docs: n, Queries: len(c.queries),
			VectorsPerDoc: float64(s.Vectors()) / float64(n), Reduction: float64(tokens) / float64(s.Vectors()),
			NDCG10: c.ndcg(r), Recall: mvRecall(r, exact), Candidates: cands, CandidateFrac: float64(cands) / float64(n),
			P50us: r.p50(), MeanUs: r.mean(), CPUP50us: r.cpuP50(), BytesPerDoc: float64(s.VectorBytes()) / float64(n),
			IndexBytesDoc: float64(s.IndexBytes()) / float64(n), BuildS: buildS}
		if index != "maxsim-full" {
			res.Speedup = fullP50 / res.P50us
			if fullCPU > 0 && res.CPUP50us > 0 {
				res.SpeedupCPU = fullCPU / res.CPUP50us
			}
		}
		if res.NDCG10 != nil && fullNDCG != nil && *fullNDCG > 0 {
			l := 1 - *res.NDCG10 / *fullNDCG
			res.NDCGLoss = &l
		}
		return emit(out, res)
	}
	if err := line("maxsim-full", map[string]any{"codec": o.codec, "simd": multivec.SIMD()}, store, exact, n, buildS); err != nil {
		return err
	}
	var reranks []int
	for _, s := range strings.Split(o.rerank, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && v > 0 {
			reranks = append(reranks, v)
		}
	}
	if o.has("muvera") {
		fp := full.FDEParams
		for _, rr := range reranks {
			r := mvSearchAll(store, c, k, multivec.SearchParams{Candidates: multivec.ByFDE, Rerank: rr, Oversample: o.fdeOversample, NProbe: o.fdeNProbe}, nil)
			params := map[string]any{"k_sim": fp.KSim, "d_proj": fp.DProj, "reps": fp.Reps, "final_dim": fp.FinalDim,
				"fde_dim": store.Config().FDEParams.Reps * (1 << fp.KSim) * max(fp.DProj, 0), "fde_codec": o.fdeCodec,
				"fde_pqm": o.fdePQM, "fde_oversample": o.fdeOversample, "fde_nlist": o.fdeNList, "fde_nprobe": o.fdeNProbe,
				"codec": o.codec}
			if o.fdeOversample > 1 {
				params["fde_rescore"] = o.fdeRescore
			}
			if err := line("muvera", params, store, r, rr, buildS); err != nil {
				return err
			}
		}
	}
	if o.has("centroid") && store.HasCentroidIVF() {
		for _, rr := range reranks {
			for _, nprobe := range []int{32} {
				r := mvSearchAll(store, c, k, multivec.SearchParams{Candidates: multivec.ByCentroids, Rerank: rr, NProbe: nprobe}, nil)
				params := map[string]any{"nprobe": nprobe, "per_query_vector": 2 * rr, "clustering": "none"}
				if err := line("centroid-ivf", params, store, r, rr, buildS); err != nil {
					return err
				}
			}
		}
	}
	store = nil
	if o.has("cluster") {
		type setting struct {
			name string
			cc   multivec.ClusterConfig
		}
		d := multivec.DefaultClusterConfig()
		km := func(k int, ratio float64, drop bool) multivec.ClusterConfig {
			c := d
			c.Method, c.K, c.Ratio, c.DropSingletons = multivec.KMeans, k, ratio, drop
			return c
		}
		wd := func(p int) multivec.ClusterConfig {
			c := d
			c.Method, c.PoolFactor = multivec.Ward, p
			return c
		}
		dd := func(c multivec.ClusterConfig) multivec.ClusterConfig {
			c.Dedup = true
			return c
		}
		dr := func(c multivec.ClusterConfig, r float64) multivec.ClusterConfig {
			c.Dedup, c.DistinctRatio = true, r
			return c
		}
		settings := []setting{
			{"crisp-r50", km(0, 0.5, false)}, {"crisp-r33", km(0, 0.33, false)}, {"crisp-r25", km(0, 0.25, false)},
			{"crisp-r25-drop1", km(0, 0.25, true)},
			{"crisp-k32", km(32, 0, false)}, {"crisp-k8", km(8, 0, false)},
			{"crisp-k8-drop1", km(8, 0, true)}, {"crisp-k4", km(4, 0, false)},
			{"ward-p2", wd(2)}, {"ward-p3", wd(3)}, {"ward-p4", wd(4)}, {"ward-p8", wd(8)},
			{"dedup", dd(d)}, {"ward-p3-dedup", dd(wd(3))}, {"ward-p4-dedup", dd(wd(4))}, {"ward-p8-dedup", dd(wd(8))},
			{"crisp-r33-dedup", dd(km(0, 0.33, false))}, {"crisp-k32-dedup", dd(km(32, 0, false))},
			{"ward-d60", dr(wd(2), 0.60)}, {"ward-d55", dr(wd(2), 0.55)}, {"ward-d50", dr(wd(2), 0.50)},
			{"ward-d25", dr(wd(2), 0.25)}, {"ward-d22", dr(wd(2), 0.22)}, {"ward-d20", dr(wd(2), 0.20)},
		}
		for _, st := range settings {
			if o.settings != "" && !slices.Contains(strings.Split(o.settings, ","), st.name) {
				continue
			}
			cfg := base
			cfg.FDE, cfg.Cluster = false, st.cc
			s, bs, err := mvBuild(c, cfg)
			if err != nil {
				return err
			}
			r := mvSearchAll(s, c, k, multivec.SearchParams{Candidates: multivec.Exhaustive}, nil)
			params := map[string]any{"method": st.cc.Method.String(), "k": st.cc.K, "ratio": st.cc.Ratio,
				"pool_factor": st.cc.PoolFactor, "drop_singletons": st.cc.DropSingletons, "dedup": st.cc.Dedup, "distinct_ratio": st.cc.DistinctRatio}
			if err := line(st.name, params, s, r, n, bs); err != nil {
				return err
			}
		}
	}
	return nil
}

// mvKernel measures the MaxSim kernel at 32 query × 80 document vectors,
// d = 128, on one goroutine.
func mvKernel(out, logw io.Writer) error {
	const dim, nq, nd, docs = 128, 32, 80, 256
	q := make([]float32, nq*dim)
	d := make([]float32, nd*dim*docs)
	x := uint64(1)
	rnd := func() float32 {
		x = x*6364136223846793005 + 1442695040888963407
		return float32(int32(x>>32)) / math.MaxInt32
	}
	for i := range q {
		q[i] = rnd()
	}
	for i := range d {
		d[i] = rnd()
	}
	maxes := make([]float32, nq)
	var sink float32
	// run returns documents per second of wall time and of thread CPU time
	// (0 outside Linux) over about one second.
	run := func() [2]float64 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0, c0 := time.Now(), threadCPUNanos()
		iters := 0
		for time.Since(t0) < time.Second {
			for j := 0; j < docs; j++ {
				sink += multivec.MaxSim(q, d[j*nd*dim:(j+1)*nd*dim], dim, maxes)
			}
			iters += docs
		}
		wall, cpu := time.Since(t0).Seconds(), float64(threadCPUNanos()-c0)/1e9
		r := [2]float64{float64(iters) / wall, 0}
		if cpu > 0 {
			r[1] = float64(iters) / cpu
		}
		return r
	}
	simd := run()
	pure := multivec.WithPureGo(run)
	_ = sink
	return emit(out, map[string]any{"bench": "multivec", "index": "maxsim-kernel", "dim": dim, "query_vectors": nq, "doc_vectors": nd,
		"docs_per_s_simd": simd[0], "docs_per_s_purego": pure[0], "cpu_docs_per_s_simd": simd[1], "cpu_docs_per_s_purego": pure[1],
		"simd": multivec.SIMD(), "pairs_per_s_simd": simd[0] * nq * nd, "pairs_per_s_purego": pure[0] * nq * nd})
}

// mvTruth is the cached exhaustive run of a corpus (for parameter sweeps).
type mvTruth struct {
	Name    string        `json:"name"`
	Queries int           `json:"queries"`
	Results [][]topk.Item `json:"results"`
	LatNs   []int64       `json:"lat_ns"`
	CPUNs   []int64       `json:"cpu_ns,omitempty"`
}

func mvLoadTruth(path, key string, queries int) (mvRun, bool) {
	if path == "" {
		return mvRun{}, false
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return mvRun{}, false
	}
	var t mvTruth
	if json.Unmarshal(raw, &t) != nil || t.Name != key || t.Queries != queries {
		return mvRun{}, false
	}
	r := mvRun{results: t.Results, lat: make([]time.Duration, len(t.LatNs))}
	for i, ns := range t.LatNs {
		r.lat[i] = time.Duration(ns)
	}
	for _, ns := range t.CPUNs {
		r.cpu = append(r.cpu, time.Duration(ns))
	}
	return r, true
}

func mvSaveTruth(path, key string, r mvRun) {
	if path == "" {
		return
	}
	t := mvTruth{Name: key, Queries: len(r.results), Results: r.results}
	for _, l := range r.lat {
		t.LatNs = append(t.LatNs, l.Nanoseconds())
	}
	for _, l := range r.cpu {
		t.CPUNs = append(t.CPUNs, l.Nanoseconds())
	}
	if raw, err := json.Marshal(t); err == nil {
		_ = os.WriteFile(path, raw, 0o644)
	}
}
