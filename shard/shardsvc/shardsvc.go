// Package shardsvc serves a node's shard replicas over NATS: it decodes wire
// requests, runs searches and gets on the engine, and proposes writes through
// the replica's raft group.
//
// Every attached replica joins its shard's queue groups for searches and gets,
// so NATS spreads reads over the replicas. Only the raft leader subscribes the
// write and strong-read subjects; SetLeader moves those subscriptions when
// leadership changes. The consistency of reads (Reader: eventual, session
// token, strong) and the proposal of writes (Writer) live in transport-free
// types that the NATS handlers call; each request's deadline travels in the
// wire.BudgetHeader header.
//
//	svc, _ := shardsvc.New(shardsvc.Config{NodeID: "n1", Conn: nc})
//	_ = svc.Attach("docs", 0, engine, replica)
//	svc.SetLeader("docs", 0, true)
package shardsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-search/shoal/internal/wire"
	"github.com/shoal-search/shoal/shard"
)

// Replica is one shard replica's replicated log, as the service uses it.
// Implementations must be safe for concurrent use.
type Replica interface {
	// Propose replicates cmd and returns its log index and the engine's
	// answer once it is committed and applied on this (leader) replica.
	Propose(ctx context.Context, cmd []byte) (index uint64, resp []byte, err error)
	// IsLeader reports whether this replica leads its group.
	IsLeader() bool
	// AppliedIndex is the last log index the replica has applied, counting
	// every entry (commands, barriers, no-ops, membership changes).
	AppliedIndex() uint64
	// WaitApplied returns once AppliedIndex() >= index, woken by the replica
	// (no polling), or with the context's error.
	WaitApplied(ctx context.Context, index uint64) error
	// Barrier confirms leadership and waits until every committed entry is
	// applied.
	Barrier(ctx context.Context) error
	// Status reports the replica's raft state.
	Status() RaftStatus
	// ReadFloor is the log index every read waits for: the last index the
	// replica held when it was opened, so that a restarted replica does not
	// answer from a state older than the one it had before; 0 once it has
	// caught up to it.
	ReadFloor() uint64
}

// RaftStatus is the raft state of a replica.
type RaftStatus struct {
	Role         string
	Term         uint64
	LastIndex    uint64
	AppliedIndex uint64
	Leader       string
}

// Config configures a Service.
type Config struct {
	// NodeID names this node in answers and status. Required.
	NodeID string
	// Conn is the NATS connection. Required.
	Conn *nats.Conn
	// Logger receives the service's logs; default discard.
	Logger *slog.Logger
	// WriteTimeout bounds a proposal; default 10s.
	WriteTimeout time.Duration
	// ReadWaitTimeout bounds how long a read waits for a consistency token or
	// a barrier; default 5s.
	ReadWaitTimeout time.Duration
	// MaxConcurrent bounds the requests handled at once; default 64.
	MaxConcurrent int
	// MaintainEvery is how often a leader checks whether its shard needs a
	// seal, a compaction or an activation; default 1s.
	MaintainEvery time.Duration
	// MaxEntryBytes caps the size of one raft entry: a write whose
	// operations add up to more is proposed as several entries (see
	// proposeOps). Default DefaultMaxEntryBytes (4 MiB); negative: no cap.
	MaxEntryBytes int
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("shardsvc: NodeID is required")
	}
	if c.Conn == nil {
		return errors.New("shardsvc: Conn is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReadWaitTimeout <= 0 {
		c.ReadWaitTimeout = 5 * time.Second
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 64
	}
	if c.MaintainEvery <= 0 {
		c.MaintainEvery = time.Second
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	return nil
}

// Service serves the replicas attached to it.
type Service struct {
	cfg       Config
	sem       chan struct{}
	statusSub *nats.Subscription
	wg        sync.WaitGroup
	stop      chan struct{}

	mu       sync.Mutex
	replicas map[key]*attached
	closed   bool

	// forwards counts reads passed to a leader by a follower behind it.
	forwards atomic.Int64
}

// Forwards returns how many reads this service passed to a leader because
// its replica was behind (see shouldForward).
func (s *Service) Forwards() int64 { return s.forwards.Load() }

type key struct {
	collection string
	shard      int
}

type attached struct {
	key    key
	eng    *shard.Shard
	rep    Replica
	reader Reader
	writer Writer
	reads  []*nats.Subscription
	leader []*nats.Subscription
	isLead bool
	// maintaining is set while a seal or compaction proposal is in flight.
	maintaining atomic.Bool
}

// New starts a service and its status endpoint.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), replicas: map[key]*attached{}, stop: make(chan struct{})}
	sub, err := cfg.Conn.Subscribe(wire.StatusSubject(cfg.NodeID), s.handleStatus)
	if err != nil {
		return nil, fmt.Errorf("shardsvc: subscribe status: %w", err)
	}
	s.statusSub = sub
	s.wg.Add(1)
	go s.maintainLoop()
	return s, nil
}

