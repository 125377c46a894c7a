package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/internal/wire"
)

func (c *Coordinator) handleUpsert(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	col, err := c.collection(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, "upsert", metaErr(err))
		return
	}
	req, err := decodeUpsert(w, r)
	if err != nil {
		c.fail(w, "upsert", err)
		return
	}
	if len(req.Documents) == 0 {
		c.fail(w, "upsert", badRequest("documents", "the batch is empty"))
		return
	}
	if len(req.Documents) > api.MaxBatch {
		c.fail(w, "upsert", &apiError{status: http.StatusRequestEntityTooLarge, body: api.ErrorBody{Code: api.CodeTooLarge, Field: "documents", Message: fmt.Sprintf("%d documents exceed the batch limit of %d", len(req.Documents), api.MaxBatch)}})
		return
	}
	// Validate everything before anything is written, so a bad document
	// changes nothing.
	perShard := make([][]*wire.Op, len(col.Placement))
	seen := make(map[string]int, len(req.Documents))
	for i := range req.Documents {
		d := &req.Documents[i]
		wd, err := docToWire(fmt.Sprintf("documents[%d]", i), d, &col.Spec)
		if err != nil {
			c.fail(w, "upsert", err)
			return
		}
		if j, dup := seen[d.ID]; dup {
			c.fail(w, "upsert", badRequest(fmt.Sprintf("documents[%d].id", i), "duplicate id %q (also documents[%d])", d.ID, j))
			return
		}
		seen[d.ID] = i
		s := ShardOf(d.ID, len(col.Placement))
		perShard[s] = append(perShard[s], &wire.Op{Upsert: wd})
	}
	tok, res, err := c.write(r.Context(), col, perShard)
	if err != nil {
		c.fail(w, "upsert", err)
		return
	}
	c.ok(w, "upsert", http.StatusOK, api.WriteResponse{Upserted: res.upserted, Token: tok.String()}, start)
}

func (c *Coordinator) handleDelete(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	col, err := c.collection(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, "delete", metaErr(err))
		return
	}
	id, err := pathID(r)
	if err != nil {
		c.fail(w, "delete", err)
		return
	}
	perShard := make([][]*wire.Op, len(col.Placement))
	s := ShardOf(id, len(col.Placement))
	perShard[s] = []*wire.Op{{DeleteId: id}}
	tok, res, err := c.write(r.Context(), col, perShard)
	if err != nil {
		c.fail(w, "delete", err)
		return
	}
	c.ok(w, "delete", http.StatusOK, api.WriteResponse{Deleted: res.deleted, Token: tok.String()}, start)
}

type writeResult struct {
	upserted, deleted int
}

// writeAttempt is how long one attempt of a shard write of size bytes waits
// for a leader to acknowledge it before it is sent again.
func (c *Coordinator) writeAttempt(size int) time.Duration {
	return min(c.cfg.WriteAttemptTimeout+time.Duration(size>>20)*time.Second, c.cfg.WriteTimeout)
}

// write sends each shard's operations to its leader, in parallel, retrying
// through leader changes, and returns a token covering every shard written.
// An attempt that no leader acknowledges within writeAttempt is sent again
// (callWrite); one that a leader acknowledged waits for its answer within the
// whole budget. Upserts and deletes are idempotent, so a write that reaches
// the leader twice changes nothing more. When the whole budget passes, the outcome is
// unknown: an attempt may still commit.
func (c *Coordinator) write(ctx context.Context, col meta.Collection, perShard [][]*wire.Op) (token, writeResult, error) {
	tok := token{uid: col.UID, indexes: map[int]uint64{}}
	var res writeResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(perShard))
	for s, ops := range perShard {
		if len(ops) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &wire.WriteRequest{Version: wire.Version, Ops: ops}
			var resp wire.WriteResponse
			ackWait := c.writeAttempt(proto.Size(req))
			errs[s] = c.withRetry(ctx, "write", c.cfg.WriteTimeout, c.cfg.WriteTimeout, func(actx context.Context) error {
				resp.Reset()
				if err := c.callWrite(actx, ackWait, wire.WriteSubject(col.Spec.Name, s), req, &resp); err != nil {
					return err
				}
				if resp.Error != nil {
					return fromWire(resp.Error)
				}
				return nil
			})
			if errs[s] == nil {
				c.observe(col, s, resp.Index)
				mu.Lock()
				tok.indexes[s] = resp.Index
				res.upserted += int(resp.Upserted)
				res.deleted += int(resp.Deleted)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return tok, res, err
		}
	}
	return tok, res, nil
}

