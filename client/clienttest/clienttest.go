package clienttest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"

	"github.com/shoal-search/shoal/api"
)

// Server is an in-memory shoal API on an httptest.Server. Its methods are
// safe for concurrent use with the requests it serves.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	cols     map[string]*collection
	seq      uint64
	failures []int
	requests int
}

type collection struct {
	info api.Collection
	docs map[string]api.Document
}

// NewServer starts a Server with no collections. Close it when done.
func NewServer() *Server {
	s := &Server{cols: make(map[string]*collection)}
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/health", s.health)
	m.HandleFunc("GET /v1/cluster", s.cluster)
	m.HandleFunc("POST /v1/collections", s.create)
	m.HandleFunc("GET /v1/collections", s.list)
	m.HandleFunc("GET /v1/collections/{name}", s.describe)
	m.HandleFunc("DELETE /v1/collections/{name}", s.drop)
	m.HandleFunc("POST /v1/collections/{name}/documents", s.upsert)
	m.HandleFunc("GET /v1/collections/{name}/documents/{id}", s.get)
	m.HandleFunc("DELETE /v1/collections/{name}/documents/{id}", s.del)
	m.HandleFunc("POST /v1/collections/{name}/search", s.search)
	m.HandleFunc("POST /v1/collections/{name}/seal", s.seal)
	m.HandleFunc("POST /v1/collections/{name}/compact", s.seal)
	s.Server = httptest.NewServer(s.inject(m))
	return s
}

// FailNext makes the next len(statuses) requests fail with these statuses,
// in order, before they reach the API (503 answers carry Retry-After: 0).
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, statuses...)
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Documents returns how many documents the collection holds, or -1 if it
// does not exist.
func (s *Server) Documents(collection string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cols[collection]; ok {
		return len(c.docs)
	}
	return -1
}

func (s *Server) inject(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		status := 0
		if len(s.failures) > 0 {
			status, s.failures = s.failures[0], s.failures[1:]
		}
		s.mu.Unlock()
		if status != 0 {
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "0")
			}
			fail(w, status, "", "injected failure")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func fail(w http.ResponseWriter, status int, field, format string, a ...any) {
	reply(w, status, api.ErrorResponse{Error: api.ErrorBody{Code: api.CodeForStatus(status), Message: fmt.Sprintf(format, a...), Field: field}})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "", "malformed JSON: %v", err)
		return false
	}
	return true
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, api.Health{Status: "ok"})
}

func (s *Server) cluster(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := api.ClusterStatus{Nodes: []api.NodeStatus{
		{ID: "node-1", RaftAddr: "127.0.0.1:7801", Alive: true},
		{ID: "node-2", RaftAddr: "127.0.0.1:7802", Alive: true},
		{ID: "node-3", RaftAddr: "127.0.0.1:7803", Alive: true},
	}}
	for _, name := range s.names() {
		c := s.cols[name]
		for _, p := range c.info.Placement {
			sh := api.ShardStatus{Collection: name, Shard: p.Shard}
			for _, n := range p.Replicas {
				role := "follower"
				if n == p.Leader {
					role = "leader"
				}
				sh.Replicas = append(sh.Replicas, api.ReplicaStatus{Node: n, Role: role, Term: 1, AppliedIndex: s.seq, LastIndex: s.seq, Documents: len(c.docs)})
			}
			st.Shards = append(st.Shards, sh)
		}
	}
	reply(w, http.StatusOK, st)
}

