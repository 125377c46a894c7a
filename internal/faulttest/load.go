package faulttest

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-search/shoal/api"
)

// Workload is the data of the suite: a collection of hot keys whose
// documents carry their version in the int attribute "v" and a sparse vector
// derived from (key, version), so any stored value can be recomputed.
type Workload struct {
	Collection string
	// Shards of the collection; replication is 3.
	Shards int
	// Keys is the number of hot keys (rewritten by the load).
	Keys int
	// MaxTerm bounds the sparse vectors' term ids.
	MaxTerm uint32
	// NNZ is the number of terms of a document's vector; default 8.
	NNZ int
}

// Spec returns the collection's schema.
func (w Workload) Spec() api.CollectionSpec {
	return api.CollectionSpec{Name: w.Collection, Shards: w.Shards, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: w.MaxTerm}, Attributes: map[string]string{"v": api.AttrInt}}
}

// Key returns hot key i.
func (w Workload) Key(i int) string { return fmt.Sprintf("k-%03d", i) }

// StaticKey returns the id of static (write-once) document i.
func (w Workload) StaticKey(i int) string { return fmt.Sprintf("s-%05d", i) }

// Doc returns the document that version v of key holds.
func (w Workload) Doc(key string, v int64) api.Document {
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(v)))
	nnz := w.NNZ
	if nnz == 0 {
		nnz = 8
	}
	return api.Document{ID: key, Sparse: randSparse(r, int(w.MaxTerm), nnz), Attributes: map[string]any{"v": v}}
}

// randSparse returns a sparse vector of nnz distinct terms below maxTerm
// with positive values.
func randSparse(r *rand.Rand, maxTerm, nnz int) *api.SparseVector {
	set := map[uint32]bool{}
	for len(set) < nnz {
		set[uint32(r.IntN(maxTerm))] = true
	}
	v := &api.SparseVector{}
	for t := range set {
		v.Indices = append(v.Indices, t)
	}
	sort.Slice(v.Indices, func(i, j int) bool { return v.Indices[i] < v.Indices[j] })
	for range v.Indices {
		v.Values = append(v.Values, float32(r.IntN(1000)+1)/100)
	}
	return v
}

// Load drives a bounded mix of writes and reads against the coordinator and
// records every one in H.
type Load struct {
	HTTP API
	W    Workload
	H    *History
	// Workers is the number of concurrent clients; default 4.
	Workers int
	// MaxOps bounds the operations per worker; default 2000.
	MaxOps int
	// Pause is the think time between two operations of a worker; default
	// 10 ms.
	Pause time.Duration
	// Batch is the largest number of documents in one upsert; default 1.
	Batch int
	// Mix gives the shares of upserts, deletes and strong reads; the rest
	// are eventual reads. Zero means 0.45, 0.05, 0.35.
	Mix [3]float64
	// Seed seeds the workers' choices.
	Seed uint64

	version atomic.Int64
	mu      sync.Mutex
	hold    bool
	mix     *[3]float64
}

// Hold stops (true) or resumes (false) issuing operations; operations in
// flight finish.
func (l *Load) Hold(on bool) {
	l.mu.Lock()
	l.hold = on
	l.mu.Unlock()
}

// SetMix changes the operation mix of a running load (see Mix).
func (l *Load) SetMix(m [3]float64) {
	l.mu.Lock()
	l.mix = &m
	l.mu.Unlock()
}

func (l *Load) state() (bool, [3]float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mix != nil {
		return l.hold, *l.mix
	}
	return l.hold, l.Mix
}

