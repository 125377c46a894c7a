package faulttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/faulttest"
)

// The suite runs only when SHOAL_FAULT=1 (set by .ci/run, which runs it as
// its own step), so that `go test ./...` does not run it a second time; it
// skips under -short too. SHOAL_FAULT_RESULTS names a file that receives one
// JSON line per scenario (cmd/faulttable turns it into docs/reliability.md).
func gate(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault suite skipped under -short")
	}
	if os.Getenv("SHOAL_FAULT") != "1" {
		t.Skip("fault suite runs only with SHOAL_FAULT=1 (.ci/run sets it; see docs/reliability.md)")
	}
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// shoalBin builds the shoal binary once per test process.
func shoalBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "shoal-faulttest-bin-")
		if binErr != nil {
			return
		}
		// nodes may run under other uids (the partition scenario)
		_ = os.Chmod(binDir, 0o755)
		binPath, binErr = faulttest.BuildShoal(repoRoot(), binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// scenario is one fault scenario of the suite.
type scenario struct {
	name  string
	fault string
	// needs names the branch whose fixes it is known to need.
	needs string
	// shards of the collection (default 2); nodes (default 3).
	shards, nodes int
	// sealDocs is every node's --seal-docs (0: the default).
	sealDocs int
	// static documents loaded before the fault (write-once), and whether
	// they are sealed into an indexed segment.
	static int
	seal   bool
	// workload may change the data (before the collection is created).
	workload func(w *faulttest.Workload)
	// setup may change the cluster's configuration before it starts.
	setup func(e *env, cfg *faulttest.Config)
	// load may change the load before it starts.
	load func(l *faulttest.Load)
	// run injects the fault while the load runs and heals what is to be
	// healed; the load stops when it returns.
	run func(e *env)
	// after runs scenario-specific checks once the load has stopped.
	after func(e *env)
}

// env is what a scenario works with.
type env struct {
	t    *testing.T
	ctx  context.Context
	c    *faulttest.Cluster
	w    faulttest.Workload
	h    *faulttest.History
	load *faulttest.Load
	dir  string
	seed uint64
	// fw cuts raft traffic (raft-partition only).
	fw *faulttest.Firewall
	// gone holds the nodes lost for good.
	gone map[int]bool

	mu       sync.Mutex
	failures []string
}

func (e *env) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.t.Log("FAILED CHECK: " + msg)
	e.mu.Lock()
	e.failures = append(e.failures, msg)
	e.mu.Unlock()
}

