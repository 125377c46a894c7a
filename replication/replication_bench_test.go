package replication

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkPropose measures Propose round trips (commit + apply on the
// leader, fsync on) with one and three replicas over real TCP on 127.0.0.1,
// sequential and with concurrent proposers.
func BenchmarkPropose(b *testing.B) {
	for _, bc := range []struct{ n, par int }{{1, 0}, {3, 0}, {3, 16}} {
		n := bc.n
		name := fmt.Sprintf("replicas=%d", n)
		if bc.par > 0 {
			name += fmt.Sprintf("/concurrent=%d", bc.par)
		}
		b.Run(name, func(b *testing.B) {
			var hosts []*Host
			var peers []Peer
			for i := range n {
				cfg := DefaultConfig()
				cfg.NodeID = fmt.Sprintf("n%d", i)
				cfg.Dir = b.TempDir()
				h, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close()
				hosts = append(hosts, h)
				peers = append(peers, Peer{ID: cfg.NodeID, Addr: h.Addr()})
			}
			var groups []*Group
			for _, h := range hosts {
				g, err := h.Open("bench", &countSM{}, peers)
				if err != nil {
					b.Fatal(err)
				}
				groups = append(groups, g)
			}
			var leader *Group
			for leader == nil {
				time.Sleep(10 * time.Millisecond)
				for _, g := range groups {
					if g.IsLeader() {
						leader = g
					}
				}
			}
			cmd := make([]byte, 256)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(cmd)))
			b.ResetTimer()
			if bc.par > 0 {
				// par goroutines per GOMAXPROCS propose at once: raft batches them.
				b.SetParallelism(bc.par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, _, err := leader.Propose(ctx, cmd); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for b.Loop() {
				if _, _, err := leader.Propose(ctx, cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// countSM counts commands; it is the cheapest StateMachine.
type countSM struct{ n uint64 }

func (s *countSM) Apply(uint64, []byte) ([]byte, error) { s.n++; return nil, nil }
func (s *countSM) Snapshot() (Snapshot, error)          { return listSnap{}, nil }
func (s *countSM) Restore(r io.Reader, _ uint64) error  { _, err := io.Copy(io.Discard, r); return err }