// maintainLoop has every leader replica seal and compact when due.
func (s *Service) maintainLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.MaintainEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		var leaders []*attached
		for _, a := range s.replicas {
			if a.isLead {
				leaders = append(leaders, a)
			}
		}
		s.mu.Unlock()
		for _, a := range leaders {
			s.maintain(a, "")
		}
	}
}

// maintain proposes a seal when the write buffer is due (or force is "seal")
// and a compaction when segments are due (or force is "compact"). At most
// one maintenance proposal per replica runs at a time. It returns the index
// of the last proposal, or 0.
func (s *Service) maintain(a *attached, force string) (uint64, error) {
	if !a.maintaining.CompareAndSwap(false, true) {
		return 0, nil
	}
	defer a.maintaining.Store(false)
	if !a.rep.IsLeader() {
		return 0, errors.New("not the leader")
	}
	var last uint64
	propose := func(op shard.Op) error {
		cmd, err := shard.EncodeBatch(shard.Batch{Ops: []shard.Op{op}})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		defer cancel()
		idx, _, err := a.rep.Propose(ctx, cmd)
		if err == nil {
			last = idx
		}
		return err
	}
	if force == "seal" || a.eng.SealDue() {
		if err := propose(shard.Op{Seal: true}); err != nil {
			return last, err
		}
	}
	ids := a.eng.CompactionDue()
	if force == "compact" && len(ids) == 0 {
		ids = a.eng.AllBuilt()
	}
	if len(ids) > 0 {
		if err := propose(shard.Op{Compact: ids}); err != nil {
			return last, err
		}
	}
	// the leader's own builds are done: every replica switches to those
	// indexes at this log index
	if ids := a.eng.ActivationDue(); len(ids) > 0 {
		if err := propose(shard.Op{Activate: ids}); err != nil {
			return last, err
		}
	}
	return last, nil
}

// Attach starts serving reads of a replica.
func (s *Service) Attach(collection string, shardN int, eng *shard.Shard, rep Replica) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("shardsvc: closed")
	}
	k := key{collection, shardN}
	if _, ok := s.replicas[k]; ok {
		return fmt.Errorf("shardsvc: %s/%d already attached", collection, shardN)
	}
	a := &attached{key: k, eng: eng, rep: rep,
		reader: Reader{Rep: rep, Wait: s.cfg.ReadWaitTimeout}, writer: Writer{Rep: rep, Timeout: s.cfg.WriteTimeout}}
	q := wire.QueueGroup(collection, shardN)
	for subj, h := range map[string]func(*attached, *nats.Msg){
		wire.SearchSubject(collection, shardN): s.handleSearch,
		wire.GetSubject(collection, shardN):    s.handleGet,
	} {
		sub, err := s.cfg.Conn.QueueSubscribe(subj, q, s.dispatch(a, h))
		if err != nil {
			unsubscribe(a.reads)
			return fmt.Errorf("shardsvc: subscribe %s: %w", subj, err)
		}
		a.reads = append(a.reads, sub)
	}
	s.replicas[k] = a
	return nil
}

// SetLeader moves the leader-only subscriptions of a replica.
func (s *Service) SetLeader(collection string, shardN int, isLeader bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.replicas[key{collection, shardN}]
	if !ok || a.isLead == isLeader {
		return
	}
	a.isLead = isLeader
	if !isLeader {
		unsubscribe(a.leader)
		a.leader = nil
		return
	}
	// Not a queue group: while a paused or partitioned former leader still
	// holds its subscription, every request reaches the new leader too, and
	// the caller takes the first answer.
	for subj, h := range map[string]func(*attached, *nats.Msg){
		wire.WriteSubject(collection, shardN):  s.handleWrite,
		wire.StrongSubject(collection, shardN): s.handleStrong,
	} {
		sub, err := s.cfg.Conn.Subscribe(subj, s.dispatch(a, h))
		if err != nil {
			s.cfg.Logger.Error("subscribe leader subject", "subject", subj, "err", err)
			continue
		}
		a.leader = append(a.leader, sub)
	}
	s.cfg.Logger.Debug("leader subscriptions", "collection", collection, "shard", shardN, "node", s.cfg.NodeID)
}

