package faulttest_test

import (
	"time"

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
			needs: "h/readpath",
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
	}
}
