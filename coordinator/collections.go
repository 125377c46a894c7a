package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/internal/wire"
)

func (c *Coordinator) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := c.ready(ctx); err != nil {
		h := api.Health{Status: err.Error()}
		var d *degradedError
		if errors.As(err, &d) {
			h = api.Health{Status: "degraded", Shards: d.shards}
		}
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
}

// degradedError names the shards that cannot commit writes.
type degradedError struct{ shards []api.ShardHealth }

func (e *degradedError) Error() string {
	return fmt.Sprintf("degraded: %d shards cannot commit (%s/%d: %s first)", len(e.shards), e.shards[0].Collection, e.shards[0].Shard, e.shards[0].Reason)
}

// ready reports why writes cannot be served yet (a *degradedError when some
// shards cannot commit), or nil.
func (c *Coordinator) ready(ctx context.Context) error {
	if !c.cfg.NATS.IsConnected() {
		return errors.New("nats disconnected")
	}
	nodes, err := c.cfg.Meta.Nodes(ctx)
	if err != nil {
		return errors.New("etcd unreachable")
	}
	if len(nodes) == 0 {
		return errors.New("no live nodes")
	}
	cols, _, err := c.cfg.Meta.ListCollections(ctx)
	if err != nil {
		return errors.New("etcd unreachable")
	}
	if len(cols) == 0 {
		return nil
	}
	st := c.clusterStatus(ctx, nodes, cols)
	var bad []api.ShardHealth
	for _, sh := range st.Shards {
		if reason := commitProblem(sh); reason != "" {
			bad = append(bad, api.ShardHealth{Collection: sh.Collection, Shard: sh.Shard, Reason: reason})
		}
	}
	if len(bad) > 0 {
		return &degradedError{shards: bad}
	}
	return nil
}

// commitProblem says why a shard cannot commit writes, or "". A leader that
// loses its quorum steps down after raft's leader lease, so a shard whose
// leader is paused or cut off shows no leader; one that answers as leader in
// an older term than another replica's is stale.
func commitProblem(sh api.ShardStatus) string {
	var lead *api.ReplicaStatus
	var maxTerm uint64
	for i, r := range sh.Replicas {
		maxTerm = max(maxTerm, r.Term)
		if r.Role == "leader" && (lead == nil || r.Term > lead.Term) {
			lead = &sh.Replicas[i]
		}
	}
	switch {
	case lead == nil:
		return "no leader"
	case lead.Term < maxTerm:
		return "stale leader"
	}
	return ""
}

func leaderOf(sh api.ShardStatus) string {
	for _, r := range sh.Replicas {
		if r.Role == "leader" {
			return r.Node
		}
	}
	return ""
}

// clusterStatus asks every live node for the raft state of its replicas.
func (c *Coordinator) clusterStatus(ctx context.Context, nodes []meta.Node, cols []meta.Collection) api.ClusterStatus {
	out := api.ClusterStatus{Nodes: make([]api.NodeStatus, 0, len(nodes)), Shards: []api.ShardStatus{}}
	replies := make([]*wire.StatusResponse, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		out.Nodes = append(out.Nodes, api.NodeStatus{ID: n.ID, RaftAddr: n.RaftAddr, Alive: true})
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			b, _ := proto.Marshal(&wire.StatusRequest{Version: wire.Version})
			msg, err := c.cfg.NATS.RequestWithContext(rctx, wire.StatusSubject(n.ID), b)
			if err != nil {
				return
			}
			var resp wire.StatusResponse
			if proto.Unmarshal(msg.Data, &resp) == nil {
				replies[i] = &resp
			}
		}()
	}
	wg.Wait()
	type key struct {
		col   string
		shard int
	}
	got := map[key]map[string]*wire.ReplicaStatus{}
	for _, r := range replies {
		if r == nil {
			continue
		}
		for _, rs := range r.Replicas {
			k := key{rs.Collection, int(rs.Shard)}
			if got[k] == nil {
				got[k] = map[string]*wire.ReplicaStatus{}
			}
			got[k][r.Node] = rs
		}
	}
	for _, col := range cols {
		for s, replicas := range col.Placement {
			sh := api.ShardStatus{Collection: col.Spec.Name, Shard: s}
			for _, node := range replicas {
				rs := got[key{col.Spec.Name, s}][node]
				if rs == nil {
					sh.Replicas = append(sh.Replicas, api.ReplicaStatus{Node: node, Role: "unknown", Error: "no answer"})
					continue
				}
				rep := api.ReplicaStatus{Node: node, Role: rs.Role, Term: rs.Term,
					AppliedIndex: rs.AppliedIndex, LastIndex: rs.LastIndex, Documents: int(rs.Documents)}
				for _, sg := range rs.Segments {
					rep.Segments = append(rep.Segments, segmentFromWire(sg))
				}
				sh.Replicas = append(sh.Replicas, rep)
			}
			out.Shards = append(out.Shards, sh)
		}
	}
	return out
}

