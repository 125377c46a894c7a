package faulttest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shoal-search/shoal/coordinator"

	"github.com/shoal-search/shoal/internal/faulttest"
)

// scenarios lists the suite in the order it runs.
func scenarios() []scenario {
	return []scenario{
		{
			name:  "leader-sigkill",
			fault: "SIGKILL the leader of shard 0 under load, restart it 6 s later",
			run: func(e *env) {
				e.sleep(3 * time.Second)
				l := e.leader(0)
				e.logf("SIGKILL n%d (leader of shard 0)", l+1)
				e.c.Nodes[l].Kill()
				e.sleep(6 * time.Second)
				e.mustStart(e.c.Nodes[l])
				e.sleep(6 * time.Second)
			},
		},
		{
			name:  "leader-sigstop",
			fault: "SIGSTOP the leader of shard 0 for 15 s under load; target: no write fails, none takes over 5 s",
			run: func(e *env) {
				e.sleep(3 * time.Second)
				l := e.leader(0)
				e.logf("SIGSTOP n%d (leader of shard 0)", l+1)
				from := e.h.Now()
				if err := e.c.Nodes[l].Stop(); err != nil {
					e.t.Fatal(err)
				}
				e.sleep(15 * time.Second)
				if err := e.c.Nodes[l].Cont(); err != nil {
					e.t.Fatal(err)
				}
				to := e.h.Now()
				e.logf("SIGCONT n%d", l+1)
				e.sleep(5 * time.Second)
				slow, failed := 0, 0
				var worst time.Duration
				for _, op := range e.h.Ops() {
					if (op.Kind != faulttest.OpWrite && op.Kind != faulttest.OpDelete) || op.Call > to || op.Return < from {
						continue
					}
					if op.Outcome != faulttest.Acked {
						failed++
						continue
					}
					if d := time.Duration(op.Return - op.Call); d > 5*time.Second {
						slow++
						worst = max(worst, d)
					}
				}
				if failed > 0 {
					e.failf("paused leader: %d writes during the pause did not succeed", failed)
				}
				if slow > 0 {
					e.failf("paused leader: %d writes took over 5 s (worst %v)", slow, worst.Round(time.Millisecond))
				}
			},
		},
		{
			name:  "restart-all-after-strong-reads",
			fault: "strong reads, then SIGKILL and restart of every node with no write; target: every key readable within 15 s",
			run: func(e *env) {
				e.sleep(4 * time.Second)
				e.load.SetMix([3]float64{0, 0, 1})
				e.sleep(3 * time.Second)
				e.load.Hold(true)
				e.sleep(500 * time.Millisecond)
				e.logf("SIGKILL every node")
				for _, n := range e.c.Nodes {
					n.Kill()
				}
				for _, n := range e.c.Nodes {
					e.mustStart(n)
				}
				ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
				defer cancel()
				if err := e.c.WaitReplicas(ctx, e.w.Collection, e.liveNames()); err != nil {
					e.failf("after the restart: %v", err)
				}
				up := time.Now()
				e.logf("every replica answers again; reading every key, strong and eventual, without writing")
				readAll(e, up, 15*time.Second)
				e.load.SetMix(e.load.Mix)
				e.load.Hold(false)
				from := e.h.Now()
				e.sleep(5 * time.Second)
				acked := 0
				for _, op := range e.h.Ops() {
					if op.Kind == faulttest.OpWrite && op.Call >= from && op.Outcome == faulttest.Acked {
						acked++
					}
				}
				e.logf("%d writes acknowledged in the 5 s of load after the reads", acked)
			},
		},
		{
			name:  "node-lost-and-restart",
			fault: "SIGKILL one node for good (data gone); once its registration expired, SIGKILL and restart another; target: writes to every shard resume within 20 s",
			run: func(e *env) {
				e.sleep(3 * time.Second)
				lost, restarted := 2, 0
				e.logf("SIGKILL n%d for good", lost+1)
				e.c.Nodes[lost].Kill()
				e.gone[lost] = true
				_ = os.RemoveAll(e.c.NodeDir(lost))
				ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
				defer cancel()
				if err := e.c.WaitNodeGone(ctx, fmt.Sprintf("n%d", lost+1)); err != nil {
					e.t.Fatal(err)
				}
				e.logf("n%d's registration expired; SIGKILL and restart n%d", lost+1, restarted+1)
				e.c.Nodes[restarted].Kill()
				e.sleep(time.Second)
				e.mustStart(e.c.Nodes[restarted])
				from := e.h.Now()
				e.sleep(20 * time.Second)
				writesResumed(e, from, 20*time.Second)
				e.sleep(3 * time.Second)
			},
		},
		{
			name:  "coordinator-kill-mid-batch",
			fault: "SIGKILL the coordinator while batches of up to 8 documents are in flight, restart it 2 s later (twice)",
			load: func(l *faulttest.Load) {
				l.Batch = 8
				l.Workers = 6
				l.Mix = [3]float64{0.7, 0.05, 0.15}
			},
			run: func(e *env) {
				for round := 0; round < 2; round++ {
					e.sleep(3 * time.Second)
					e.logf("SIGKILL the coordinator")
					e.c.Coord.Kill()
					e.sleep(2 * time.Second)
					e.mustStart(e.c.Coord)
				}
				e.sleep(5 * time.Second)
			},
		},
		{
			name:  "infra-restart",
			fault: "SIGKILL the shoal infra process (etcd and NATS) under load, restart it on its data 3 s later",
			run: func(e *env) {
				e.sleep(3 * time.Second)
				e.logf("SIGKILL infra")
				e.c.Infra.Kill()
				e.sleep(3 * time.Second)
				e.mustStart(e.c.Infra)
				ctx, cancel := context.WithTimeout(e.ctx, 40*time.Second)
				defer cancel()
				if err := e.c.WaitNodes(ctx, len(e.c.Nodes)); err != nil {
					e.failf("after the infra restart: %v", err)
				}
				e.sleep(8 * time.Second)
			},
		},
		{
			name:  "disk-full",
			fault: "every node's data on its own 48 MiB tmpfs; the disk of shard 0's leader filled for 10 s under load (documents of 300 terms), then freed; target: from 3 s into the full period that node leads no shard and every shard acknowledges writes",
			workload: func(w *faulttest.Workload) {
				w.MaxTerm, w.NNZ = 5000, 300
			},
			load: func(l *faulttest.Load) { l.Batch = 4 },
			setup: func(e *env, cfg *faulttest.Config) {
				for i := 0; i < 3; i++ {
					dir := filepath.Join(e.dir, fmt.Sprintf("n%d-tmpfs", i+1))
					if err := faulttest.MountTmpfs(dir, 48<<20); err != nil {
						e.t.Skipf("disk-full needs root to mount a tmpfs: %v", err)
					}
					e.t.Cleanup(func() { _ = faulttest.Unmount(dir) })
				}
				cfg.NodeDir = func(i int) string { return filepath.Join(e.dir, fmt.Sprintf("n%d-tmpfs", i+1)) }
			},
			run: func(e *env) {
				e.sleep(3 * time.Second)
				l := e.leader(0)
				filler := filepath.Join(e.c.NodeDir(l), "filler")
				n, err := faulttest.FillDisk(filler)
				if err != nil {
					e.t.Fatal(err)
				}
				e.logf("n%d's disk full (%d bytes of filler)", l+1, n)
				full := time.Now()
				settled := e.h.Now() + int64(3*time.Second)
				led := 0
				for time.Since(full) < 10*time.Second && e.ctx.Err() == nil {
					if time.Since(full) > 3*time.Second {
						for s := 0; s < e.w.Shards; s++ {
							if nl, err := e.c.Leader(e.w.Collection, s); err == nil && nl == l {
								led++
							}
						}
					}
					e.sleep(500 * time.Millisecond)
				}
				_ = os.Remove(filler)
				enospc := e.c.Nodes[l].LogCount("no space left on device")
				e.logf("n%d's disk freed; %d log lines with ENOSPC, the first:\n%s", l+1, enospc, strings.Join(e.c.Nodes[l].LogLines("no space left on device", 3), "\n"))
				if enospc == 0 {
					e.failf("disk full: inconclusive, n%d logged no ENOSPC (the fault did not bite)", l+1)
				}
				if led > 0 {
					e.failf("disk full: n%d led a shard in %d samples taken 3-10 s into the full period", l+1, led)
				}
				writesResumed(e, settled, 7*time.Second)
				e.sleep(6 * time.Second)
			},
		},
		{
			name:  "raft-partition",
			fault: "cut the raft traffic of shard 0's leader (iptables on its raft port and uid) for 10 s under load, then heal",
			setup: func(e *env, cfg *faulttest.Config) {
				fw, err := faulttest.NewFirewall()
				if err != nil {
					e.t.Skipf("raft-partition needs root and iptables: %v", err)
				}
				e.t.Cleanup(func() { _ = fw.Close() })
				e.fw = fw
				root, err := os.MkdirTemp("", "shoal-faulttest-part-")
				if err != nil {
					e.t.Fatal(err)
				}
				_ = os.Chmod(root, 0o755)
				e.t.Cleanup(func() { os.RemoveAll(root) })
				cfg.NodeUID = func(i int) int { return 61001 + i }
				cfg.NodeDir = func(i int) string { return filepath.Join(root, fmt.Sprintf("n%d", i+1)) }
			},
			run: func(e *env) {
				e.sleep(3 * time.Second)
				l := e.leader(0)
				var peers []int
				for i := range e.c.Nodes {
					if i != l {
						peers = append(peers, e.c.RaftPort(i))
					}
				}
				e.logf("partition n%d (raft only)", l+1)
				if err := e.fw.IsolateRaft(e.c.RaftPort(l), 61001+l, peers); err != nil {
					e.t.Fatal(err)
				}
				e.sleep(10 * time.Second)
				if nl, err := e.c.Leader(e.w.Collection, 0); err != nil || nl == l {
					e.failf("partition: shard 0 has no new leader on the majority side after 10 s (leader n%d, %v)", nl+1, err)
				}
				if err := e.fw.Heal(); err != nil {
					e.t.Fatal(err)
				}
				e.logf("healed")
				e.sleep(6 * time.Second)
			},
		},
		{
			name:     "corrupt-segment",
			fault:    "SIGKILL a node, set the forward-index values of a third of its sealed segments' Seismic postings to 495 (ids intact), restart; target: never served (searches through the indexes on every replica score true)",
			static:   1200,
			seal:     true,
			shards:   1,
			sealDocs: 100000,
			run: func(e *env) {
				e.sleep(2 * time.Second)
				l := e.leader(0)
				f := (l + 1) % len(e.c.Nodes)
				e.logf("SIGKILL n%d, corrupt its .sparse files", f+1)
				e.c.Nodes[f].Kill()
				files := faulttest.Glob(e.c.NodeDir(f), "seg-*.sparse")
				if len(files) == 0 {
					e.t.Fatalf("no seg-*.sparse under %s", e.c.NodeDir(f))
				}
				for _, p := range files {
					if err := faulttest.CorruptSeismicValues(p); err != nil {
						e.t.Fatal(err)
					}
				}
				e.mustStart(e.c.Nodes[f])
				e.sleep(8 * time.Second)
			},
		},
		{
			name:  "corrupt-raft-store",
			fault: "SIGKILL a node, overwrite 6 pages of one group's raft.db, restart; target: that group quarantined and re-synced, the node keeps serving",
			run: func(e *env) {
				e.sleep(3 * time.Second)
				l := e.leader(0)
				f := (l + 1) % len(e.c.Nodes)
				e.c.Nodes[f].Kill()
				dbs := faulttest.Glob(e.c.NodeDir(f), "raft.db")
				if len(dbs) == 0 {
					e.t.Fatalf("no raft.db under %s", e.c.NodeDir(f))
				}
				e.logf("SIGKILL n%d, corrupt %s", f+1, dbs[0])
				if err := faulttest.CorruptPages(dbs[0], 6, e.seed); err != nil {
					e.t.Fatal(err)
				}
				e.mustStart(e.c.Nodes[f])
				e.sleep(10 * time.Second)
			},
		},
		{
			name:  "random-schedule",
			fault: "seeded random schedule for 30 s: kills, 2-6 s pauses and restarts of nodes, leaders and the coordinator, at most one node down",
			run:   randomSchedule,
		},
	}
}

