package faulttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/embedded"
)

// BuildShoal builds the shoal binary of the module rooted at root into dir
// and returns its path.
func BuildShoal(root, dir string) (string, error) {
	bin := filepath.Join(dir, "shoal")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/shoal")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Config describes a multi-process cluster: one `shoal infra` process
// (embedded etcd and NATS), Nodes `shoal node` processes and one
// `shoal coordinator`, every port on 127.0.0.1.
type Config struct {
	// Bin is the shoal binary (required).
	Bin string
	// Dir holds every process's data and log (required).
	Dir string
	// Nodes is the number of storage nodes; default 3.
	Nodes int
	// SealDocs is passed to every node as --seal-docs when > 0.
	SealDocs int
	// NodeUID, when non-nil, runs node i as NodeUID(i) (uid and gid), so
	// that packet filters can match its traffic by owner.
	NodeUID func(i int) int
	// NodeDir, when non-nil, returns node i's data directory (default
	// Dir/n<i+1>).
	NodeDir func(i int) string
	// Logf receives progress lines; default none.
	Logf func(format string, args ...any)
}

// Cluster is a running multi-process cluster.
type Cluster struct {
	cfg   Config
	base  int
	Infra *Proc
	Nodes []*Proc
	Coord *Proc
	// HTTP talks to the coordinator.
	HTTP API
}

// Proc is one process of the cluster, restartable with the same arguments.
type Proc struct {
	Name string
	bin  string
	args []string
	log  string
	uid  int

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	runs  int
	state string // running, stopped (SIGSTOP), exited
}

// Start starts the infra process, the nodes and the coordinator and waits
// until the coordinator sees every node alive.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	base, err := embedded.FreeBase(cfg.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, base: base}
	c.HTTP = NewAPI("http://"+c.addr(0), 25*time.Second)
	c.Infra = c.newProc("infra", -1, "infra", "--data", filepath.Join(cfg.Dir, "infra"),
		"--etcd", c.addr(1), "--etcd-peer", c.addr(2), "--nats", c.addr(3), "--log-level", "warn")
	ext := []string{"--etcd", "http://" + c.addr(1), "--nats", "nats://" + c.addr(3), "--log-level", "warn"}
	for i := 0; i < cfg.Nodes; i++ {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("n%d", i+1))
		if cfg.NodeDir != nil {
			dir = cfg.NodeDir(i)
		}
		args := append([]string{"node", "--id", fmt.Sprintf("n%d", i+1), "--data", dir, "--raft", c.RaftAddr(i)}, ext...)
		if cfg.SealDocs > 0 {
			args = append(args, "--seal-docs", strconv.Itoa(cfg.SealDocs))
		}
		uid := -1
		if cfg.NodeUID != nil {
			uid = cfg.NodeUID(i)
			if err := chownTree(dir, uid); err != nil {
				return nil, err
			}
		}
		c.Nodes = append(c.Nodes, c.newProc(fmt.Sprintf("n%d", i+1), uid, args...))
	}
	c.Coord = c.newProc("coordinator", -1, append([]string{"coordinator", "--http", c.addr(0)}, ext...)...)
	if err := c.Infra.Start(); err != nil {
		return nil, err
	}
	if err := waitPort(ctx, c.addr(1)); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	}
	if err := waitPort(ctx, c.addr(3)); err != nil {
		c.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.Coord.Start(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.WaitNodes(ctx, cfg.Nodes); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func chownTree(dir string, uid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

func (c *Cluster) addr(off int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.base+off))
}

// RaftAddr returns node i's raft address.
func (c *Cluster) RaftAddr(i int) string { return c.addr(10 + i) }

// RaftPort returns node i's raft port.
func (c *Cluster) RaftPort(i int) int { return c.base + 10 + i }

// NodeDir returns node i's data directory.
func (c *Cluster) NodeDir(i int) string {
	if c.cfg.NodeDir != nil {
		return c.cfg.NodeDir(i)
	}
	return filepath.Join(c.cfg.Dir, fmt.Sprintf("n%d", i+1))
}

func (c *Cluster) newProc(name string, uid int, args ...string) *Proc {
	return &Proc{Name: name, bin: c.cfg.Bin, args: args, log: filepath.Join(c.cfg.Dir, name+".log"), uid: uid, state: "exited"}
}

// Close stops every process (SIGCONT then SIGKILL; the data is thrown away
// with the directory).
func (c *Cluster) Close() {
	for _, p := range append(append([]*Proc{c.Coord}, c.Nodes...), c.Infra) {
		if p != nil {
			p.Kill()
		}
	}
}

// Start starts the process (again) with its arguments; its output is
// appended to its log file.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != "exited" {
		return fmt.Errorf("%s: start: already %s", p.Name, p.state)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.runs++
	fmt.Fprintf(f, "==== start %d at %s\n", p.runs, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// its own process group, so that signals to it never reach the test;
	// killed if the test process dies without cleaning up
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(p.uid), Gid: uint32(p.uid)}
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		p.mu.Lock()
		if p.cmd == cmd {
			p.state = "exited"
		}
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.done, p.state = cmd, done, "running"
	return nil
}