// Detach stops serving a replica.
func (s *Service) Detach(collection string, shardN int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key{collection, shardN}
	if a, ok := s.replicas[k]; ok {
		unsubscribe(a.reads)
		unsubscribe(a.leader)
		delete(s.replicas, k)
	}
}

// Close unsubscribes everything and waits for requests in flight.
func (s *Service) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	for k, a := range s.replicas {
		unsubscribe(a.reads)
		unsubscribe(a.leader)
		delete(s.replicas, k)
	}
	s.mu.Unlock()
	err := s.statusSub.Unsubscribe()
	s.wg.Wait()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}

func unsubscribe(subs []*nats.Subscription) {
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
}

// dispatch runs h for each message on its own goroutine, at most
// MaxConcurrent at once, since NATS delivers a subscription's messages one
// at a time.
func (s *Service) dispatch(a *attached, h func(*attached, *nats.Msg)) nats.MsgHandler {
	return func(m *nats.Msg) {
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			h(a, m)
		}()
	}
}

func (s *Service) respond(m *nats.Msg, resp proto.Message) {
	b, err := proto.Marshal(resp)
	if err != nil {
		s.cfg.Logger.Error("marshal response", "err", err)
		return
	}
	if err := m.Respond(b); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.cfg.Logger.Debug("respond", "err", err)
	}
}

// errorFor translates an engine or raft error into a wire error.
func (s *Service) errorFor(a *attached, err error) *wire.Error {
	var fe *shard.FieldError
	switch {
	case errors.As(err, &fe):
		return &wire.Error{Code: wire.CodeBadRequest, Message: fe.Msg, Field: fe.Field}
	case errors.Is(err, shard.ErrInvalid), errors.Is(err, shard.ErrCorrupt):
		return &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &wire.Error{Code: wire.CodeTimeout, Message: err.Error()}
	case a != nil && (errors.Is(err, ErrNotLeader) || !a.rep.IsLeader()):
		return &wire.Error{Code: wire.CodeNotLeader, Message: err.Error(), Leader: a.rep.Status().Leader}
	}
	return &wire.Error{Code: wire.CodeInternal, Message: err.Error()}
}

func (s *Service) handleWrite(a *attached, m *nats.Msg) {
	var req wire.WriteRequest
	if err := proto.Unmarshal(m.Data, &req); err != nil {
		s.respond(m, &wire.WriteResponse{Error: &wire.Error{Code: wire.CodeBadRequest, Message: "decode write: " + err.Error()}})
		return
	}
	if req.Version != wire.Version {
		s.respond(m, &wire.WriteResponse{Error: &wire.Error{Code: wire.CodeBadVersion, Message: fmt.Sprintf("wire version %d, want %d", req.Version, wire.Version)}})
		return
	}
	if !a.rep.IsLeader() {
		s.respond(m, &wire.WriteResponse{Error: &wire.Error{Code: wire.CodeNotLeader, Message: "not the leader", Leader: a.rep.Status().Leader}})
		return
	}
	if req.Control != "" {
		if req.Control != "seal" && req.Control != "compact" {
			s.respond(m, &wire.WriteResponse{Error: &wire.Error{Code: wire.CodeBadRequest, Message: "unknown control " + req.Control}})
			return
		}
		// Wait for a maintenance proposal in flight to finish first.
		deadline := time.Now().Add(s.cfg.WriteTimeout)
		for a.maintaining.Load() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		idx, err := s.maintain(a, req.Control)
		if err != nil {
			s.respond(m, &wire.WriteResponse{Error: s.errorFor(a, err)})
			return
		}
		s.respond(m, &wire.WriteResponse{Index: idx})
		return
	}
	b := shard.Batch{Ops: make([]shard.Op, len(req.Ops))}
	schema := a.eng.Schema()
	for i, op := range req.Ops {
		if op.Upsert != nil {
			d := DocumentFromWire(op.Upsert)
			if err := schema.Validate(d); err != nil {
				var fe *shard.FieldError
				if errors.As(err, &fe) {
					err = &shard.FieldError{Field: fmt.Sprintf("documents[%d].%s", i, fe.Field), Msg: fe.Msg}
				}
				s.respond(m, &wire.WriteResponse{Error: s.errorFor(nil, err)})
				return
			}
			b.Ops[i] = shard.Op{Doc: d}
		} else {
			b.Ops[i] = shard.Op{DeleteID: op.DeleteId}
		}
	}
	if m.Header != nil && m.Header.Get(wire.AckHeader) != "" && m.Reply != "" {
		ack := &nats.Msg{Subject: m.Reply, Header: nats.Header{wire.AckHeader: []string{"accepted"}}}
		if err := s.cfg.Conn.PublishMsg(ack); err != nil {
			s.cfg.Logger.Debug("acknowledge write", "err", err)
		}
	}
	ctx, cancel := requestContext(m, s.cfg.WriteTimeout)
	defer cancel()
	index, res, err := s.proposeOps(ctx, a, req.Ops, b)
	if err != nil {
		s.respond(m, &wire.WriteResponse{Error: s.errorFor(a, err), Index: index})
		return
	}
	if a.eng.SealDue() && !a.maintaining.Load() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, _ = s.maintain(a, "")
		}()
	}
	s.respond(m, &wire.WriteResponse{Index: index, Upserted: uint32(res.Upserted), Deleted: uint32(res.Deleted)})
}

