package main

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/seismic"
)

// sparseFlags are the options of `shoalbench sparse`.
type sparseFlags struct {
	data, queries, qrels string
	docs, nq, k, scanNQ  int
	queryCuts, heapFacts string
	firstOrder           bool
	knn                  int
	knnQC, knnBlocks     int
	knnHF                float64
	nPostings            int
	autoKeep, beta       float64
	alpha                float64
	values               string
	threads              int
	seed                 uint64
	stats                bool
	interleave           bool
	indexCache           string
	rounds               int
	cpuProfile           string
	synth                string
	seismic              bool
	blockSize            int
	suite                bool
	suiteSize            int
	suiteFilter          string
	scifact              string
}

// newSparseCmd returns the `sparse` subcommand: Seismic against the exact
// baselines, on real JSONL/CSR data or synthetic SPLADE-like data.
func newSparseCmd() *cobra.Command {
	var f sparseFlags
	cmd := &cobra.Command{
		Use:   "sparse",
		Short: "Seismic learned-sparse index vs exact-taat and exact-scan; one JSON line per configuration",
		Long: `Builds the exact term-at-a-time baseline, the forward-index scan and a Seismic
index, then sweeps query_cut x heap_factor (without and with kNN expansion
when the index has a graph). Recall is against the exact top-k. Latency is
single-threaded per query, on one pinned CPU, the median of --rounds passes
over the query set: p50_us/p99_us are wall clock, cpu_p50_us/cpu_p99_us the
thread's CPU time (stable on a shared machine), and QPS uses --threads
goroutines.
Without --data the documents are synthetic (SPLADE-like, --docs of them).
With --suite it runs every distribution of the sparse suite and SciFact BM25.
Besides the sweep, every data set gets a "seismic-default" line: the index a
new collection gets and a query without knobs, timed the same way.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runSparse(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "documents: JSONL {id,indices,values} (.gz ok) or BigANN sparse CSR (.csr/.bin); default synthetic")
	fl.StringVar(&f.queries, "queries", "", "queries (same formats); default synthetic, or required with --data")
	fl.StringVar(&f.qrels, "qrels", "", "BEIR qrels TSV; adds ndcg10 to every line")
	fl.IntVar(&f.docs, "docs", 100000, "synthetic documents")
	fl.IntVar(&f.nq, "nq", 500, "queries to run (first nq of the query file, or synthetic)")
	fl.IntVar(&f.k, "k", 10, "results per query")
	fl.IntVar(&f.scanNQ, "scan-nq", 50, "queries for the slow exact-scan baseline")
	fl.StringVar(&f.queryCuts, "query-cut", "3,4,5,6,7,8,10,15,20", "comma-separated query_cut values to sweep")
	fl.StringVar(&f.heapFacts, "heap-factor", "0.6,0.8,0.9,1.0,1.1,1.2", "comma-separated heap_factor values to sweep")
	fl.BoolVar(&f.firstOrder, "first-list-order", true, "visit first-list blocks by summary score")
	fl.IntVar(&f.knn, "knn", seismic.DefaultConfig().KNN, "Config.KNN, the kNN graph size κ (0 = no graph); with a graph the sweep runs without and with kNN expansion")
	fl.IntVar(&f.knnBlocks, "knn-blocks", seismic.DefaultConfig().KNNBlocks, "Config.KNNBlocks: build the kNN graph from the blocks of this many of a document's heaviest lists (0 = by searching, with --knn-query-cut/--knn-heap-factor)")
	fl.IntVar(&f.knnQC, "knn-query-cut", seismic.DefaultConfig().KNNParams.QueryCut, "Config.KNNParams.QueryCut: query_cut of the searches that build the kNN graph")
	fl.Float64Var(&f.knnHF, "knn-heap-factor", float64(seismic.DefaultConfig().KNNParams.HeapFactor), "Config.KNNParams.HeapFactor")
	fl.IntVar(&f.nPostings, "n-postings", 0, "Config.NPostings (0 = auto)")
	fl.Float64Var(&f.autoKeep, "auto-keep", seismic.DefaultConfig().AutoKeep, "Config.AutoKeep")
	fl.Float64Var(&f.beta, "beta", seismic.DefaultConfig().Beta, "Config.Beta")
	fl.Float64Var(&f.alpha, "alpha", seismic.DefaultConfig().Alpha, "Config.Alpha")
	fl.StringVar(&f.values, "values", "f16", "forward index values: f16 (Config default) or f32")
	fl.IntVar(&f.threads, "threads", runtime.GOMAXPROCS(0), "goroutines for the QPS pass")
	fl.Uint64Var(&f.seed, "seed", 1, "synthetic data seed")
	fl.BoolVar(&f.stats, "stats", true, "print a sparse-data line with collection statistics")
	fl.StringVar(&f.indexCache, "index-cache", "", "load the Seismic index from this file when it exists (build_s is then the load time), else build it and write it there; the file does not record the data or config flags, so a cache is only valid for the same ones")
	fl.IntVar(&f.rounds, "rounds", 5, "single-threaded latency rounds over the query set; a query's latency is its median over them")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the Seismic sweep to this file")
	fl.StringVar(&f.synth, "synth", "splade", "synthetic data without --data: splade (SPLADE-like) or bm25 (flat BM25-like, dataset.GenerateFlatSparse)")
	fl.BoolVar(&f.seismic, "seismic", true, "build and sweep Seismic (false: only the exact lines)")
	fl.IntVar(&f.blockSize, "block-size", blockmax.DefaultConfig().BlockSize, "exact-blockmax postings per block")
	fl.BoolVar(&f.suite, "suite", false, "run every distribution of dataset.SparseSuite() (--suite-size documents, --nq queries, --seed) and SciFact BM25 (--scifact, with its qrels) instead of one data set; every line carries \"dataset\"")
	fl.IntVar(&f.suiteSize, "suite-size", 200000, "documents per suite distribution")
	fl.StringVar(&f.suiteFilter, "suite-filter", "", "regular expression: run only the suite data sets whose names match (scifact-bm25 included)")
	fl.StringVar(&f.scifact, "scifact", "../shared/data/scifact", "SciFact folder for --suite (sparse-bm25/docs.jsonl.gz, sparse-bm25/queries.jsonl, qrels.tsv); skipped when absent or empty")
	fl.BoolVar(&f.interleave, "interleave", false, "also time exact-taat right before every Seismic query (the *_interleaved fields); exact-taat then flushes the caches Seismic relies on, so this is a pessimistic, load-robust figure")
	return cmd
}

func parseList[T int | float64](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("bad list value %q: %w", p, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func readSparse(path string) (*dataset.Sparse, error) {
	if strings.HasSuffix(path, ".csr") || strings.HasSuffix(path, ".bin") {
		return dataset.ReadSparseCSR(path)
	}
	return dataset.ReadSparseJSONL(path)
}

func runSparse(cmd *cobra.Command, f sparseFlags) error {
	out := cmd.OutOrStdout()
	qcs, err := parseList(f.queryCuts, strconv.Atoi)
	if err != nil {
		return err
	}
	hfs, err := parseList(f.heapFacts, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	if err != nil {
		return err
	}
	if f.suite {
		return runSparseSuite(out, f, qcs, hfs)
	}
	ds := sparseDataset{name: "synthetic", source: "synthetic"}
	if f.data != "" {
		if f.queries == "" {
			return fmt.Errorf("--queries is required with --data")
		}
		ds.name, ds.source = f.data, f.data
		if ds.docs, err = readSparse(f.data); err != nil {
			return err
		}
		if ds.queries, err = readSparse(f.queries); err != nil {
			return err
		}
	} else {
		t0 := time.Now()
		switch f.synth {
		case "splade":
			c := dataset.DefaultSparseSynthConfig()
			c.Docs, c.Queries, c.Seed = f.docs, f.nq, f.seed
			ds.docs, ds.queries, err = dataset.GenerateSparse(c)
		case "bm25":
			ds.name, ds.source = "synthetic-bm25", "synthetic-bm25"
			c := dataset.DefaultFlatSparseConfig()
			c.Docs, c.Queries, c.Seed = f.docs, f.nq, f.seed
			ds.docs, ds.queries, err = dataset.GenerateFlatSparse(c)
		default:
			err = fmt.Errorf("--synth %q: want splade or bm25", f.synth)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "generated %d docs, %d queries in %v\n", ds.docs.Len(), ds.queries.Len(), time.Since(t0).Round(time.Millisecond))
	}
	if f.qrels != "" {
		if ds.qrels, err = eval.ReadQrels(f.qrels); err != nil {
			return err
		}
	}
	return runSparseOn(out, f, ds, qcs, hfs)
}

// sparseDataset is one data set of a run: documents, queries and, when
// there are judgements, qrels.
type sparseDataset struct {
	name, source  string
	docs, queries *dataset.Sparse
	qrels         eval.Qrels
}

// runSparseOn runs the baselines, the default index and the sweep on one
// data set.
func runSparseOn(out io.Writer, f sparseFlags, ds sparseDataset, qcs []int, hfs []float64) error {
	docs, queries, qrels, source := ds.docs, ds.queries, ds.qrels, ds.source
	nq := min(f.nq, queries.Len())
	qv := make([]seismic.Vector, nq)
	for i := range qv {
		ti, tv := queries.Row(i)
		qv[i] = seismic.Vector{Indices: ti, Values: tv}
	}
	if f.stats {
		if err := emit(out, map[string]any{"bench": "sparse-data", "dataset": ds.name, "source": source,
			"docs": dataset.ComputeSparseStats(docs), "queries": dataset.ComputeSparseStats(queries)}); err != nil {
			return err
		}
	}
	fwd := seismic.Forward{Offsets: docs.Offsets, Indices: docs.Indices, Values: docs.Values, Dim: docs.Dim}
	base := map[string]any{"bench": "sparse", "dataset": ds.name, "docs": docs.Len(), "queries": nq, "k": f.k, "threads": 1}
	line := func(index string, params map[string]any, r sparseRun, buildS float64, bytes int64, gt [][]topk.Item) error {
		m := map[string]any{"index": index, "params": params, "recall": r.recall(gt, f.k),
			"p50_us": r.pct(50), "p99_us": r.pct(99),
			"cpu_p50_us": r.cpuPct(50), "cpu_p99_us": r.cpuPct(99), "qps": r.qps, "build_s": buildS, "index_bytes": bytes}
		for k, v := range base {
			m[k] = v
		}
		if qrels != nil {
			m["ndcg10"] = r.ndcg(qrels, queries, docs)
		}
		if r.scored > 0 {
			m["docs_scored"] = r.scored
		}
		if r.nq != nq {
			m["queries"] = r.nq
		}
		return emit(out, m)
	}

	// exact-taat: ground truth and the speed to beat.
	t0 := time.Now()
	ex, err := seismic.NewExact(fwd)
	if err != nil {
		return err
	}
	exBuild := time.Since(t0).Seconds()
	taat := measure(qv, f.threads, f.rounds, nil, func(q seismic.Vector, dst []topk.Item) ([]topk.Item, int) {
		return ex.Search(q, f.k, dst), 0
	})
	gt := taat.res
	if err := line("exact-taat", map[string]any{}, taat, exBuild, ex.Bytes(), gt); err != nil {
		return err
	}
	taatP50, taatCPU := taat.pct(50), taat.cpuPct(50)
	// exact-scan on a prefix of the queries (it is slow).
	if f.scanNQ > 0 {
		sq := qv[:min(f.scanNQ, nq)]
		scan := measure(sq, f.threads, f.rounds, nil, func(q seismic.Vector, dst []topk.Item) ([]topk.Item, int) {
			return seismic.ScanSearch(fwd, q, f.k, dst), 0
		})
		fwdBytes := int64(len(docs.Offsets)*8 + len(docs.Indices)*4 + len(docs.Values)*4)
		if err := line("exact-scan", map[string]any{}, scan, 0, fwdBytes, gt[:len(sq)]); err != nil {
			return err
		}
	}
	ex = nil
	runtime.GC()
	if err := runBlockmax(f, fwd, qv, gt, taat, line); err != nil {
		return err
	}
	if !f.seismic {
		return nil
	}

	cfg, err := sweepConfig(f)
	if err != nil {
		return err
	}
	// seismic-default: the index a new collection gets, searched as a query
	// without knobs is.
	t0 = time.Now()
	cpu0 := processCPUSeconds()
	def, err := defaultSparseIndex(fwd)
	if err != nil {
		return err
	}
	defBuildS, defBuildCPU := time.Since(t0).Seconds(), processCPUSeconds()-cpu0
	// The sweep reuses the default index when its flags give the same
	// configuration (the usual case) and no --index-cache is set.
	reuse := f.indexCache == "" && reflect.DeepEqual(cfg, def.cfg)
	if err := indexLine(out, ds.name, "seismic-default", def.ix.Stats(), def.cfg, defBuildS, defBuildCPU, reuse); err != nil {
		return err
	}
	dr := measure(qv, f.threads, f.rounds, nil, func(q seismic.Vector, dst []topk.Item) ([]topk.Item, int) {
		return def.search(q, f.k, dst)
	})
	dp := def.describe()
	dp["speedup_p50_vs_taat"] = taatP50 / max(dr.pct(50), 1e-9)
	dp["speedup_cpu_p50_vs_taat"] = taatCPU / max(dr.cpuPct(50), 1e-9)
	if err := line("seismic-default", dp, dr, defBuildS, def.bytes(), gt); err != nil {
		return err
	}
	var ix *seismic.Index
	var buildS float64
	if reuse {
		ix, buildS = def.ix, defBuildS
	} else {
		def = sparseDefault{}
		runtime.GC()
		t0 = time.Now()
		cpu0 = processCPUSeconds()
		if ix, err = buildOrLoad(fwd, cfg, f.indexCache); err != nil {
			return err
		}
		buildS = time.Since(t0).Seconds()
		if err := indexLine(out, ds.name, "seismic", ix.Stats(), cfg, buildS, processCPUSeconds()-cpu0, true); err != nil {
			return err
		}
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	st := ix.Stats()
	// The interleaved baseline: exact-taat rebuilt after the Seismic build
	// (so both indexes are not in memory during it) and run right before
	// each Seismic query, so that both see the same machine load.
	var baseline func(q seismic.Vector, dst []topk.Item) []topk.Item
	if f.interleave {
		runtime.GC()
		ex2, err := seismic.NewExact(fwd)
		if err != nil {
			return err
		}
		baseline = func(q seismic.Vector, dst []topk.Item) []topk.Item { return ex2.Search(q, f.k, dst) }
	}
	knnModes := []bool{false}
	if f.knn > 0 {
		knnModes = append(knnModes, true)
	}
	for _, useKNN := range knnModes {
		for _, qc := range qcs {
			for _, hf := range hfs {
				p := seismic.DefaultSearchParams()
				p.QueryCut, p.HeapFactor, p.FirstListOrder, p.KNN = qc, float32(hf), f.firstOrder, useKNN
				r := measure(qv, f.threads, f.rounds, baseline, func(q seismic.Vector, dst []topk.Item) ([]topk.Item, int) {
					return ix.SearchCounted(q, f.k, p, dst)
				})
				params := map[string]any{"query_cut": qc, "heap_factor": hf, "first_list_order": f.firstOrder, "knn": useKNN,
					"speedup_p50_vs_taat":     taatP50 / max(r.pct(50), 1e-9),
					"speedup_cpu_p50_vs_taat": taatCPU / max(r.cpuPct(50), 1e-9)}
				if baseline != nil {
					bp, bc := percentile(r.baseLat, 50), percentile(r.baseCPU, 50)
					params["taat_p50_us_interleaved"], params["taat_cpu_p50_us_interleaved"] = bp, bc
					params["speedup_p50_vs_taat_interleaved"] = bp / max(r.pct(50), 1e-9)
					params["speedup_cpu_p50_vs_taat_interleaved"] = bc / max(r.cpuPct(50), 1e-9)
				}
				if err := line("seismic", params, r, buildS, st.TotalBytes, gt); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sweepConfig is the build configuration the flags describe.
func sweepConfig(f sparseFlags) (seismic.Config, error) {
	cfg := seismic.DefaultConfig()
	cfg.NPostings, cfg.AutoKeep, cfg.Beta, cfg.Alpha, cfg.KNN = f.nPostings, f.autoKeep, f.beta, f.alpha, f.knn
	cfg.KNNParams.QueryCut, cfg.KNNParams.HeapFactor, cfg.KNNBlocks = f.knnQC, float32(f.knnHF), f.knnBlocks
	switch f.values {
	case "f16":
		cfg.Values = seismic.ValueF16
	case "f32":
		cfg.Values = seismic.ValueF32
	default:
		return cfg, fmt.Errorf("--values %q: want f16 or f32", f.values)
	}
	return cfg, nil
}

// indexLine prints the sparse-index line of a built index: its build time,
// sizes and configuration. sweep tells whether the sweep lines use it.
func indexLine(out io.Writer, dataset, index string, st seismic.Stats, cfg seismic.Config, buildS, buildCPU float64, sweep bool) error {
	// The float32 forward index (u64 offsets, u16 ids when they fit, f32
	// values) is the fixed yardstick of the memory target, whatever the
	// index stores.
	idBytes := int64(2)
	if st.Terms > 1<<16 {
		idBytes = 4
	}
	f32Fwd := int64(st.Docs+1)*8 + int64(st.NNZ)*(idBytes+4)
	return emit(out, map[string]any{"bench": "sparse-index", "dataset": dataset, "index": index, "sweep": sweep,
		"build_s": buildS, "build_cpu_s": buildCPU, "stats": st,
		"overhead_vs_forward":     float64(st.TotalBytes) / float64(st.ForwardBytes),
		"overhead_vs_f32_forward": float64(st.TotalBytes) / float64(f32Fwd), "f32_forward_bytes": f32Fwd,
		"config": configMap(cfg)})
}

// configMap reports a build configuration in a JSON line.
func configMap(cfg seismic.Config) map[string]any {
	values := "f16"
	if cfg.Values == seismic.ValueF32 {
		values = "f32"
	}
	return map[string]any{"n_postings": cfg.NPostings, "auto_keep": cfg.AutoKeep, "max_fraction": cfg.MaxFraction,
		"beta": cfg.Beta, "doc_cut": cfg.DocCut, "min_cluster_size": cfg.MinClusterSize, "alpha": cfg.Alpha,
		"values": values, "knn": cfg.KNN, "seed": cfg.Seed,
		"knn_blocks": cfg.KNNBlocks, "knn_query_cut": cfg.KNNParams.QueryCut, "knn_heap_factor": cfg.KNNParams.HeapFactor}
}

// buildOrLoad builds the Seismic index, or with a cache path loads it from
// there when the file exists and writes it there when it does not.
func buildOrLoad(fwd seismic.Forward, cfg seismic.Config, cache string) (*seismic.Index, error) {
	if cache != "" {
		if f, err := os.Open(cache); err == nil {
			defer f.Close()
			ix, err := seismic.Load(f)
			if err != nil {
				return nil, fmt.Errorf("--index-cache %s: %w", cache, err)
			}
			if ix.Len() != fwd.Len() {
				return nil, fmt.Errorf("--index-cache %s: %d documents, the data has %d", cache, ix.Len(), fwd.Len())
			}
			fmt.Fprintf(os.Stderr, "loaded the index from %s\n", cache)
			return ix, nil
		}
	}
	ix, err := seismic.Build(fwd, cfg)
	if err != nil || cache == "" {
		return ix, err
	}
	f, err := os.Create(cache)
	if err != nil {
		return nil, err
	}
	if _, err := ix.WriteTo(f); err != nil {
		f.Close()
		return nil, err
	}
	return ix, f.Close()
}

// sparseRun holds one configuration's measurements.
type sparseRun struct {
	nq  int
	res [][]topk.Item
	lat []float64 // µs wall clock, single thread
	cpu []float64 // µs of thread CPU time, single thread
	// baseLat and baseCPU time the interleaved baseline, when there is one.
	baseLat, baseCPU []float64
	qps              float64
	scored           int // mean documents scored per query
}

// measure runs every query single-threaded, pinned to one CPU, in rounds
// over the whole query set (so each query meets the caches as the one
// before it left them, in every round): a query's latency is its median
// over the rounds, which keeps a burst of load on the shared machine from
// moving a whole pass. Results and scored counts come from the first round.
// Then it runs the set again spread over threads goroutines for QPS,
// repeating it until at least 300 ms have passed (at most 20 rounds). With
// a base search, each single-threaded query is preceded by the same query
// on base, timed too.
func measure(qv []seismic.Vector, threads, rounds int, base func(q seismic.Vector, dst []topk.Item) []topk.Item,
	search func(q seismic.Vector, dst []topk.Item) ([]topk.Item, int)) sparseRun {
	n := len(qv)
	rounds = max(rounds, 1)
	r := sparseRun{nq: n, res: make([][]topk.Item, n), lat: make([]float64, n), cpu: make([]float64, n)}
	lat, cpu := make([]float64, n*rounds), make([]float64, n*rounds)
	var baseLat, baseCPU []float64
	if base != nil {
		baseLat, baseCPU = make([]float64, n*rounds), make([]float64, n*rounds)
	}
	var dst, bdst []topk.Item
	scored := 0
	runtime.LockOSThread()
	unpin := pinThread()
	for round := range rounds {
		for i, q := range qv {
			at := i*rounds + round
			if base != nil {
				c := threadCPUNanos()
				t := time.Now()
				bdst = base(q, bdst[:0])
				baseLat[at] = float64(time.Since(t).Nanoseconds()) / 1e3
				baseCPU[at] = float64(threadCPUNanos()-c) / 1e3
			}
			c := threadCPUNanos()
			t := time.Now()
			var k int
			dst, k = search(q, dst[:0])
			lat[at] = float64(time.Since(t).Nanoseconds()) / 1e3
			cpu[at] = float64(threadCPUNanos()-c) / 1e3
			if round == 0 {
				r.res[i] = slices.Clone(dst)
				scored += k
			}
		}
	}
	unpin()
	runtime.UnlockOSThread()
	median := func(all []float64, i int) float64 {
		v := all[i*rounds : (i+1)*rounds]
		slices.Sort(v)
		return v[rounds/2]
	}
	for i := range qv {
		r.lat[i], r.cpu[i] = median(lat, i), median(cpu, i)
		if base != nil {
			r.baseLat = append(r.baseLat, median(baseLat, i))
			r.baseCPU = append(r.baseCPU, median(baseCPU, i))
		}
	}
	slices.Sort(r.cpu)
	slices.Sort(r.baseLat)
	slices.Sort(r.baseCPU)
	if n > 0 {
		r.scored = scored / n
	}
	slices.Sort(r.lat)
	start := time.Now()
	done := 0
	for round := 0; round < 20 && (round == 0 || time.Since(start) < 300*time.Millisecond); round++ {
		var wg sync.WaitGroup
		for w := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d []topk.Item
				for i := w; i < len(qv); i += threads {
					d, _ = search(qv[i], d[:0])
				}
			}()
		}
		wg.Wait()
		done += len(qv)
	}
	r.qps = float64(done) / time.Since(start).Seconds()
	return r
}

func (r sparseRun) pct(p int) float64 { return percentile(r.lat, p) }

func (r sparseRun) cpuPct(p int) float64 { return percentile(r.cpu, p) }

func percentile(sorted []float64, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func (r sparseRun) recall(gt [][]topk.Item, k int) float64 {
	var sum float64
	for i, got := range r.res {
		g := make([]uint32, len(got))
		for j, it := range got {
			g[j] = it.ID
		}
		w := make([]uint32, 0, k)
		for _, it := range gt[i] {
			w = append(w, it.ID)
		}
		sum += eval.Recall(g, w)
	}
	return sum / float64(max(len(r.res), 1))
}

func (r sparseRun) ndcg(q eval.Qrels, queries, docs *dataset.Sparse) float64 {
	runs := map[string][]eval.Scored{}
	for i, res := range r.res {
		qid := strconv.Itoa(i)
		if queries.IDs != nil {
			qid = queries.IDs[i]
		}
		for _, it := range res {
			did := strconv.Itoa(int(it.ID))
			if docs.IDs != nil {
				did = docs.IDs[it.ID]
			}
			runs[qid] = append(runs[qid], eval.Scored{ID: did, Score: it.Score})
		}
	}
	return eval.MeanNDCG(q, runs, 10)
}
