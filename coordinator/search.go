package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/wire"
)

// rrfK is the constant of reciprocal rank fusion: score = Σ w / (rrfK + rank).
const rrfK = 60

func (c *Coordinator) handleSearch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	col, err := c.collection(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, "search", metaErr(err))
		return
	}
	var req api.SearchRequest
	if err := decodeBody(w, r, &req); err != nil {
		c.fail(w, "search", err)
		return
	}
	wreq, mods, err := queryToWire(&req, &col.Spec)
	if err != nil {
		c.fail(w, "search", err)
		return
	}
	tok, err := checkConsistency(req.Consistency, col)
	if err != nil {
		c.fail(w, "search", err)
		return
	}
	// With several modalities each shard returns more candidates, so that
	// fusion has depth to work with.
	if len(mods) > 1 {
		wreq.K = uint32(min(api.MaxK, 2*req.K))
	}
	n := len(col.Placement)
	replies := make([]*wire.SearchResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for s := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subject, _, minIdx := c.readTarget(col, s, req.Consistency, tok, false)
			sreq := &wire.SearchRequest{Version: wire.Version, K: wreq.K, Sparse: wreq.Sparse, Dense: wreq.Dense,
				Multi: wreq.Multi, Filter: wreq.Filter, MinAppliedIndex: minIdx,
				Strong:   req.Consistency != nil && req.Consistency.Level == api.ConsistencyStrong,
				QueryCut: wreq.QueryCut, HeapFactor: wreq.HeapFactor, Nprobe: wreq.Nprobe,
				Oversample: wreq.Oversample, Candidates: wreq.Candidates, Exact: wreq.Exact, TargetRecall: wreq.TargetRecall}
			resp := &wire.SearchResponse{}
			errs[s] = c.withRetry(r.Context(), "search", c.cfg.ReadTimeout, c.cfg.ShardTimeout, func(actx context.Context) error {
				resp.Reset()
				if err := c.call(actx, subject, nil, sreq, resp); err != nil {
					return err
				}
				if resp.Error != nil {
					return fromWire(resp.Error)
				}
				return nil
			})
			if errs[s] == nil {
				replies[s] = resp
			}
		}()
	}
	wg.Wait()
	answered := 0
	for s, err := range errs {
		if err == nil {
			answered++
			continue
		}
		if ae, ok := err.(*apiError); ok && ae.status == http.StatusBadRequest {
			c.fail(w, "search", err)
			return
		}
		if !req.AllowPartial {
			c.fail(w, "search", wrapShard(s, err))
			return
		}
	}
	lists := make(map[string][]api.Hit, len(mods))
	for _, m := range mods {
		var all []api.Hit
		for _, rep := range replies {
			if rep == nil {
				continue
			}
			var hl *wire.HitList
			switch m {
			case "sparse":
				hl = rep.Sparse
			case "dense":
				hl = rep.Dense
			case "multivector":
				hl = rep.Multi
			}
			for _, h := range hl.GetHits() {
				all = append(all, api.Hit{ID: h.Id, Score: h.Score})
			}
		}
		sortHits(all)
		if len(mods) == 1 && len(all) > req.K {
			all = all[:req.K]
		}
		lists[m] = all
	}
	var hits []api.Hit
	if len(mods) == 1 {
		hits = lists[mods[0]]
	} else {
		hits = fuse(mods, lists, req.Fusion, req.Weights, req.K)
	}
	if hits == nil {
		hits = []api.Hit{}
	}
	c.ok(w, "search", http.StatusOK, api.SearchResponse{Hits: hits, Coverage: api.Coverage{Shards: n, Answered: answered}}, start)
}

func wrapShard(s int, err error) error {
	if ae, ok := err.(*apiError); ok {
		cp := *ae
		cp.body.Message = fmt.Sprintf("shard %d: %s", s, ae.body.Message)
		return &cp
	}
	return unavailable("shard %d: %v", s, err)
}

// sortHits orders hits best first, ties by ascending id, as every shard does.
func sortHits(h []api.Hit) {
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].Score != h[j].Score {
			return h[i].Score > h[j].Score
		}
		return h[i].ID < h[j].ID
	})
}

// fuse combines ranked lists of several modalities. rrf: Σ w/(60+rank);
// linear: Σ w·(score−min)/(max−min) over each list.
func fuse(mods []string, lists map[string][]api.Hit, method string, weights map[string]float32, k int) []api.Hit {
	score := map[string]float32{}
	for _, m := range mods {
		wt := float32(1)
		if v, ok := weights[m]; ok {
			wt = v
		}
		l := lists[m]
		if method == api.FusionLinear {
			if len(l) == 0 {
				continue
			}
			hi, lo := l[0].Score, l[len(l)-1].Score
			for _, h := range l {
				norm := float32(1)
				if hi > lo {
					norm = (h.Score - lo) / (hi - lo)
				}
				score[h.ID] += wt * norm
			}
			continue
		}
		for rank, h := range l {
			score[h.ID] += wt / float32(rrfK+rank+1)
		}
	}
	out := make([]api.Hit, 0, len(score))
	for id, s := range score {
		out = append(out, api.Hit{ID: id, Score: s})
	}
	sortHits(out)
	if len(out) > k {
		out = out[:k]
	}
	return out
}