func (s *Server) names() []string {
	names := make([]string, 0, len(s.cols))
	for n := range s.cols {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var spec api.CollectionSpec
	if !decode(w, r, &spec) {
		return
	}
	switch {
	case spec.Name == "":
		fail(w, http.StatusBadRequest, "name", "required")
		return
	case spec.Sparse == nil && spec.Dense == nil && spec.Multivector == nil:
		fail(w, http.StatusBadRequest, "", "at least one of sparse, dense and multivector is required")
		return
	case spec.Shards < 0 || spec.Shards > api.MaxShards:
		fail(w, http.StatusBadRequest, "shards", "must be in [1, %d]", api.MaxShards)
		return
	}
	if spec.Shards == 0 {
		spec.Shards = 1
	}
	if spec.Replication == 0 {
		spec.Replication = 3
	}
	if spec.Dense != nil && spec.Dense.Metric == "" {
		spec.Dense.Metric = api.MetricCosine
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cols[spec.Name]; ok {
		fail(w, http.StatusConflict, "name", "collection %q exists", spec.Name)
		return
	}
	c := &collection{info: api.Collection{CollectionSpec: spec}, docs: make(map[string]api.Document)}
	for i := range spec.Shards {
		p := api.ShardPlacement{Shard: i}
		for j := range min(spec.Replication, 3) {
			p.Replicas = append(p.Replicas, "node-"+strconv.Itoa((i+j)%3+1))
		}
		p.Leader = p.Replicas[0]
		c.info.Placement = append(c.info.Placement, p)
	}
	s.cols[spec.Name] = c
	reply(w, http.StatusCreated, c.info)
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := api.CollectionList{Collections: []api.Collection{}}
	for _, n := range s.names() {
		out.Collections = append(out.Collections, s.cols[n].info)
	}
	reply(w, http.StatusOK, out)
}

// lookup returns the named collection with s.mu held, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*collection, bool) {
	s.mu.Lock()
	c, ok := s.cols[r.PathValue("name")]
	if !ok {
		s.mu.Unlock()
		fail(w, http.StatusNotFound, "", "collection %q does not exist", r.PathValue("name"))
	}
	return c, ok
}

func (s *Server) describe(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	reply(w, http.StatusOK, c.info)
}

func (s *Server) drop(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.lookup(w, r); !ok {
		return
	}
	defer s.mu.Unlock()
	delete(s.cols, r.PathValue("name"))
	reply(w, http.StatusOK, struct{}{})
}

// seal answers seal and compact: every shard reports one ready segment
// holding all the collection's documents (the server keeps no segments).
func (s *Server) seal(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	out := c.info
	out.Placement = append([]api.ShardPlacement(nil), c.info.Placement...)
	for i := range out.Placement {
		out.Placement[i].Segments = []api.Segment{{ID: 1, Docs: len(c.docs), State: "ready"}}
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) token() string {
	s.seq++
	return "0:" + strconv.FormatUint(s.seq, 10)
}

func (s *Server) upsert(w http.ResponseWriter, r *http.Request) {
	var req api.UpsertRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Documents) == 0 {
		fail(w, http.StatusBadRequest, "documents", "empty batch")
		return
	}
	if len(req.Documents) > api.MaxBatch {
		fail(w, http.StatusRequestEntityTooLarge, "documents", "%d documents, at most %d", len(req.Documents), api.MaxBatch)
		return
	}
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	for i, d := range req.Documents {
		if field, msg := check(c.info.CollectionSpec, d); field != "" {
			fail(w, http.StatusBadRequest, fmt.Sprintf("documents[%d].%s", i, field), "%s", msg)
			return
		}
	}
	for _, d := range req.Documents {
		c.docs[d.ID] = d
	}
	reply(w, http.StatusOK, api.WriteResponse{Upserted: len(req.Documents), Token: s.token()})
}

// check returns the field and message of the first problem of d.
func check(spec api.CollectionSpec, d api.Document) (string, string) {
	if d.ID == "" {
		return "id", "required"
	}
	if d.Sparse != nil {
		if spec.Sparse == nil {
			return "sparse", "the collection has no sparse field"
		}
		if len(d.Sparse.Indices) != len(d.Sparse.Values) {
			return "sparse.values", "length differs from indices"
		}
		for i, t := range d.Sparse.Indices {
			if t >= spec.Sparse.MaxTerm {
				return fmt.Sprintf("sparse.indices[%d]", i), "term id out of range"
			}
			if i > 0 && t <= d.Sparse.Indices[i-1] {
				return fmt.Sprintf("sparse.indices[%d]", i), "not strictly ascending"
			}
		}
	}
	if d.Dense != nil {
		if spec.Dense == nil {
			return "dense", "the collection has no dense field"
		}
		if len(d.Dense) != spec.Dense.Dim {
			return "dense", fmt.Sprintf("dimension %d, want %d", len(d.Dense), spec.Dense.Dim)
		}
	}
	return "", ""
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("consistency") {
	case "", api.ConsistencyEventual, api.ConsistencyStrong:
	default:
		fail(w, http.StatusBadRequest, "consistency", "unknown level %q", r.URL.Query().Get("consistency"))
		return
	}
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	d, ok := c.docs[r.PathValue("id")]
	if !ok {
		fail(w, http.StatusNotFound, "", "document %q does not exist", r.PathValue("id"))
		return
	}
	reply(w, http.StatusOK, d)
}

func (s *Server) del(w http.ResponseWriter, r *http.Request) {
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	n := 0
	if _, ok := c.docs[r.PathValue("id")]; ok {
		delete(c.docs, r.PathValue("id"))
		n = 1
	}
	reply(w, http.StatusOK, api.WriteResponse{Deleted: n, Token: s.token()})
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	var req api.SearchRequest
	if !decode(w, r, &req) {
		return
	}
	if req.K == 0 {
		req.K = 10
	}
	if c := req.Consistency; c != nil && c.Token == "" && c.Level != api.ConsistencyEventual && c.Level != api.ConsistencyStrong {
		fail(w, http.StatusBadRequest, "consistency", "unknown level %q", c.Level)
		return
	}
	if req.K < 0 || req.K > api.MaxK {
		fail(w, http.StatusBadRequest, "k", "must be in [1, %d]", api.MaxK)
		return
	}
	if req.Sparse == nil && req.Dense == nil && req.Multivector == nil {
		fail(w, http.StatusBadRequest, "", "at least one of sparse, dense and multivector is required")
		return
	}
	if req.Sparse != nil && len(req.Sparse.Indices) != len(req.Sparse.Values) {
		fail(w, http.StatusBadRequest, "sparse.values", "length differs from indices")
		return
	}
	c, ok := s.lookup(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if req.Dense != nil && (c.info.Dense == nil || len(req.Dense) != c.info.Dense.Dim) {
		fail(w, http.StatusBadRequest, "dense", "wrong dimension %d", len(req.Dense))
		return
	}
	hits := []api.Hit{}
	for id, d := range c.docs {
		if !matches(d.Attributes, req.Filter) {
			continue
		}
		var score float64
		if req.Sparse != nil && d.Sparse != nil {
			score += sparseDot(req.Sparse, d.Sparse)
		}
		if req.Dense != nil && d.Dense != nil {
			score += denseScore(c.info.Dense.Metric, req.Dense, d.Dense)
		}
		hits = append(hits, api.Hit{ID: id, Score: float32(score)})
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	if len(hits) > req.K {
		hits = hits[:req.K]
	}
	n := len(c.info.Placement)
	reply(w, http.StatusOK, api.SearchResponse{Hits: hits, Coverage: api.Coverage{Shards: n, Answered: n}})
}

// matches applies equality filters, comparing values as formatted text.
func matches(attrs, filter map[string]any) bool {
	for k, want := range filter {
		got, ok := attrs[k]
		if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
			return false
		}
	}
	return true
}

func sparseDot(a, b *api.SparseVector) float64 {
	var s float64
	i, j := 0, 0
	for i < len(a.Indices) && j < len(b.Indices) {
		switch {
		case a.Indices[i] < b.Indices[j]:
			i++
		case a.Indices[i] > b.Indices[j]:
			j++
		default:
			s += float64(a.Values[i]) * float64(b.Values[j])
			i++
			j++
		}
	}
	return s
}

func denseScore(metric string, a, b []float32) float64 {
	var dot, na, nb, l2 float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
		l2 += (x - y) * (x - y)
	}
	switch metric {
	case api.MetricL2:
		return -l2
	case api.MetricIP:
		return dot
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
