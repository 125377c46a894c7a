package shardsvc

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/shoal-search/shoal/internal/wire"
	"github.com/shoal-search/shoal/shard"
)

// logReplica is a Replica that applies nothing: it records each proposed
// command and answers with the number of operations in it.
type logReplica struct {
	Replica
	cmds [][]byte
	fail int // fail the proposal with this 1-based number; 0: never
}

func (r *logReplica) Propose(_ context.Context, cmd []byte) (uint64, []byte, error) {
	if len(r.cmds)+1 == r.fail {
		return 0, nil, fmt.Errorf("injected")
	}
	r.cmds = append(r.cmds, cmd)
	b, err := shard.DecodeBatch(cmd)
	if err != nil {
		return 0, nil, err
	}
	return uint64(len(r.cmds)), shard.EncodeApplyResult(shard.ApplyResult{Upserted: len(b.Ops)}), nil
}

// IsLeader is always true: the replica is the leader the writer proposes to.
func (r *logReplica) IsLeader() bool { return true }

func TestSplitOps(t *testing.T) {
	for _, tc := range []struct {
		sizes []int
		max   int
		want  [][2]int
	}{
		{[]int{1, 1, 1}, 10, [][2]int{{0, 3}}},
		{[]int{4, 4, 4}, 8, [][2]int{{0, 2}, {2, 3}}},
		{[]int{9, 1, 1}, 8, [][2]int{{0, 1}, {1, 3}}},
		{[]int{1, 9, 1}, 8, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{nil, 8, nil},
	} {
		if got := splitOps(tc.sizes, tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("splitOps(%v, %d): got %v, want %v", tc.sizes, tc.max, got, tc.want)
		}
	}
}

func TestLargeWritesAreSplitIntoEntries(t *testing.T) {
	const docs, terms, limit = 100, 1000, 64 << 10
	ops := make([]*wire.Op, docs)
	b := shard.Batch{Ops: make([]shard.Op, docs)}
	for i := range ops {
		w := &wire.Document{Id: fmt.Sprintf("d%03d", i), Sparse: &wire.SparseVector{}}
		for j := range terms {
			w.Sparse.Indices = append(w.Sparse.Indices, uint32(j*3))
			w.Sparse.Values = append(w.Sparse.Values, 1)
		}
		ops[i] = &wire.Op{Upsert: w}
		b.Ops[i] = shard.Op{Doc: DocumentFromWire(w)}
	}
	rep := &logReplica{}
	s := &Service{cfg: Config{MaxEntryBytes: limit}}
	idx, res, err := s.proposeOps(context.Background(), &attached{rep: rep, writer: Writer{Rep: rep}}, ops, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Upserted != docs || idx != uint64(len(rep.cmds)) {
		t.Fatalf("got index %d and %d upserted, want %d and %d", idx, res.Upserted, len(rep.cmds), docs)
	}
	if len(rep.cmds) < 2 {
		t.Fatalf("%d entries, want the write split", len(rep.cmds))
	}
	var ids []string
	for i, cmd := range rep.cmds {
		if len(cmd) > limit {
			t.Errorf("entry %d has %d bytes, over the %d cap", i, len(cmd), limit)
		}
		got, _ := shard.DecodeBatch(cmd)
		for _, op := range got.Ops {
			ids = append(ids, op.Doc.ID)
		}
	}
	if len(ids) != docs || !slices.IsSorted(ids) {
		t.Fatalf("entries hold %d documents (in order: %v), want %d in order", len(ids), slices.IsSorted(ids), docs)
	}

	// One entry when under the cap; an error stops at the failed entry.
	rep = &logReplica{}
	s.cfg.MaxEntryBytes = -1
	if _, _, err := s.proposeOps(context.Background(), &attached{rep: rep, writer: Writer{Rep: rep}}, ops, b); err != nil || len(rep.cmds) != 1 {
		t.Fatalf("no cap: %d entries, err %v; want 1", len(rep.cmds), err)
	}
	rep = &logReplica{fail: 2}
	s.cfg.MaxEntryBytes = limit
	if _, _, err := s.proposeOps(context.Background(), &attached{rep: rep, writer: Writer{Rep: rep}}, ops, b); err == nil || len(rep.cmds) != 1 {
		t.Fatalf("failing second entry: %d entries, err %v; want 1 and an error", len(rep.cmds), err)
	}
}