// Running reports whether the process is running (or stopped, not exited).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state != "exited"
}

// Pid returns the process id of the current run, or 0.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.state == "exited" {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *Proc) signal(sig syscall.Signal) (chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.state == "exited" {
		return nil, fmt.Errorf("%s: not running", p.Name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return nil, err
	}
	switch sig {
	case syscall.SIGSTOP:
		p.state = "stopped"
	case syscall.SIGCONT:
		p.state = "running"
	}
	return p.done, nil
}

// Kill sends SIGKILL (after SIGCONT, so a stopped process dies too) and waits
// for the exit. It is a no-op when the process is not running.
func (p *Proc) Kill() {
	if done, err := p.signal(syscall.SIGCONT); err == nil {
		_, _ = p.signal(syscall.SIGKILL)
		<-done
	}
}

// Term sends SIGTERM and waits up to d for the exit, then kills.
func (p *Proc) Term(d time.Duration) {
	done, err := p.signal(syscall.SIGTERM)
	if err != nil {
		return
	}
	select {
	case <-done:
	case <-time.After(d):
		p.Kill()
	}
}

// Stop sends SIGSTOP.
func (p *Proc) Stop() error { _, err := p.signal(syscall.SIGSTOP); return err }

// Cont sends SIGCONT.
func (p *Proc) Cont() error { _, err := p.signal(syscall.SIGCONT); return err }

// Restart kills the process if it runs and starts it again.
func (p *Proc) Restart() error {
	p.Kill()
	return p.Start()
}

// LogTail returns the last n bytes of the process's log.
func (p *Proc) LogTail(n int64) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func waitPort(ctx context.Context, addr string) error {
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Status returns GET /v1/cluster.
func (c *Cluster) Status() (api.ClusterStatus, error) {
	var cl api.ClusterStatus
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, raw := c.HTTP.Do(ctx, "GET", "/v1/cluster", nil, &cl)
	if st != 200 {
		return cl, fmt.Errorf("GET /v1/cluster: %d %s", st, raw)
	}
	return cl, nil
}

// WaitNodes waits until the coordinator answers and n nodes are registered
// alive.
func (c *Cluster) WaitNodes(ctx context.Context, n int) error {
	var last string
	for {
		cl, err := c.Status()
		if err == nil {
			alive := 0
			for _, nd := range cl.Nodes {
				if nd.Alive {
					alive++
				}
			}
			if alive >= n {
				return nil
			}
			last = fmt.Sprintf("%d of %d nodes alive", alive, n)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not up: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ErrNoLeader is returned by Leader when a shard has no leader.
var ErrNoLeader = errors.New("faulttest: no leader")

// Leader returns the index of the node that leads shard of collection.
func (c *Cluster) Leader(collection string, shard int) (int, error) {
	cl, err := c.Status()
	if err != nil {
		return -1, err
	}
	for _, sh := range cl.Shards {
		if sh.Collection != collection || sh.Shard != shard {
			continue
		}
		for _, r := range sh.Replicas {
			if r.Role == "leader" {
				var i int
				if _, err := fmt.Sscanf(r.Node, "n%d", &i); err == nil {
					return i - 1, nil
				}
			}
		}
	}
	return -1, ErrNoLeader
}

// WaitLeaders waits until every shard of collection has a leader among the
// running nodes.
func (c *Cluster) WaitLeaders(ctx context.Context, collection string, shards int) error {
	for {
		ok := true
		for s := 0; s < shards; s++ {
			i, err := c.Leader(collection, s)
			if err != nil || !c.Nodes[i].Running() {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("collection %s: not every shard has a live leader", collection)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitReplicas waits until every replica of the collection on the nodes
// named in live answers the status request without an error (after a
// restart: the new processes have opened their replicas).
func (c *Cluster) WaitReplicas(ctx context.Context, collection string, live []string) error {
	var last string
	for {
		cl, err := c.Status()
		if err == nil {
			answering := map[string]int{}
			shards := 0
			for _, sh := range cl.Shards {
				if sh.Collection != collection {
					continue
				}
				shards++
				for _, r := range sh.Replicas {
					if r.Error == "" && r.Role != "" && r.Role != "unknown" {
						answering[r.Node]++
					}
				}
			}
			ok := shards > 0
			for _, n := range live {
				if answering[n] != shards {
					ok = false
					last = fmt.Sprintf("%s answers for %d of %d shards", n, answering[n], shards)
				}
			}
			if ok {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replicas not answering: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitNodeGone waits until node id is no longer registered alive (its
// lease expired).
func (c *Cluster) WaitNodeGone(ctx context.Context, id string) error {
	for {
		cl, err := c.Status()
		if err == nil {
			alive := false
			for _, n := range cl.Nodes {
				if n.ID == id && n.Alive {
					alive = true
				}
			}
			if !alive {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s still registered", id)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LogCount returns how many lines of the process's log (all runs) contain
// substr.
func (p *Proc) LogCount(substr string) int {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// LogLines returns up to max lines of the process's log (all runs) that
// contain substr.
func (p *Proc) LogLines(substr string, max int) []string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, substr) && len(out) < max {
			out = append(out, line)
		}
	}
	return out
}