// requestContext returns a context that ends when the budget the request
// carries (wire.BudgetHeader) is spent, and at most limit from now.
func requestContext(m *nats.Msg, limit time.Duration) (context.Context, context.CancelFunc) {
	if m.Header != nil {
		if d, ok := wire.ParseBudget(m.Header.Get(wire.BudgetHeader)); ok && d < limit {
			limit = d
		}
	}
	return context.WithTimeout(context.Background(), limit)
}

// consistencyOf returns the consistency a read asks for.
func consistencyOf(minIndex uint64, strong bool) Consistency {
	switch {
	case strong:
		return Consistency{Level: Strong}
	case minIndex > 0:
		return Consistency{Level: Session, MinIndex: minIndex}
	}
	return Consistency{Level: Eventual}
}

// waitRead makes a read wait until the replica may answer it.
func (s *Service) waitRead(a *attached, m *nats.Msg, minIndex uint64, strong bool) error {
	ctx, cancel := requestContext(m, s.cfg.ReadWaitTimeout)
	defer cancel()
	return a.reader.Ready(ctx, consistencyOf(minIndex, strong))
}

func (s *Service) handleSearch(a *attached, m *nats.Msg) { s.search(a, m, false) }

func (s *Service) handleStrong(a *attached, m *nats.Msg) {
	// The strong subject carries searches and gets; a get request decodes
	// as a search with no vectors, so it is told apart by a header.
	if m.Header.Get("Shoal-Op") == "get" {
		s.get(a, m, m.Header.Get(forwardedHeader) == "")
		return
	}
	// a search forwarded by a lagging replica is an ordinary read
	s.search(a, m, m.Header.Get(forwardedHeader) == "")
}

func (s *Service) handleGet(a *attached, m *nats.Msg) { s.get(a, m, false) }

func (s *Service) search(a *attached, m *nats.Msg, strong bool) {
	var req wire.SearchRequest
	if err := proto.Unmarshal(m.Data, &req); err != nil {
		s.respond(m, &wire.SearchResponse{Error: &wire.Error{Code: wire.CodeBadRequest, Message: "decode search: " + err.Error()}})
		return
	}
	if req.Version != wire.Version {
		s.respond(m, &wire.SearchResponse{Error: &wire.Error{Code: wire.CodeBadVersion, Message: fmt.Sprintf("wire version %d, want %d", req.Version, wire.Version)}})
		return
	}
	if s.shouldForward(a, m, req.MinAppliedIndex, strong, true) && s.forward(a, m, false) {
		return
	}
	if err := s.waitRead(a, m, req.MinAppliedIndex, strong); err != nil {
		s.respond(m, &wire.SearchResponse{Error: s.errorFor(a, err)})
		return
	}
	ctx, cancel := requestContext(m, 30*time.Second)
	defer cancel()
	res, err := a.eng.Search(ctx, QueryFromWire(&req))
	if err != nil {
		s.respond(m, &wire.SearchResponse{Error: s.errorFor(nil, err)})
		return
	}
	out := &wire.SearchResponse{Node: s.cfg.NodeID, AppliedIndex: a.eng.AppliedIndex()}
	if req.Sparse != nil {
		out.Sparse = hitsToWire(res.Sparse)
	}
	if len(req.Dense) > 0 {
		out.Dense = hitsToWire(res.Dense)
	}
	if len(req.Multi) > 0 {
		out.Multi = hitsToWire(res.Multi)
	}
	s.respond(m, out)
}

// forwardedHeader marks a search that a lagging replica passed to its leader.
const forwardedHeader = "Shoal-Forwarded"