// readAll reads every key, strong and eventual, concurrently and without
// writing, retrying until each answers; it fails the scenario for a key not
// answered within limit of up.
func readAll(e *env, up time.Time, limit time.Duration) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var worst time.Duration
	late := 0
	for i := 0; i < e.w.Keys; i++ {
		for _, strong := range []bool{true, false} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, st := faulttest.Read(e.ctx, e.c.HTTP, e.h, 2000+i, e.w, e.w.Key(i), strong); faulttest.Answered(st) {
						mu.Lock()
						worst = max(worst, time.Since(up))
						if time.Since(up) > limit {
							late++
						}
						mu.Unlock()
						return
					}
					if time.Since(up) > limit+5*time.Second || e.ctx.Err() != nil {
						mu.Lock()
						late++
						worst = max(worst, time.Since(up))
						mu.Unlock()
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	e.logf("every key read after the restart; slowest %v", worst.Round(time.Millisecond))
	if late > 0 {
		e.failf("after the restart: %d of %d reads (strong and eventual, no write) did not answer within %v (slowest %v)", late, 2*e.w.Keys, limit, worst.Round(time.Millisecond))
	}
}

// writesResumed fails the scenario unless every shard acknowledged a write
// called and answered between from and from+limit (history time).
func writesResumed(e *env, from int64, limit time.Duration) {
	ok := make([]bool, e.w.Shards)
	for _, op := range e.h.Ops() {
		if op.Kind == faulttest.OpWrite && op.Outcome == faulttest.Acked && op.Call >= from && op.Return <= from+int64(limit) {
			ok[coordinator.ShardOf(op.Key, e.w.Shards)] = true
		}
	}
	for s, b := range ok {
		if !b {
			e.failf("shard %d acknowledged no write called in the %v from %v", s, limit, time.Duration(from).Round(time.Millisecond))
		}
	}
}

// randomSchedule injects a seeded random sequence of faults for 30 s,
// keeping at most one node unavailable, then heals everything.
func randomSchedule(e *env) {
	r := rand.New(rand.NewPCG(e.seed, 99))
	e.logf("random schedule, seed %d (rerun with SHOAL_FAULT_SEED=%d)", e.seed, e.seed)
	down := -1
	end := time.Now().Add(30 * time.Second)
	e.sleep(2 * time.Second)
	for time.Now().Before(end) && e.ctx.Err() == nil {
		switch a := r.IntN(5); {
		case down >= 0 && a < 2:
			e.logf("schedule: restart n%d", down+1)
			e.mustStart(e.c.Nodes[down])
			down = -1
		case down < 0 && a == 0:
			down = r.IntN(len(e.c.Nodes))
			e.logf("schedule: SIGKILL n%d", down+1)
			e.c.Nodes[down].Kill()
		case down < 0 && a == 1:
			s := r.IntN(e.w.Shards)
			down = e.leader(s)
			e.logf("schedule: SIGKILL n%d (leader of shard %d)", down+1, s)
			e.c.Nodes[down].Kill()
		case down < 0 && a == 2:
			n := r.IntN(len(e.c.Nodes))
			d := time.Duration(2000+r.IntN(4000)) * time.Millisecond
			e.logf("schedule: SIGSTOP n%d for %v", n+1, d)
			if err := e.c.Nodes[n].Stop(); err != nil {
				e.t.Fatal(err)
			}
			e.sleep(d)
			if err := e.c.Nodes[n].Cont(); err != nil {
				e.t.Fatal(err)
			}
		case a == 3:
			e.logf("schedule: SIGKILL the coordinator, restart 1 s later")
			e.c.Coord.Kill()
			e.sleep(time.Second)
			e.mustStart(e.c.Coord)
		default:
			e.logf("schedule: nothing")
		}
		e.sleep(time.Duration(2000+r.IntN(2000)) * time.Millisecond)
	}
	if down >= 0 {
		e.logf("schedule: restart n%d", down+1)
		e.mustStart(e.c.Nodes[down])
	}
	e.sleep(6 * time.Second)
}
