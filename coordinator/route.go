package coordinator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/internal/wire"
)

// ShardOf returns the shard of a document id: FNV-1a 64 of the id modulo the
// shard count. It never changes for a collection's life.
func ShardOf(id string, shards int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum64() % uint64(shards))
}

// token is a consistency token: the collection incarnation and, per shard,
// the log index a read must wait for. Its text form is
// "v1.<uid>.<shard>-<index>.<shard>-<index>...".
type token struct {
	uid     string
	indexes map[int]uint64
}

func (t token) String() string {
	var b strings.Builder
	b.WriteString("v1.")
	b.WriteString(t.uid)
	for s := 0; len(t.indexes) > 0 && s <= maxKey(t.indexes); s++ {
		if idx, ok := t.indexes[s]; ok {
			fmt.Fprintf(&b, ".%d-%d", s, idx)
		}
	}
	return b.String()
}

func maxKey(m map[int]uint64) int {
	k := 0
	for s := range m {
		k = max(k, s)
	}
	return k
}

func parseToken(s string, col meta.Collection) (token, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || parts[0] != "v1" {
		return token{}, badRequest("consistency.token", "malformed token")
	}
	if parts[1] != col.UID {
		return token{}, badRequest("consistency.token", "the token belongs to another collection or an earlier incarnation of this one")
	}
	t := token{uid: parts[1], indexes: map[int]uint64{}}
	for _, p := range parts[2:] {
		a, b, ok := strings.Cut(p, "-")
		sh, err1 := strconv.Atoi(a)
		idx, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || sh < 0 || sh >= len(col.Placement) {
			return token{}, badRequest("consistency.token", "malformed token")
		}
		t.indexes[sh] = idx
	}
	return t, nil
}

// retryable reports whether a shard request may be sent again: nobody
// listening (an election in progress), a timeout, or a stale leader.
func retryable(err error) bool {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.body.Code == "unavailable" || ae.body.Code == "timeout"
	}
	return false
}

// call sends one request and decodes its answer.
func (c *Coordinator) call(ctx context.Context, subject string, hdr nats.Header, req, resp proto.Message) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		h := make(nats.Header, len(hdr)+1)
		for k, v := range hdr {
			h[k] = v
		}
		h.Set(wire.BudgetHeader, wire.FormatBudget(dl))
		hdr = h
	}
	msg, err := c.cfg.NATS.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Data: b, Header: hdr})
	if err != nil {
		return err
	}
	return proto.Unmarshal(msg.Data, resp)
}

// withRetry runs attempt until it succeeds, fails for good, or the overall
// deadline passes. Each attempt gets at most per.
func (c *Coordinator) withRetry(ctx context.Context, op string, total, per time.Duration, attempt func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	backoff := 20 * time.Millisecond
	for try := 0; ; try++ {
		actx, acancel := context.WithTimeout(ctx, per)
		err := attempt(actx)
		acancel()
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			if errors.Is(err, nats.ErrNoResponders) {
				return unavailable("%s: no replica answered: %v", op, err)
			}
			var ae *apiError
			if errors.As(err, &ae) {
				return err
			}
			return timeout("%s: %v", op, err)
		}
		c.metrics.retries.WithLabelValues(op).Inc()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}