func (c *Coordinator) handleCluster(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	nodes, err := c.cfg.Meta.Nodes(ctx)
	if err != nil {
		c.fail(w, "cluster", unavailable("etcd: %v", err))
		return
	}
	cols, _, err := c.cfg.Meta.ListCollections(ctx)
	if err != nil {
		c.fail(w, "cluster", unavailable("etcd: %v", err))
		return
	}
	c.ok(w, "cluster", http.StatusOK, c.clusterStatus(ctx, nodes, cols), start)
}

func (c *Coordinator) handleCreate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var spec api.CollectionSpec
	if err := decodeBody(w, r, &spec); err != nil {
		c.fail(w, "create", err)
		return
	}
	ctx := r.Context()
	nodes, err := c.cfg.Meta.Nodes(ctx)
	if err != nil {
		c.fail(w, "create", unavailable("etcd: %v", err))
		return
	}
	if err := checkSpec(&spec, len(nodes)); err != nil {
		c.fail(w, "create", err)
		return
	}
	col := meta.Collection{Spec: spec, UID: newUID(), Placement: place(nodes, spec.Shards, spec.Replication), Created: time.Now().UTC()}
	if err := c.cfg.Meta.CreateCollection(ctx, col); err != nil {
		if errors.Is(err, meta.ErrExists) {
			c.fail(w, "create", &apiError{status: http.StatusConflict, body: api.ErrorBody{Code: api.CodeConflict, Field: "name", Message: "collection " + spec.Name + " already exists"}})
			return
		}
		c.fail(w, "create", unavailable("etcd: %v", err))
		return
	}
	c.mu.Lock()
	c.cache[spec.Name] = col
	c.mu.Unlock()
	// Wait until every shard has a leader, so the first write succeeds at once.
	wctx, cancel := context.WithTimeout(ctx, c.cfg.CreateWait)
	defer cancel()
	desc := c.describe(wctx, col)
	for !allLed(desc) && wctx.Err() == nil {
		select {
		case <-wctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		desc = c.describe(wctx, col)
	}
	c.ok(w, "create", http.StatusCreated, desc, start)
}

func allLed(c api.Collection) bool {
	for _, p := range c.Placement {
		if p.Leader == "" {
			return false
		}
	}
	return true
}

// place spreads the replicas of each shard over the live nodes round-robin,
// starting each shard one node further, so that leaders and load spread.
func place(nodes []meta.Node, shards, rf int) [][]string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	sort.Strings(ids)
	p := make([][]string, shards)
	for s := range p {
		for r := 0; r < rf; r++ {
			p[s] = append(p[s], ids[(s+r)%len(ids)])
		}
	}
	return p
}