// Run runs the workers until ctx is done or each did MaxOps operations
// (time spent held does not count).
func (l *Load) Run(ctx context.Context) {
	if l.Workers == 0 {
		l.Workers = 4
	}
	if l.MaxOps == 0 {
		l.MaxOps = 2000
	}
	if l.Pause == 0 {
		l.Pause = 10 * time.Millisecond
	}
	if l.Batch == 0 {
		l.Batch = 1
	}
	if l.Mix == [3]float64{} {
		l.Mix = [3]float64{0.45, 0.05, 0.35}
	}
	var wg sync.WaitGroup
	for w := 0; w < l.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(l.Seed, uint64(w)))
			for i := 0; i < l.MaxOps && ctx.Err() == nil; i++ {
				pause := l.Pause
				switch st := l.step(ctx, w, r); st {
				case -1:
					// held: not an operation
					i--
					pause = 100 * time.Millisecond
				case 0:
					// no answer: do not spin while the coordinator is down
					pause = 200 * time.Millisecond
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	wg.Wait()
}

// NextVersion returns a version never used before by this load.
func (l *Load) NextVersion() int64 { return l.version.Add(1) }

// step runs one operation and returns its HTTP status (0: no answer).
func (l *Load) step(ctx context.Context, client int, r *rand.Rand) int {
	hold, mix := l.state()
	if hold {
		return -1
	}
	x := r.Float64()
	switch {
	case x < mix[0]:
		n := 1 + r.IntN(l.Batch)
		keys := map[string]bool{}
		for len(keys) < min(n, l.W.Keys) {
			keys[l.W.Key(r.IntN(l.W.Keys))] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		vs := make([]int64, len(ks))
		for i := range ks {
			vs[i] = l.NextVersion()
		}
		return Upsert(ctx, l.HTTP, l.H, client, l.W, ks, vs)
	case x < mix[0]+mix[1]:
		return Delete(ctx, l.HTTP, l.H, client, l.W, l.W.Key(r.IntN(l.W.Keys)))
	case x < mix[0]+mix[1]+mix[2]:
		_, st := Read(ctx, l.HTTP, l.H, client, l.W, l.W.Key(r.IntN(l.W.Keys)), true)
		return st
	default:
		_, st := Read(ctx, l.HTTP, l.H, client, l.W, l.W.Key(r.IntN(l.W.Keys)), false)
		return st
	}
}

// writeOutcome classifies a write's answer.
func writeOutcome(status int, raw []byte) string {
	switch {
	case status == http.StatusOK:
		return Acked
	case status >= 400 && status < 500:
		return Failed
	case status == 0 && strings.Contains(string(raw), "connection refused"):
		// never sent
		return Failed
	}
	return Unknown
}

// Upsert writes versions vs of keys in one request and records one op per
// key.
func Upsert(ctx context.Context, h API, hist *History, client int, w Workload, keys []string, vs []int64) int {
	docs := make([]api.Document, len(keys))
	for i := range keys {
		docs[i] = w.Doc(keys[i], vs[i])
	}
	call := hist.Now()
	st, raw := h.Do(ctx, "POST", "/v1/collections/"+w.Collection+"/documents", api.UpsertRequest{Documents: docs}, nil)
	ret := hist.Now()
	out := writeOutcome(st, raw)
	for i := range keys {
		hist.Add(Op{Client: client, Kind: OpWrite, Key: keys[i], Value: vs[i], Call: call, Return: ret, Outcome: out, Status: st})
	}
	return st
}

// Delete deletes key and records it.
func Delete(ctx context.Context, h API, hist *History, client int, w Workload, key string) int {
	call := hist.Now()
	st, raw := h.Do(ctx, "DELETE", "/v1/collections/"+w.Collection+"/documents/"+url.PathEscape(key), nil, nil)
	ret := hist.Now()
	hist.Add(Op{Client: client, Kind: OpDelete, Key: key, Call: call, Return: ret, Outcome: writeOutcome(st, raw), Status: st})
	return st
}

// ReadValue reads key's version: found reports whether the read answered
// (200 or 404).
func ReadValue(ctx context.Context, h API, w Workload, key string, strong bool) (v int64, status int, found bool) {
	path := "/v1/collections/" + w.Collection + "/documents/" + url.PathEscape(key)
	if strong {
		path += "?consistency=strong"
	}
	var doc api.Document
	st, _ := h.Do(ctx, "GET", path, nil, &doc)
	switch st {
	case http.StatusOK:
		f, _ := doc.Attributes["v"].(float64)
		return int64(f), st, true
	case http.StatusNotFound:
		return 0, st, true
	}
	return 0, st, false
}

// Read reads key and records the read when it answered (200 or 404); it
// returns the version read and the HTTP status (0: no answer).
func Read(ctx context.Context, h API, hist *History, client int, w Workload, key string, strong bool) (int64, int) {
	call := hist.Now()
	v, st, ok := ReadValue(ctx, h, w, key, strong)
	ret := hist.Now()
	if !ok {
		hist.ReadFailed()
		return 0, st
	}
	kind := OpEventualRead
	if strong {
		kind = OpStrongRead
	}
	hist.Add(Op{Client: client, Kind: kind, Key: key, Value: v, Call: call, Return: ret, Outcome: Acked, Status: st})
	return v, st
}

// Answered reports whether a read's status carries a value (200, or 404 for
// absent).
func Answered(status int) bool {
	return status == http.StatusOK || status == http.StatusNotFound
}
