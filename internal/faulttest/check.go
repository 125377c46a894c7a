package faulttest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/coordinator"
)

// regInput is a register operation: a write of V, or a read.
type regInput struct {
	Write bool
	V     int64
}

// registerModel is one document as a register holding its version (0:
// absent). Keys are independent, so the history is partitioned by key.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Metadata.(string)
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.Write {
			return true, in.V
		}
		return output.(int64) == state.(int64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.Write {
			return fmt.Sprintf("write(%d)", in.V)
		}
		return fmt.Sprintf("read() -> %d", output.(int64))
	},
}

// Linearizable checks the strong reads and the writes of ops with porcupine,
// per key. Writes of unknown outcome may take effect at any time after their
// call (their return is open); failed writes are left out. It returns
// porcupine's verdict (Ok, Illegal, or Unknown when the check timed out).
func Linearizable(ops []Op, timeout time.Duration) porcupine.CheckResult {
	var hist []porcupine.Operation
	for _, op := range ops {
		var in regInput
		switch op.Kind {
		case OpWrite, OpDelete:
			if op.Outcome == Failed {
				continue
			}
			in = regInput{Write: true, V: op.Value}
		case OpStrongRead:
		default:
			continue
		}
		ret := op.Return
		if op.Outcome == Unknown {
			ret = math.MaxInt64
		}
		hist = append(hist, porcupine.Operation{ClientId: op.Client, Input: in, Call: op.Call, Output: op.Value, Return: ret, Metadata: op.Key})
	}
	return porcupine.CheckOperationsTimeout(registerModel, hist, timeout)
}

// LostWrites returns the acknowledged writes of ops that the final state
// final (key → version, 0 absent) cannot contain: a write W is lost when the
// write that produced the final value had returned before W was called, so
// that nothing can have overwritten W after it. A final value that no write
// (or only a failed write) produced is reported too.
func LostWrites(ops []Op, final map[string]int64) []string {
	byKey := map[string][]Op{}
	for _, op := range ops {
		if op.Kind == OpWrite || op.Kind == OpDelete {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	var out []string
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := final[k]
		writes := byKey[k]
		// covers reports whether a write that can have produced f ended at
		// or after t (so W, called at t, may precede it).
		var covers func(t int64) bool
		if f != 0 {
			var prod *Op
			for i := range writes {
				if writes[i].Kind == OpWrite && writes[i].Value == f {
					prod = &writes[i]
				}
			}
			switch {
			case prod == nil:
				out = append(out, fmt.Sprintf("%s: final value %d was never written", k, f))
				continue
			case prod.Outcome == Failed:
				out = append(out, fmt.Sprintf("%s: final value %d comes from a failed write (status %d)", k, f, prod.Status))
				continue
			}
			covers = func(t int64) bool { return prod.Outcome == Unknown || prod.Return >= t }
		} else {
			covers = func(t int64) bool {
				for _, d := range writes {
					if d.Kind == OpDelete && d.Outcome != Failed && (d.Outcome == Unknown || d.Return >= t) {
						return true
					}
				}
				return false
			}
		}
		for _, w := range writes {
			if w.Outcome != Acked || (w.Kind == OpWrite && w.Value == f) || (w.Kind == OpDelete && f == 0) {
				continue
			}
			if !covers(w.Call) {
				out = append(out, fmt.Sprintf("%s: acknowledged %s of %d (at %v) lost; final value %d", k, w.Kind, w.Value, time.Duration(w.Call), f))
			}
		}
	}
	return out
}

// BadEventualReads returns the eventual reads of ops that returned a value
// never written to their key (or written only by a failed write, or by a
// write called after the read returned).
func BadEventualReads(ops []Op) []string {
	written := map[string]map[int64]Op{}
	for _, op := range ops {
		if op.Kind == OpWrite {
			if written[op.Key] == nil {
				written[op.Key] = map[int64]Op{}
			}
			written[op.Key][op.Value] = op
		}
	}
	var out []string
	for _, op := range ops {
		if op.Kind != OpEventualRead || op.Value == 0 {
			continue
		}
		w, ok := written[op.Key][op.Value]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: eventual read returned %d, never written", op.Key, op.Value))
		case w.Outcome == Failed:
			out = append(out, fmt.Sprintf("%s: eventual read returned %d from a failed write", op.Key, op.Value))
		case w.Call > op.Return:
			out = append(out, fmt.Sprintf("%s: eventual read returned %d before it was written", op.Key, op.Value))
		}
	}
	return out
}