func newUID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// describe returns a collection with its placement and current leaders.
func (c *Coordinator) describe(ctx context.Context, col meta.Collection) api.Collection {
	out := api.Collection{CollectionSpec: col.Spec}
	var st api.ClusterStatus
	if nodes, err := c.cfg.Meta.Nodes(ctx); err == nil {
		st = c.clusterStatus(ctx, nodes, []meta.Collection{col})
	}
	for s, replicas := range col.Placement {
		p := api.ShardPlacement{Shard: s, Replicas: replicas}
		if s < len(st.Shards) {
			p.Leader = leaderOf(st.Shards[s])
			for _, r := range st.Shards[s].Replicas {
				if r.Node == p.Leader {
					p.Segments = r.Segments
				}
			}
		}
		out.Placement = append(out.Placement, p)
	}
	return out
}

func (c *Coordinator) handleList(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cols, _, err := c.cfg.Meta.ListCollections(r.Context())
	if err != nil {
		c.fail(w, "list", unavailable("etcd: %v", err))
		return
	}
	out := api.CollectionList{Collections: make([]api.Collection, 0, len(cols))}
	for _, col := range cols {
		out.Collections = append(out.Collections, c.describe(r.Context(), col))
	}
	c.ok(w, "list", http.StatusOK, out, start)
}

func (c *Coordinator) handleDescribe(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	col, err := c.cfg.Meta.GetCollection(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, "describe", metaErr(err))
		return
	}
	c.ok(w, "describe", http.StatusOK, c.describe(r.Context(), col), start)
}

func (c *Coordinator) handleDrop(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	if err := c.cfg.Meta.DeleteCollection(r.Context(), name); err != nil {
		c.fail(w, "drop", metaErr(err))
		return
	}
	c.mu.Lock()
	delete(c.cache, name)
	c.mu.Unlock()
	c.ok(w, "drop", http.StatusOK, struct{}{}, start)
}

func metaErr(err error) error {
	if errors.Is(err, meta.ErrNotFound) {
		return notFound("%v", err)
	}
	return unavailable("etcd: %v", err)
}

// handleControl asks every shard's leader to seal its write buffer or to
// compact its segments, and answers with the collection's description.
func (c *Coordinator) handleControl(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		col, err := c.collection(r.Context(), r.PathValue("name"))
		if err != nil {
			c.fail(w, op, metaErr(err))
			return
		}
		errs := make([]error, len(col.Placement))
		var wg sync.WaitGroup
		for s := range col.Placement {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &wire.WriteRequest{Version: wire.Version, Control: op}
				var resp wire.WriteResponse
				errs[s] = c.withRetry(r.Context(), op, c.cfg.WriteTimeout, c.cfg.WriteTimeout, func(actx context.Context) error {
					resp.Reset()
					if err := c.call(actx, wire.WriteSubject(col.Spec.Name, s), nil, req, &resp); err != nil {
						return err
					}
					if resp.Error != nil {
						return fromWire(resp.Error)
					}
					if resp.Index > 0 {
						c.observe(col, s, resp.Index)
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for s, err := range errs {
			if err != nil {
				c.fail(w, op, wrapShard(s, err))
				return
			}
		}
		c.ok(w, op, http.StatusOK, c.describe(r.Context(), col), start)
	}
}

// segmentFromWire converts a node's segment status.
func segmentFromWire(sg *wire.SegmentStatus) api.Segment {
	out := api.Segment{ID: sg.Id, Docs: int(sg.Docs), Deleted: int(sg.Deleted), Bytes: int64(sg.Bytes), State: sg.State}
	if sp := sg.Sparse; sp != nil {
		out.Sparse = &api.SparseCalibration{Calibrated: sp.Calibrated, Target: sp.Target, ExpectedRecall: sp.ExpectedRecall,
			QueryCut: int(sp.QueryCut), HeapFactor: sp.HeapFactor, KNN: sp.Knn, Exact: sp.Calibrated && !sp.Reached,
			ExactPreferred: sp.ExactPreferred, Speedup: sp.Speedup, Flatness: sp.Flatness, Alpha: sp.Alpha, KeptShare: sp.KeptShare}
	}
	return out
}
