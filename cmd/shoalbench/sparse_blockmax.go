package main

import (
	"runtime"
	"time"

	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/seismic"
)

// runBlockmax prints the "exact-blockmax" line: the exact block-max
// MaxScore index, timed like exact-taat (same queries, rounds and pinned
// CPU), with its speed-up over exact-taat and recall against it.
func runBlockmax(f sparseFlags, fwd seismic.Forward, qv []seismic.Vector, gt [][]topk.Item, taat sparseRun,
	line func(string, map[string]any, sparseRun, float64, int64, [][]topk.Item) error) error {
	cfg := blockmax.DefaultConfig()
	cfg.BlockSize = f.blockSize
	t0 := time.Now()
	ix, err := blockmax.Build(blockmax.Forward(fwd), cfg)
	if err != nil {
		return err
	}
	buildS := time.Since(t0).Seconds()
	r := measure(qv, f.threads, f.rounds, nil, func(q seismic.Vector, dst []topk.Item) ([]topk.Item, int) {
		return ix.SearchCounted(blockmax.Vector(q), f.k, dst)
	})
	params := map[string]any{"block_size": cfg.BlockSize,
		"speedup_p50_vs_taat":     taat.pct(50) / max(r.pct(50), 1e-9),
		"speedup_cpu_p50_vs_taat": taat.cpuPct(50) / max(r.cpuPct(50), 1e-9),
		"speedup_mean_vs_taat":    mean(taat.lat) / max(mean(r.lat), 1e-9),
		"mean_us":                 mean(r.lat), "taat_mean_us": mean(taat.lat)}
	err = line("exact-blockmax", params, r, buildS, ix.Stats().Bytes, gt)
	runtime.GC()
	return err
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