// sparseDot matches the engine's accumulation order.
func sparseDot(q, d *api.SparseVector) float32 {
	var s float32
	i, j := 0, 0
	for i < len(q.Indices) && j < len(d.Indices) {
		switch {
		case q.Indices[i] < d.Indices[j]:
			i++
		case q.Indices[i] > d.Indices[j]:
			j++
		default:
			s += q.Values[i] * d.Values[j]
			i++
			j++
		}
	}
	return s
}

// ExactTopK returns the exact top-k of docs for q, best first, ties by id;
// only documents sharing a term with q (all values are positive).
func ExactTopK(docs map[string]api.Document, q *api.SparseVector, k int) []api.Hit {
	var hits []api.Hit
	for id, d := range docs {
		if s := sparseDot(q, d.Sparse); s > 0 {
			hits = append(hits, api.Hit{ID: id, Score: s})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

func closeScore(a, b float32) bool {
	return math.Abs(float64(a-b)) <= 1e-4*math.Max(1, math.Abs(float64(b)))
}

// compareHits returns why got differs from the exact want, or "".
func compareHits(got, want []api.Hit) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d hits, want %d", len(got), len(want))
	}
	for i := range want {
		if !closeScore(got[i].Score, want[i].Score) {
			return fmt.Sprintf("rank %d: got %s %.4f, want %s %.4f", i, got[i].ID, got[i].Score, want[i].ID, want[i].Score)
		}
		if got[i].ID != want[i].ID {
			tie := (i > 0 && want[i-1].Score == want[i].Score) || (i+1 < len(want) && want[i+1].Score == want[i].Score)
			if !tie {
				return fmt.Sprintf("rank %d: got id %s, want %s", i, got[i].ID, want[i].ID)
			}
		}
	}
	return ""
}

// CheckSearch runs n queries and compares their answers with the exact
// reference computed from docs (the final state): an exact strong search
// must equal the reference; searches through the indexes (one strong, three
// eventual, so that the queue group spreads them over the replicas) may miss
// documents, but every hit must be a live document with its true score
// (within 1 %: the indexes keep quantized values).
// Run it once the replicas have converged (CheckReplicas).
func CheckSearch(ctx context.Context, c *Cluster, w Workload, docs map[string]api.Document, n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []string
	type mode struct {
		exact bool
		level string
	}
	modes := []mode{{true, api.ConsistencyStrong}, {false, api.ConsistencyStrong},
		{false, api.ConsistencyEventual}, {false, api.ConsistencyEventual}, {false, api.ConsistencyEventual}}
	for qi := 0; qi < n && len(out) < 5; qi++ {
		q := randSparse(r, int(w.MaxTerm), 12)
		want := ExactTopK(docs, q, 10)
		for _, m := range modes {
			req := api.SearchRequest{K: 10, Sparse: q, Consistency: &api.Consistency{Level: m.level}}
			if m.exact {
				req.Params = &api.SearchParams{Exact: true}
			}
			var sr api.SearchResponse
			st, raw := retry(ctx, func() (int, []byte) {
				sr = api.SearchResponse{}
				return c.HTTP.Do(ctx, "POST", "/v1/collections/"+w.Collection+"/search", req, &sr)
			})
			if st != 200 {
				out = append(out, fmt.Sprintf("search %d (exact %v, %s): %d %s", qi, m.exact, m.level, st, raw))
				break
			}
			if m.exact {
				if why := compareHits(sr.Hits, want); why != "" {
					out = append(out, fmt.Sprintf("exact search %d: %s", qi, why))
				}
				continue
			}
			for _, h := range sr.Hits {
				d, ok := docs[h.ID]
				if !ok {
					out = append(out, fmt.Sprintf("%s search %d: hit %s is not a live document", m.level, qi, h.ID))
					break
				}
				// indexes score with quantized values (f16): 1 % of slack
				if s := sparseDot(q, d.Sparse); math.Abs(float64(h.Score-s)) > 0.01*math.Max(1, math.Abs(float64(s))) {
					out = append(out, fmt.Sprintf("%s search %d: hit %s scored %.4f, true score %.4f", m.level, qi, h.ID, h.Score, s))
					break
				}
			}
		}
	}
	return out
}

// retry repeats do while it answers 5xx or not at all, until ctx ends.
func retry(ctx context.Context, do func() (int, []byte)) (int, []byte) {
	for {
		st, raw := do()
		if (st > 0 && st < 500) || ctx.Err() != nil {
			return st, raw
		}
		select {
		case <-ctx.Done():
			return st, raw
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// CheckReplicas waits (until ctx ends) for every replica of the collection
// on the running nodes to hold the reference's document count for its shard
// and the same sealed segments as its peers, and returns what still differs.
// live lists the running nodes ("n1", ...); docs is the final state, or nil
// when it could not be read: then replicas are only compared with each
// other.
func CheckReplicas(ctx context.Context, c *Cluster, w Workload, docs map[string]api.Document, live []string) []string {
	want := make([]int, w.Shards)
	for id := range docs {
		want[coordinator.ShardOf(id, w.Shards)]++
	}
	peerDocs := map[int]int{}
	var diffs []string
	for {
		diffs = diffs[:0]
		clear(peerDocs)
		cl, err := c.Status()
		if err != nil {
			diffs = append(diffs, err.Error())
		}
		seen := 0
		for _, sh := range cl.Shards {
			if sh.Collection != w.Collection {
				continue
			}
			seen++
			byNode := map[string]api.ReplicaStatus{}
			for _, rep := range sh.Replicas {
				byNode[rep.Node] = rep
			}
			var sig0 string
			for _, n := range live {
				rep, ok := byNode[n]
				if !ok {
					diffs = append(diffs, fmt.Sprintf("shard %d: no replica on %s", sh.Shard, n))
					continue
				}
				if rep.Error != "" {
					diffs = append(diffs, fmt.Sprintf("shard %d on %s: %s", sh.Shard, n, rep.Error))
					continue
				}
				if docs != nil && rep.Documents != want[sh.Shard] {
					diffs = append(diffs, fmt.Sprintf("shard %d on %s: %d documents, reference %d", sh.Shard, n, rep.Documents, want[sh.Shard]))
				}
				if d, ok := peerDocs[sh.Shard]; docs == nil && ok && d != rep.Documents {
					diffs = append(diffs, fmt.Sprintf("shard %d on %s: %d documents, a peer has %d", sh.Shard, n, rep.Documents, d))
				}
				peerDocs[sh.Shard] = rep.Documents
				sig := segSignature(rep.Segments)
				if sig0 == "" {
					sig0 = sig
				} else if sig != sig0 {
					diffs = append(diffs, fmt.Sprintf("shard %d on %s: segments %s, a peer has %s", sh.Shard, n, sig, sig0))
				}
			}
		}
		if err == nil && seen != w.Shards {
			diffs = append(diffs, fmt.Sprintf("cluster status lists %d shards of %d", seen, w.Shards))
		}
		if len(diffs) == 0 || ctx.Err() != nil {
			return diffs
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// segSignature describes sealed segments (id, rows, deleted) regardless of
// their index state; the write buffer is left out.
func segSignature(segs []api.Segment) string {
	var parts []string
	for _, s := range segs {
		if s.State == "buffer" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d:%d-%d", s.ID, s.Docs, s.Deleted))
	}
	sort.Strings(parts)
	return fmt.Sprint(parts)
}