// shouldForward reports whether a follower should pass an eventual read to
// its leader instead of answering: when it has not applied the index the
// read must see (a write acknowledged through this coordinator, or its own
// pre-restart position), which the leader applied before acknowledging, so
// the read is answered at once instead of waiting for the follower to catch
// up; or, for searches, when it lags behind an activation (shard.Lagging)
// and its answer could differ from the other replicas'.
func (s *Service) shouldForward(a *attached, m *nats.Msg, minIndex uint64, strong, search bool) bool {
	if strong || m.Header.Get(forwardedHeader) != "" || a.rep.IsLeader() {
		return false
	}
	if a.reader.Behind(consistencyOf(minIndex, false)) {
		return true
	}
	return search && a.eng.Lagging()
}

// forward passes a read to the shard's leader and relays its answer. It
// reports false, and the replica answers itself, when the leader does not
// answer in time.
func (s *Service) forward(a *attached, m *nats.Msg, get bool) bool {
	fwd := nats.NewMsg(wire.StrongSubject(a.key.collection, a.key.shard))
	fwd.Data = m.Data
	for k, v := range m.Header {
		fwd.Header[k] = v
	}
	if get {
		// the leader's subject carries searches and gets alike
		fwd.Header.Set("Shoal-Op", "get")
	}
	fwd.Header.Set(forwardedHeader, "1")
	ctx, cancel := requestContext(m, s.cfg.ReadWaitTimeout)
	defer cancel()
	fwd.Header.Set(wire.BudgetHeader, wire.FormatBudget(deadlineOf(ctx)))
	reply, err := s.cfg.Conn.RequestMsgWithContext(ctx, fwd)
	if err != nil {
		s.cfg.Logger.Debug("forward to leader failed; answering locally", "collection", a.key.collection, "shard", a.key.shard, "err", err)
		return false
	}
	s.forwards.Add(1)
	if err := m.Respond(reply.Data); err != nil {
		s.cfg.Logger.Debug("respond", "err", err)
	}
	return true
}

func (s *Service) get(a *attached, m *nats.Msg, strong bool) {
	var req wire.GetRequest
	if err := proto.Unmarshal(m.Data, &req); err != nil {
		s.respond(m, &wire.GetResponse{Error: &wire.Error{Code: wire.CodeBadRequest, Message: "decode get: " + err.Error()}})
		return
	}
	if req.Version != wire.Version {
		s.respond(m, &wire.GetResponse{Error: &wire.Error{Code: wire.CodeBadVersion, Message: fmt.Sprintf("wire version %d, want %d", req.Version, wire.Version)}})
		return
	}
	if s.shouldForward(a, m, req.MinAppliedIndex, strong, false) && s.forward(a, m, true) {
		return
	}
	if err := s.waitRead(a, m, req.MinAppliedIndex, strong); err != nil {
		s.respond(m, &wire.GetResponse{Error: s.errorFor(a, err)})
		return
	}
	d, ok := a.eng.Get(req.Id)
	if !ok {
		s.respond(m, &wire.GetResponse{})
		return
	}
	s.respond(m, &wire.GetResponse{Found: true, Doc: DocumentToWire(d)})
}

func (s *Service) handleStatus(m *nats.Msg) {
	s.mu.Lock()
	out := &wire.StatusResponse{Node: s.cfg.NodeID}
	for k, a := range s.replicas {
		st := a.rep.Status()
		out.Replicas = append(out.Replicas, &wire.ReplicaStatus{
			Collection: k.collection, Shard: uint32(k.shard), Role: st.Role, Term: st.Term,
			AppliedIndex: st.AppliedIndex, LastIndex: st.LastIndex, Documents: uint64(a.eng.Len()), Leader: st.Leader,
			Segments: segmentsToWire(a.eng.Segments()),
		})
	}
	s.mu.Unlock()
	s.respond(m, out)
}

func segmentsToWire(infos []shard.SegmentInfo) []*wire.SegmentStatus {
	out := make([]*wire.SegmentStatus, len(infos))
	for i, in := range infos {
		out[i] = &wire.SegmentStatus{Id: in.ID, Docs: uint64(in.Docs), Deleted: uint64(in.Deleted), Bytes: uint64(in.Bytes), State: in.State}
		if sp := in.Sparse; sp != nil {
			e, a := sp.Entry, sp.Adaptive
			out[i].Sparse = &wire.SparseIndexStatus{Calibrated: sp.Calibrated, Target: e.Target, ExpectedRecall: e.Recall,
				QueryCut: uint32(e.QueryCut), HeapFactor: e.HeapFactor, Knn: e.KNN, Reached: e.Reached,
				ExactPreferred: e.ExactPreferred, Speedup: e.Speedup,
				Flatness: a.Flatness, Alpha: a.Alpha, KeptShare: a.KeptShare, Strength: a.Strength}
		}
	}
	return out
}

func deadlineOf(ctx context.Context) time.Time {
	dl, _ := ctx.Deadline()
	return dl
}