// readTarget returns the subject, header and minimum index of a read of
// shard s under the given consistency.
func (c *Coordinator) readTarget(col meta.Collection, s int, cons *api.Consistency, tok token, get bool) (string, nats.Header, uint64) {
	strong := cons != nil && cons.Level == api.ConsistencyStrong
	if strong {
		var hdr nats.Header
		if get {
			hdr = nats.Header{"Shoal-Op": []string{"get"}}
		}
		return wire.StrongSubject(col.Spec.Name, s), hdr, 0
	}
	subject := wire.SearchSubject(col.Spec.Name, s)
	if get {
		subject = wire.GetSubject(col.Spec.Name, s)
	}
	return subject, nil, max(tok.indexes[s], c.sessionIndex(col, s))
}

func checkConsistency(cons *api.Consistency, col meta.Collection) (token, error) {
	if cons == nil {
		return token{}, nil
	}
	if cons.Token != "" {
		return parseToken(cons.Token, col)
	}
	switch cons.Level {
	case "", api.ConsistencyEventual, api.ConsistencyStrong:
		return token{}, nil
	}
	return token{}, badRequest("consistency", "unknown level %q (want eventual, strong or {\"token\": ...})", cons.Level)
}

func (c *Coordinator) handleGet(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	col, err := c.collection(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, "get", metaErr(err))
		return
	}
	var cons *api.Consistency
	if v := r.URL.Query().Get("consistency"); v != "" {
		cons = &api.Consistency{Level: v}
	}
	if v := r.URL.Query().Get("token"); v != "" {
		cons = &api.Consistency{Token: v}
	}
	tok, err := checkConsistency(cons, col)
	if err != nil {
		c.fail(w, "get", err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		c.fail(w, "get", err)
		return
	}
	s := ShardOf(id, len(col.Placement))
	subject, hdr, minIdx := c.readTarget(col, s, cons, tok, true)
	req := &wire.GetRequest{Version: wire.Version, Id: id, MinAppliedIndex: minIdx, Strong: hdr != nil}
	var resp wire.GetResponse
	err = c.withRetry(r.Context(), "get", c.cfg.ReadTimeout, c.cfg.ShardTimeout, func(actx context.Context) error {
		resp.Reset()
		if err := c.call(actx, subject, hdr, req, &resp); err != nil {
			return err
		}
		if resp.Error != nil {
			return fromWire(resp.Error)
		}
		return nil
	})
	if err != nil {
		c.fail(w, "get", err)
		return
	}
	if !resp.Found {
		c.fail(w, "get", notFound("document %q not found", id))
		return
	}
	c.ok(w, "get", http.StatusOK, docFromWire(resp.Doc, &col.Spec), start)
}

func docFromWire(d *wire.Document, s *api.CollectionSpec) api.Document {
	out := api.Document{ID: d.Id}
	if d.Sparse != nil && len(d.Sparse.Indices) > 0 {
		out.Sparse = &api.SparseVector{Indices: d.Sparse.Indices, Values: d.Sparse.Values}
	}
	if len(d.Dense) > 0 {
		out.Dense = d.Dense
	}
	if len(d.Multi) > 0 && s.Multivector != nil {
		dim := s.Multivector.Dim
		for o := 0; o+dim <= len(d.Multi); o += dim {
			out.Multivector = append(out.Multivector, d.Multi[o:o+dim])
		}
	}
	if len(d.Attrs) > 0 {
		out.Attributes = make(map[string]any, len(d.Attrs))
		for k, a := range d.Attrs {
			switch v := a.Value.(type) {
			case *wire.Attr_Keyword:
				out.Attributes[k] = v.Keyword
			case *wire.Attr_Int:
				out.Attributes[k] = v.Int
			case *wire.Attr_Float:
				out.Attributes[k] = v.Float
			}
		}
	}
	return out
}

