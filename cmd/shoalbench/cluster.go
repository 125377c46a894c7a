package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/devcluster"
	"github.com/shoal-search/shoal/internal/embedded"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard"
	"github.com/shoal-search/shoal/shard/seismic"
)

type clusterOpts struct {
	docs, nq, k, shards, batch, parallel, sealDocs, queryCut int
	heapFactor                                               float32
	rfs                                                      []int
	logLevel, cpuProfile                                     string
	// writeJSONL, addr and collection select the two halves of a run
	// against an external cluster (see newClusterCmd).
	writeJSONL, addr, collection string
	merge                        bool
}

// newClusterCmd measures a whole in-process cluster: ingest through the HTTP
// API with rf 1 and then rf 3, then search latency and recall against exact,
// next to one Seismic index over the same documents in the same run.
//
// Against a running cluster (shoal dev, say) it works in two halves:
// --write-jsonl writes the documents for shoalctl load, and --addr then
// searches the loaded collection (see scripts/dev-load-bench.sh).
func newClusterCmd() *cobra.Command {
	var o clusterOpts
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "ingest and search through an in-process cluster (rf 1 and rf 3) against a single Seismic index",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCluster(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.docs, "docs", 100000, "synthetic SPLADE-like documents")
	f.IntVar(&o.nq, "nq", 200, "queries")
	f.IntVar(&o.k, "k", 10, "k")
	f.IntVar(&o.shards, "shards", 2, "shards")
	f.IntVar(&o.batch, "batch", 1000, "documents per upsert")
	f.IntVar(&o.parallel, "parallel", 4, "concurrent upserts")
	f.IntVar(&o.sealDocs, "seal-docs", 0, "write-buffer size that seals a segment (0: docs/shards/2, at most the default)")
	f.IntVar(&o.queryCut, "query-cut", 0, "Seismic query_cut (0: index default)")
	f.Float32Var(&o.heapFactor, "heap-factor", 0, "Seismic heap_factor (0: index default)")
	f.IntSliceVar(&o.rfs, "rf", []int{1, 3}, "replication factors to run, in order")
	f.StringVar(&o.logLevel, "log-level", "error", "cluster log level")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the search phase to this file")
	f.StringVar(&o.writeJSONL, "write-jsonl", "", "only write the synthetic documents as JSONL {id,indices,values} to this file (for shoalctl load), then exit")
	f.StringVar(&o.addr, "addr", "", "search a running cluster at this URL (documents loaded with shoalctl load from --write-jsonl) instead of starting one")
	f.StringVar(&o.collection, "collection", "synth", "with --addr: the collection to search")
	f.BoolVar(&o.merge, "merge", true, "with --addr: after the first round of queries, force-merge (compact until one segment per shard) and search again")
	return cmd
}

func runCluster(ctx context.Context, w io.Writer, o clusterOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := dataset.DefaultSparseSynthConfig()
	cfg.Docs, cfg.Queries = o.docs, o.nq
	docs, queries, err := dataset.GenerateSparse(cfg)
	if err != nil {
		return err
	}
	if o.writeJSONL != "" {
		return writeSparseJSONL(o.writeJSONL, docs)
	}
	fwd := seismic.Forward{Offsets: docs.Offsets, Indices: docs.Indices, Values: docs.Values, Dim: docs.Dim}
	ids := make([]string, docs.Len())
	for i := range ids {
		ids[i] = fmt.Sprintf("d%07d", i)
	}
	// exact ground truth: term at a time, or for an external cluster (whose
	// process wants the memory) a scan of the forward index
	truth := make([][]string, queries.Len())
	var ex *seismic.Exact
	if o.addr == "" {
		if ex, err = seismic.NewExact(fwd); err != nil {
			return err
		}
	}
	for qi := range truth {
		qidx, qval := queries.Row(qi)
		q := seismic.Vector{Indices: qidx, Values: qval}
		var items []topk.Item
		if ex != nil {
			items = ex.Search(q, o.k, nil)
		} else {
			items = seismic.ScanSearch(fwd, q, o.k, nil)
		}
		for _, it := range items {
			truth[qi] = append(truth[qi], ids[it.ID])
		}
	}
	ex = nil
	sp := seismic.DefaultSearchParams()
	if o.queryCut > 0 {
		sp.QueryCut = o.queryCut
	}
	if o.heapFactor > 0 {
		sp.HeapFactor = o.heapFactor
	}
	// one Seismic index over the same documents: the latency to compare with
	start := time.Now()
	single, err := seismic.Build(fwd, shard.DefaultConfig().Seismic)
	if err != nil {
		return err
	}
	buildS := time.Since(start).Seconds()
	var lat []time.Duration
	var rec float64
	for qi := 0; qi < queries.Len(); qi++ {
		qidx, qval := queries.Row(qi)
		t0 := time.Now()
		items := single.Search(seismic.Vector{Indices: qidx, Values: qval}, o.k, sp, nil, nil)
		lat = append(lat, time.Since(t0))
		var got []string
		for _, it := range items {
			got = append(got, ids[it.ID])
		}
		rec += eval.Recall(got, truth[qi])
	}
	singleP50 := clusterPct(lat, 50)
	if err := emit(w, map[string]any{"bench": "cluster", "index": "seismic-single", "docs": o.docs, "queries": o.nq, "k": o.k,
		"recall": rec / float64(queries.Len()), "p50_us": clusterUS(singleP50), "p99_us": clusterUS(clusterPct(lat, 99)), "build_s": buildS, "threads": 1}); err != nil {
		return err
	}
	singleSearch := func(qi int) time.Duration {
		qidx, qval := queries.Row(qi)
		t0 := time.Now()
		single.Search(seismic.Vector{Indices: qidx, Values: qval}, o.k, sp, nil, nil)
		return time.Since(t0)
	}
	if o.addr != "" {
		res, err := externalRun(ctx, o, queries, truth, singleSearch)
		if err != nil {
			return err
		}
		return emit(w, res)
	}
	var ingest1 float64
	for _, rf := range o.rfs {
		res, err := clusterRun(ctx, o, rf, docs, queries, ids, truth, sp, singleSearch)
		if err != nil {
			return fmt.Errorf("rf %d: %w", rf, err)
		}
		if rf == 1 {
			ingest1 = res["ingest_docs_s"].(float64)
		} else if ingest1 > 0 {
			res["ingest_ratio_rf3_vs_rf1"] = res["ingest_docs_s"].(float64) / ingest1
		}
		if err := emit(w, res); err != nil {
			return err
		}
	}
	return nil
}

