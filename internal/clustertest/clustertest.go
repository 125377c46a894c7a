// Package clustertest starts real in-process shoal clusters for tests: an
// embedded etcd, an embedded nats-server, N nodes with raft groups over TCP on
// 127.0.0.1 and a coordinator, on free ports, with logs sent to t.Log.
//
//	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
//	c.MustDo(t, "POST", "/v1/collections", spec, nil)
package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-search/shoal/internal/devcluster"
	"github.com/shoal-search/shoal/internal/embedded"
	"github.com/shoal-search/shoal/replication"
	"github.com/shoal-search/shoal/shard"
)

// Options configures a test cluster.
type Options struct {
	// Nodes is the number of storage nodes; default 3.
	Nodes int
	// Dir holds the cluster's state; default a fresh t.TempDir().
	Dir string
	// Port is the base port; default a free one.
	Port int
	// Shard configures the shard engines; nil means the defaults.
	Shard *shard.Config
	// Raft overrides raft settings (snapshot thresholds, timeouts).
	Raft replication.Config
	// Auth turns API keys on; AdminKey returns the bootstrap admin key.
	Auth bool
}

// Cluster is a running test cluster.
type Cluster struct {
	*devcluster.Cluster
	Opts   Options
	client *http.Client
	done   atomic.Bool
}

// Start starts a cluster, waits until it is healthy, and stops it when the
// test ends. It skips the test under -short.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster test skipped under -short")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Port == 0 {
		opts.Port = FreeBase(t, opts.Nodes)
	}
	c := &Cluster{Opts: opts, client: &http.Client{Timeout: 60 * time.Second}}
	c.start(t)
	t.Cleanup(func() {
		if c.Cluster != nil {
			_ = c.Cluster.Close()
		}
		c.done.Store(true)
	})
	return c
}

func (c *Cluster) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dc, err := devcluster.Start(ctx, devcluster.Config{
		Dir:      c.Opts.Dir,
		HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Opts.Port)),
		Nodes:    c.Opts.Nodes,
		Logger:   slog.New(slog.NewTextHandler(tWriter{t, &c.done}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Raft:     c.Opts.Raft,
		Shard:    c.Opts.Shard,
		Auth:     c.Opts.Auth,
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	c.Cluster = dc
	c.WaitHealthy(t, 60*time.Second)
}

// Restart stops the whole cluster and starts it again on the same data and
// ports.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if err := c.Cluster.Close(); err != nil {
		t.Logf("close before restart: %v", err)
	}
	c.Cluster = nil
	c.start(t)
}

// WaitHealthy polls /v1/health until it answers 200.
func (c *Cluster) WaitHealthy(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		status, _ := c.Do("GET", "/v1/health", nil, nil)
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not healthy after %v (last status %d)", d, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Do sends a JSON request to the cluster's API (with the admin key when
// Auth is on); see HTTP.Do.
func (c *Cluster) Do(method, path string, body, out any) (int, []byte) {
	return HTTP{URL: c.URL(), Client: c.client, APIKey: c.AdminKey()}.Do(method, path, body, out)
}

// HTTP sends JSON requests to a shoal API at URL.
type HTTP struct {
	URL    string
	Client *http.Client // default http.DefaultClient
	// APIKey, when set, is sent as Authorization: Bearer.
	APIKey string
}

// Do sends a JSON request (body: nil, []byte, string, or a value to encode)
// and decodes a 2xx JSON answer into out when it is not nil. It returns the
// status code (0 when the request failed) and the raw body (or the error).
func (h HTTP) Do(method, path string, body, out any) (int, []byte) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		p, err := json.Marshal(b)
		if err != nil {
			return 0, []byte(err.Error())
		}
		rd = bytes.NewReader(p)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	if h.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.APIKey)
	}
	hc := h.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, []byte(fmt.Sprintf("decode %s: %v", raw, err))
		}
	}
	return resp.StatusCode, raw
}

// MustDo is Do that fails the test unless the answer is 2xx.
func (c *Cluster) MustDo(t testing.TB, method, path string, body, out any) {
	t.Helper()
	status, raw := c.Do(method, path, body, out)
	if status < 200 || status >= 300 {
		t.Fatalf("%s %s: status %d: %s", method, path, status, raw)
	}
}

// FreeBase returns a base port P such that P..P+3 and P+10..P+10+nodes are
// free on 127.0.0.1 at the moment.
func FreeBase(t testing.TB, nodes int) int {
	t.Helper()
	p, err := embedded.FreeBase(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tWriter sends log lines to t.Log, so they show only when a test fails.
// Lines written after the test ended are dropped.
type tWriter struct {
	t    testing.TB
	done *atomic.Bool
}

func (w tWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}