// callWrite sends one write attempt and waits for its answer. It asks the
// leader to acknowledge receipt (wire.AckHeader): with no acknowledgement
// within ackWait (nobody answering: a paused or cut-off leader still holding
// the subject) it gives up with context.DeadlineExceeded, so the caller sends
// it again; once acknowledged it waits for the answer up to answerWait
// (a leader paused right after acknowledging), then gives up likewise. A
// not-leader answer from a former leader waits briefly for the new leader's
// acknowledgement, since both may hold the subject.
func (c *Coordinator) callWrite(ctx context.Context, ackWait time.Duration, subject string, req *wire.WriteRequest, resp *wire.WriteResponse) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	inbox := c.cfg.NATS.NewInbox()
	sub, err := c.cfg.NATS.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	hdr := nats.Header{wire.AckHeader: []string{"1"}}
	if dl, ok := ctx.Deadline(); ok {
		hdr.Set(wire.BudgetHeader, wire.FormatBudget(dl))
	}
	if err := c.cfg.NATS.PublishMsg(&nats.Msg{Subject: subject, Reply: inbox, Data: b, Header: hdr}); err != nil {
		return err
	}
	ackCtx, ackCancel := context.WithTimeout(ctx, ackWait)
	defer ackCancel()
	graceCtx, graceCancel := context.WithCancel(ctx)
	defer graceCancel()
	wait := ackCtx
	acked := false
	var notLeader *wire.WriteResponse
	for {
		msg, err := sub.NextMsgWithContext(wait)
		if err != nil {
			if notLeader != nil {
				proto.Reset(resp)
				proto.Merge(resp, notLeader)
				return nil
			}
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				if acked {
					return fmt.Errorf("write %s: acknowledged but not answered within %v: %w", subject, answerWait(ackWait), context.DeadlineExceeded)
				}
				return fmt.Errorf("write %s: no leader acknowledged within %v: %w", subject, ackWait, context.DeadlineExceeded)
			}
			return err
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
			return nats.ErrNoResponders
		}
		if msg.Header.Get(wire.AckHeader) != "" {
			if !acked {
				// A leader that acknowledged and then stops (paused,
				// cut off) must not hold the write for the whole
				// budget: past answerWait it is sent again.
				acked = true
				ansCtx, ansCancel := context.WithTimeout(ctx, answerWait(ackWait))
				defer ansCancel()
				wait = ansCtx
			}
			continue
		}
		var r wire.WriteResponse
		if err := proto.Unmarshal(msg.Data, &r); err != nil {
			return err
		}
		if r.Error != nil && r.Error.Code == wire.CodeNotLeader && !acked {
			// a former leader; the new one may still acknowledge
			if notLeader == nil {
				notLeader = &r
				wait = graceCtx
				t := time.AfterFunc(notLeaderGrace, graceCancel)
				defer t.Stop()
			}
			continue
		}
		proto.Reset(resp)
		proto.Merge(resp, &r)
		return nil
	}
}

// answerWait is how long an acknowledged write attempt waits for its answer
// before it is sent again: three acknowledgement waits and a second, room
// for a commit on a loaded leader (a resend is safe: upserts and deletes
// are idempotent, and the leader proposes it again as a new entry).
func answerWait(ackWait time.Duration) time.Duration { return 3*ackWait + time.Second }

// notLeaderGrace is how long a write that a former leader refused waits for
// another replica's acknowledgement before it is retried.
const notLeaderGrace = 100 * time.Millisecond