func clusterRun(ctx context.Context, o clusterOpts, rf int, docs, queries *dataset.Sparse, ids []string, truth [][]string, sp seismic.SearchParams, single func(qi int) time.Duration) (map[string]any, error) {
	dir, err := os.MkdirTemp("", "shoalbench-cluster-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	port, err := embedded.FreeBase(3)
	if err != nil {
		return nil, err
	}
	scfg := shard.DefaultConfig()
	scfg.SealDocs = o.sealDocs
	if scfg.SealDocs <= 0 {
		scfg.SealDocs = min(shard.DefaultConfig().SealDocs, max(1000, o.docs/o.shards/2))
	}
	c, err := devcluster.Start(ctx, devcluster.Config{Dir: dir, HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Nodes: 3,
		Shard: &scfg, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: clusterLogLevel(o.logLevel)}))})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cl, err := client.New(c.URL(), client.WithTimeout(2*time.Minute))
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := cl.Health(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster not healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	name := "bench"
	if _, err := cl.CreateCollection(ctx, api.CollectionSpec{Name: name, Shards: o.shards, Replication: rf, Sparse: &api.SparseField{MaxTerm: docs.Dim}}); err != nil {
		return nil, err
	}
	// ingest, several batches in flight; after each acknowledgement check
	// that one of its documents is found at once
	var mu sync.Mutex
	var firstErr error
	var visibleMiss, visTries int
	var visLat []time.Duration
	batches := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := range batches {
				to := min(from+o.batch, docs.Len())
				b := make([]api.Document, 0, to-from)
				for i := from; i < to; i++ {
					idx, val := docs.Row(i)
					b = append(b, api.Document{ID: ids[i], Sparse: &api.SparseVector{Indices: idx, Values: val}})
				}
				if _, err := cl.Upsert(ctx, name, b); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					continue
				}
				if (from/o.batch)%10 == 0 {
					t0 := time.Now()
					last := b[len(b)-1]
					found := false
					tries := 0
					for time.Since(t0) < time.Second && !found {
						tries++
						if _, err := cl.Get(ctx, name, last.ID); err == nil {
							found = true
						}
					}
					mu.Lock()
					visTries = max(visTries, tries)
					visLat = append(visLat, time.Since(t0))
					if !found {
						visibleMiss++
					}
					mu.Unlock()
				}
			}
		}()
	}
	for from := 0; from < docs.Len(); from += o.batch {
		batches <- from
	}
	close(batches)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	ingest := time.Since(start)
	buildWaitS, err := sealAndSettle(ctx, cl, name)
	if err != nil {
		return nil, err
	}
	params := &api.SearchParams{QueryCut: o.queryCut, HeapFactor: o.heapFactor}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		defer f.Close()
	}
	segsLoaded, err := maxSegments(ctx, cl)
	if err != nil {
		return nil, err
	}
	lat, slat, rec, err := clusterQueries(ctx, cl, name, queries, truth, o.k, params, single)
	if err != nil {
		return nil, err
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	// an operator's force-merge after a bulk load: compact until every
	// shard holds one segment, then search again
	mergeS, segsMerged, err := forceMerge(ctx, cl, name)
	if err != nil {
		return nil, err
	}
	mlat, mslat, mrec, err := clusterQueries(ctx, cl, name, queries, truth, o.k, params, single)
	if err != nil {
		return nil, err
	}
	// restart the whole cluster on its data: time until it serves, and until
	// every segment has rebuilt its indexes; then recall again
	if err := c.Close(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	c, err = devcluster.Start(ctx, devcluster.Config{Dir: dir, HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Nodes: 3,
		Shard: &scfg, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: clusterLogLevel(o.logLevel)}))})
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	defer c.Close()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := cl.Health(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster not healthy after restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	healthyS := time.Since(t0).Seconds()
	if err := waitNoBuilds(ctx, cl, false); err != nil {
		return nil, err
	}
	builtS := time.Since(t0).Seconds()
	_, _, rec2, err := clusterQueries(ctx, cl, name, queries, truth, o.k, params, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"restart_healthy_s": healthyS, "restart_built_s": builtS, "restart_recall": rec2,
		"bench": "cluster", "index": "cluster", "rf": rf, "shards": o.shards, "nodes": 3, "docs": docs.Len(), "queries": queries.Len(), "k": o.k,
		"seal_docs": scfg.SealDocs, "recall": rec, "segments_per_shard": segsLoaded,
		"merge_s": mergeS, "merged_segments_per_shard": segsMerged, "merged_recall": mrec,
		"merged_p50_us": clusterUS(clusterPct(mlat, 50)), "merged_p99_us": clusterUS(clusterPct(mlat, 99)),
		"single_p50_us": clusterUS(clusterPct(slat, 50)), "merged_single_p50_us": clusterUS(clusterPct(mslat, 50)),
		"p50_ratio_vs_single":        clusterUS(clusterPct(lat, 50)) / clusterUS(clusterPct(slat, 50)),
		"merged_p50_ratio_vs_single": clusterUS(clusterPct(mlat, 50)) / clusterUS(clusterPct(mslat, 50)), "p50_us": clusterUS(clusterPct(lat, 50)), "p99_us": clusterUS(clusterPct(lat, 99)),
		"ingest_docs_s": float64(docs.Len()) / ingest.Seconds(), "ingest_s": ingest.Seconds(), "final_build_wait_s": buildWaitS,
		"visible_checks": len(visLat), "visible_within_1s_misses": visibleMiss, "visible_p99_us": clusterUS(clusterPct(visLat, 99)),
		"visible_p50_us": clusterUS(clusterPct(visLat, 50)), "visible_max_gets": visTries,
		"threads": 1, "gomaxprocs": runtime.GOMAXPROCS(0),
	}, nil
}

