package shardsvc

import (
	"context"

	"github.com/shoal-search/shoal/internal/wire"
	"github.com/shoal-search/shoal/shard"
)

// DefaultMaxEntryBytes is the default Config.MaxEntryBytes.
const DefaultMaxEntryBytes = 4 << 20

// splitOps cuts ops into consecutive runs whose wire sizes add up to at most
// maxBytes each; an operation larger than maxBytes is a run of its own.
// sizes[i] is the wire size of op i.
func splitOps(sizes []int, maxBytes int) (runs [][2]int) {
	start, sum := 0, 0
	for i, n := range sizes {
		if i > start && sum+n > maxBytes {
			runs = append(runs, [2]int{start, i})
			start, sum = i, 0
		}
		sum += n
	}
	if start < len(sizes) {
		runs = append(runs, [2]int{start, len(sizes)})
	}
	return runs
}

// opBytes bounds the size of op in a raft command from above: 4-byte term
// ids and values, 4-byte floats, the id, the attributes and a margin.
func opBytes(op *wire.Op) int {
	d := op.GetUpsert()
	if d == nil {
		return len(op.GetDeleteId()) + 16
	}
	n := len(d.GetId()) + 64 + 8*len(d.GetSparse().GetIndices()) + 4*len(d.GetDense()) + 4*len(d.GetMulti())
	for k, a := range d.GetAttrs() {
		n += len(k) + len(a.GetKeyword()) + 24
	}
	return n
}

// proposeOps proposes b, whose operations came from ops, as one raft entry
// or, when its operations add up to more than Config.MaxEntryBytes, as
// several consecutive entries of at most that size each. A large entry
// holds up its group's log replication, its followers' disks and their
// state machines for as long as it takes to ship and apply it; small ones
// keep heartbeats and other groups flowing. It returns the index of the
// last entry and the counts summed over all entries. If an entry fails, the
// entries before it stay committed (the request is then atomic per entry,
// not per shard; upserts and deletes are idempotent, so a retry is safe).
func (s *Service) proposeOps(ctx context.Context, a *attached, ops []*wire.Op, b shard.Batch) (index uint64, res shard.ApplyResult, err error) {
	runs := [][2]int{{0, len(b.Ops)}}
	if limit := s.cfg.MaxEntryBytes; limit > 0 {
		sizes := make([]int, len(ops))
		total := 0
		for i, op := range ops {
			sizes[i] = opBytes(op)
			total += sizes[i]
		}
		if total > limit {
			runs = splitOps(sizes, limit)
		}
	}
	for _, r := range runs {
		cmd, err := shard.EncodeBatch(shard.Batch{Ops: b.Ops[r[0]:r[1]]})
		if err != nil {
			return index, res, err
		}
		idx, resp, err := a.writer.Write(ctx, cmd)
		if err != nil {
			return index, res, err
		}
		index = idx
		part, err := shard.DecodeApplyResult(resp)
		if err != nil {
			return index, res, err
		}
		res.Upserted += part.Upserted
		res.Deleted += part.Deleted
	}
	return index, res, nil
}