func (e *env) logf(format string, args ...any) {
	e.t.Logf("%s %s", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (e *env) sleep(d time.Duration) {
	select {
	case <-e.ctx.Done():
	case <-time.After(d):
	}
}

// leader returns the node leading shard s of the collection, waiting up to
// 20 s for one.
func (e *env) leader(s int) int {
	deadline := time.Now().Add(20 * time.Second)
	for {
		i, err := e.c.Leader(e.w.Collection, s)
		if err == nil && e.c.Nodes[i].Running() {
			return i
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("shard %d: no leader: %v", s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *env) mustStart(p *faulttest.Proc) {
	if err := p.Start(); err != nil {
		e.t.Fatal(err)
	}
}

// liveNames returns the ids of the nodes not lost for good.
func (e *env) liveNames() []string {
	var out []string
	for i := range e.c.Nodes {
		if !e.gone[i] {
			out = append(out, fmt.Sprintf("n%d", i+1))
		}
	}
	return out
}

func gitCommit() string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = repoRoot()
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// runScenario starts a cluster, loads it, runs the scenario's fault under
// the load, reads the final state and checks the history.
func runScenario(t *testing.T, sc scenario) {
	gate(t)
	start := time.Now()
	bin := shoalBin(t)
	if sc.shards == 0 {
		sc.shards = 2
	}
	if sc.nodes == 0 {
		sc.nodes = 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := &env{t: t, ctx: ctx, dir: t.TempDir(), h: faulttest.NewHistory(), gone: map[int]bool{},
		w:    faulttest.Workload{Collection: "fault", Shards: sc.shards, Keys: 24, MaxTerm: 200},
		seed: uint64(time.Now().UnixNano()%1_000_000) + 1}
	if sc.workload != nil {
		sc.workload(&e.w)
	}
	if s := os.Getenv("SHOAL_FAULT_SEED"); s != "" {
		fmt.Sscan(s, &e.seed)
	}
	cfg := faulttest.Config{Bin: bin, Dir: e.dir, Nodes: sc.nodes, SealDocs: sc.sealDocs, Logf: e.logf}
	if sc.setup != nil {
		sc.setup(e, &cfg)
	}
	sctx, scancel := context.WithTimeout(ctx, 90*time.Second)
	c, err := faulttest.Start(sctx, cfg)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, p := range append([]*faulttest.Proc{c.Infra, c.Coord}, c.Nodes...) {
				t.Logf("---- log of %s (tail)\n%s", p.Name, p.LogTail(3000))
			}
		}
	})
	if st, raw := c.HTTP.Do(ctx, "POST", "/v1/collections", e.w.Spec(), nil); st != 201 {
		t.Fatalf("create collection: %d %s", st, raw)
	}
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	if err := c.WaitLeaders(lctx, e.w.Collection, e.w.Shards); err != nil {
		t.Fatal(err)
	}
	lcancel()
	preload(e, sc)
	e.logf("cluster up, %d static documents, seed %d", sc.static, e.seed)

	e.load = &faulttest.Load{HTTP: c.HTTP, W: e.w, H: e.h, Seed: e.seed, MaxOps: 1500}
	if sc.load != nil {
		sc.load(e.load)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.load.Run(loadCtx) }()
	sc.run(e)
	stopLoad()
	wg.Wait()
	e.logf("fault done; load stopped: %+v", e.h.Counts())

	res := faulttest.Result{Scenario: sc.name, Fault: sc.fault, Needs: sc.needs, Commit: gitCommit()}
	if sc.name == "random-schedule" {
		res.Seed = e.seed
	}
	finalChecks(e, sc, &res)
	if sc.after != nil {
		sc.after(e)
	}
	res.Counts = e.h.Counts()
	res.SlowestWrite = e.h.SlowestAcked().Seconds()
	res.Failures = e.failures
	res.Pass = len(e.failures) == 0 && !t.Failed()
	res.Seconds = time.Since(start).Seconds()
	line, _ := json.Marshal(res)
	t.Logf("result: %s", line)
	if path := os.Getenv("SHOAL_FAULT_RESULTS"); path != "" {
		if err := faulttest.AppendResult(path, res); err != nil {
			t.Error(err)
		}
	}
	if dir := os.Getenv("SHOAL_FAULT_KEEP"); dir != "" {
		keep(e, filepath.Join(dir, sc.name))
	}
	if !res.Pass {
		t.Errorf("%s: %d failed checks (needs: %q):\n%s", sc.name, len(e.failures), sc.needs, strings.Join(e.failures, "\n"))
	}
}

// preload writes the static documents (retrying until acknowledged) and
// seals them when asked.
func preload(e *env, sc scenario) {
	for from := 0; from < sc.static; from += 200 {
		var docs []api.Document
		for i := from; i < min(from+200, sc.static); i++ {
			docs = append(docs, e.w.Doc(e.w.StaticKey(i), 1))
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, raw := e.c.HTTP.Do(e.ctx, "POST", "/v1/collections/"+e.w.Collection+"/documents", api.UpsertRequest{Documents: docs}, nil)
			if st == 200 {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("preload: %d %s", st, raw)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	if !sc.seal {
		return
	}
	if st, raw := e.c.HTTP.Do(e.ctx, "POST", "/v1/collections/"+e.w.Collection+"/seal", nil, nil); st != 200 {
		e.t.Fatalf("seal: %d %s", st, raw)
	}
	waitSegments(e, 60*time.Second)
}

// waitSegments waits until every replica has a ready segment and none is
// building.
func waitSegments(e *env, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		cl, err := e.c.Status()
		ready, building := 0, 0
		for _, sh := range cl.Shards {
			for _, rep := range sh.Replicas {
				for _, sg := range rep.Segments {
					switch sg.State {
					case "ready":
						ready++
					case "building":
						building++
					}
				}
			}
		}
		if err == nil && ready >= e.w.Shards*3 && building == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("segments not ready (%d ready, %d building, %v)", ready, building, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// finalChecks reads the final state and runs the checker.
func finalChecks(e *env, sc scenario, res *faulttest.Result) {
	cctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	final := map[string]int64{}
	docs := map[string]api.Document{}
	unread := 0
	for i := 0; i < e.w.Keys; i++ {
		k := e.w.Key(i)
		for cctx.Err() == nil {
			v, st := faulttest.Read(cctx, e.c.HTTP, e.h, 1000, e.w, k, true)
			if faulttest.Answered(st) {
				final[k] = v
				if v != 0 {
					docs[k] = e.w.Doc(k, v)
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, ok := final[k]; !ok {
			unread++
		}
	}
	missing, sunread := 0, 0
	for i := 0; i < sc.static; i++ {
		k := e.w.StaticKey(i)
		// keep it in the reference: it was acknowledged
		docs[k] = e.w.Doc(k, 1)
		v, _, ok := faulttest.ReadValue(cctx, e.c.HTTP, e.w, k, true)
		switch {
		case !ok:
			sunread++
		case v != 1:
			missing++
		}
	}
	if unread > 0 || sunread > 0 {
		e.failf("final state: %d of %d keys and %d of %d static documents unreadable (strong GET) within 20 s", unread, e.w.Keys, sunread, sc.static)
	}
	for i, n := range e.c.Nodes {
		if !e.gone[i] && !n.Running() {
			e.failf("node n%d is not running at the end (crashed?)", i+1)
		}
	}
	lost := faulttest.LostWrites(e.h.Ops(), final)
	if missing > 0 {
		lost = append(lost, fmt.Sprintf("%d acknowledged static documents missing", missing))
	}
	res.Lost = len(lost)
	if missing > 0 {
		res.Lost += missing - 1
	}
	for i, l := range lost {
		if i == 10 {
			e.failf("... %d more lost writes", len(lost)-i)
			break
		}
		e.failf("lost: %s", l)
	}
	lin := faulttest.Linearizable(e.h.Ops(), 20*time.Second)
	res.Linearizable = string(lin)
	if lin == "Illegal" {
		e.failf("strong reads and writes are not linearizable (porcupine)")
	}
	bad := faulttest.BadEventualReads(e.h.Ops())
	res.BadEventual = len(bad)
	for i, b := range bad {
		if i == 5 {
			break
		}
		e.failf("eventual read: %s", b)
	}
	res.Replicas = "ok"
	rctx, rcancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer rcancel()
	ref := docs
	if unread > 0 || sunread > 0 {
		ref = nil // no reference: compare the replicas with each other
	}
	if diffs := faulttest.CheckReplicas(rctx, e.c, e.w, ref, e.liveNames()); len(diffs) > 0 {
		res.Replicas = diffs[0]
		for _, d := range diffs {
			e.failf("replicas: %s", d)
		}
	}
	if ref == nil {
		res.Search = "not checked: final state unreadable"
		return
	}
	res.Search = "ok"
	sctx, scancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer scancel()
	if errs := faulttest.CheckSearch(sctx, e.c, e.w, docs, 10, e.seed); len(errs) > 0 {
		res.Search = errs[0]
		for _, s := range errs {
			e.failf("search: %s", s)
		}
	}
}

// TestFaults runs every scenario, one at a time.
func TestFaults(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

// keep writes the scenario's history (one JSON line per operation) and
// copies every process's log into dir, for a closer look.
func keep(e *env, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Log(err)
		return
	}
	var b strings.Builder
	for _, op := range e.h.Ops() {
		line, _ := json.Marshal(op)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(b.String()), 0o644); err != nil {
		e.t.Log(err)
	}
	logs, _ := filepath.Glob(filepath.Join(e.dir, "*.log"))
	for _, l := range logs {
		if raw, err := os.ReadFile(l); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(l)), raw, 0o644)
		}
	}
	e.t.Logf("history and logs kept in %s", dir)
}