func clusterPct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func clusterUS(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func clusterLogLevel(s string) slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelError
	}
	return lv
}

// waitNoBuilds waits until no replica reports a segment building.
// With settle it waits for a quiet spell longer than the leaders' merge checks.
func waitNoBuilds(ctx context.Context, cl *client.Client, settle bool) error {
	quiet := 0
	for deadline := time.Now().Add(30 * time.Minute); time.Now().Before(deadline); {
		st, err := cl.Cluster(ctx)
		if err != nil {
			return err
		}
		building := 0
		for _, sh := range st.Shards {
			for _, r := range sh.Replicas {
				if r.Error != "" {
					building++
				}
				for _, sg := range r.Segments {
					if sg.State == "building" {
						building++
					}
				}
			}
		}
		if building == 0 {
			quiet++
			// the leaders check for due merges every 2 s: only a quiet
			// spell longer than that means the policy has settled
			if !settle || quiet > 15 {
				return nil
			}
		} else {
			quiet = 0
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("segments still building after 30 minutes")
}

// writeSparseJSONL writes docs as {"id","indices","values"} lines, ids as the
// cluster bench names them.
func writeSparseJSONL(path string, docs *dataset.Sparse) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	for i := 0; i < docs.Len(); i++ {
		idx, val := docs.Row(i)
		if err := enc.Encode(struct {
			ID      string    `json:"id"`
			Indices []uint32  `json:"indices"`
			Values  []float32 `json:"values"`
		}{fmt.Sprintf("d%07d", i), idx, val}); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// externalRun searches a running cluster whose collection holds the
// synthetic documents (loaded from --write-jsonl with shoalctl load): it
// waits for the builds, then measures as the in-process run does.
func externalRun(ctx context.Context, o clusterOpts, queries *dataset.Sparse, truth [][]string, single func(qi int) time.Duration) (map[string]any, error) {
	cl, err := client.New(o.addr, client.WithTimeout(2*time.Minute))
	if err != nil {
		return nil, err
	}
	col, err := cl.GetCollection(ctx, o.collection)
	if err != nil {
		return nil, err
	}
	waitS, err := sealAndSettle(ctx, cl, o.collection)
	if err != nil {
		return nil, err
	}
	params := &api.SearchParams{QueryCut: o.queryCut, HeapFactor: o.heapFactor}
	segs, err := maxSegments(ctx, cl)
	if err != nil {
		return nil, err
	}
	lat, slat, rec, err := clusterQueries(ctx, cl, o.collection, queries, truth, o.k, params, single)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"bench": "cluster", "index": "cluster-external", "addr": o.addr, "collection": o.collection,
		"shards": col.Shards, "rf": col.Replication, "queries": queries.Len(), "k": o.k, "build_wait_s": waitS,
		"segments_per_shard": segs, "recall": rec, "p50_us": clusterUS(clusterPct(lat, 50)), "p99_us": clusterUS(clusterPct(lat, 99)),
		"single_p50_us": clusterUS(clusterPct(slat, 50)), "p50_ratio_vs_single": clusterUS(clusterPct(lat, 50)) / clusterUS(clusterPct(slat, 50))}
	if !o.merge {
		return res, nil
	}
	if res["merge_s"], res["merged_segments_per_shard"], err = forceMerge(ctx, cl, o.collection); err != nil {
		return nil, err
	}
	mlat, mslat, mrec, err := clusterQueries(ctx, cl, o.collection, queries, truth, o.k, params, single)
	if err != nil {
		return nil, err
	}
	res["merged_recall"] = mrec
	res["merged_p50_us"] = clusterUS(clusterPct(mlat, 50))
	res["merged_p99_us"] = clusterUS(clusterPct(mlat, 99))
	res["merged_single_p50_us"] = clusterUS(clusterPct(mslat, 50))
	res["merged_p50_ratio_vs_single"] = clusterUS(clusterPct(mlat, 50)) / clusterUS(clusterPct(mslat, 50))
	return res, nil
}

// clusterQueries runs the queries one at a time through the HTTP API and
// returns their latencies and mean recall against truth.
func clusterQueries(ctx context.Context, cl *client.Client, name string, queries *dataset.Sparse, truth [][]string, k int, params *api.SearchParams, single func(qi int) time.Duration) (lat, singleLat []time.Duration, recall float64, err error) {
	for qi := 0; qi < queries.Len(); qi++ {
		qidx, qval := queries.Row(qi)
		if single != nil {
			// the single index answers the same query right before, under
			// the same machine load
			singleLat = append(singleLat, single(qi))
		}
		t0 := time.Now()
		res, err := cl.Search(ctx, name, api.SearchRequest{K: k, Sparse: &api.SparseVector{Indices: qidx, Values: qval}, Params: params})
		if err != nil {
			return nil, nil, 0, err
		}
		lat = append(lat, time.Since(t0))
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		recall += eval.Recall(got, truth[qi])
	}
	return lat, singleLat, recall / float64(max(1, queries.Len())), nil
}

// sealAndSettle seals what is left in the write buffers and waits until no
// replica builds and the merge policy has settled; it returns the seconds the
// wait took.
func sealAndSettle(ctx context.Context, cl *client.Client, collection string) (float64, error) {
	if _, err := cl.Seal(ctx, collection); err != nil {
		return 0, err
	}
	start := time.Now()
	err := waitNoBuilds(ctx, cl, true)
	return time.Since(start).Seconds(), err
}

// forceMerge compacts collection until every shard holds one segment (at
// most 10 rounds), as an operator does after a bulk load. It returns the
// seconds it took and the most segments a shard holds afterwards.
func forceMerge(ctx context.Context, cl *client.Client, collection string) (float64, int, error) {
	start := time.Now()
	for i := 0; i < 10; i++ {
		n, err := maxSegments(ctx, cl)
		if err != nil {
			return 0, 0, err
		}
		if n <= 1 {
			break
		}
		if _, err := cl.Compact(ctx, collection); err != nil {
			return 0, 0, err
		}
		if err := waitNoBuilds(ctx, cl, true); err != nil {
			return 0, 0, err
		}
	}
	n, err := maxSegments(ctx, cl)
	return time.Since(start).Seconds(), n, err
}

// maxSegments returns the most segments any replica's shard holds.
func maxSegments(ctx context.Context, cl *client.Client) (int, error) {
	st, err := cl.Cluster(ctx)
	if err != nil {
		return 0, err
	}
	most := 0
	for _, sh := range st.Shards {
		for _, r := range sh.Replicas {
			n := 0
			for _, sg := range r.Segments {
				if sg.State != "buffer" {
					n++
				}
			}
			most = max(most, n)
		}
	}
	return most, nil
}
