package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/coordinator"
	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/devcluster"
	"github.com/shoal-search/shoal/internal/embedded"
	"github.com/shoal-search/shoal/internal/meta"
)

type authOpts struct {
	docs, nq, rounds, k, nodes int
	logLevel                   string
}

// newAuthCmd measures what API key authentication adds to a search: one
// in-process cluster, and two coordinators over it in the same process, one
// with auth off and one with auth on (a read key). Every round sends each
// query through both, in alternating order, so that both see the same
// cluster state and load; it prints the p50 and p99 of each and their ratio.
func newAuthCmd() *cobra.Command {
	var o authOpts
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "search latency through a coordinator with API keys on against one with them off, same cluster, same run",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuth(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.docs, "docs", 20000, "synthetic SPLADE-like documents")
	f.IntVar(&o.nq, "queries", 200, "distinct queries")
	f.IntVar(&o.rounds, "rounds", 10, "passes over the queries (each query goes through both coordinators once per pass)")
	f.IntVar(&o.k, "k", 10, "hits per search")
	f.IntVar(&o.nodes, "nodes", 1, "storage nodes")
	f.StringVar(&o.logLevel, "log-level", "error", "cluster log level")
	return cmd
}

func runAuth(ctx context.Context, w io.Writer, o authOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := dataset.DefaultSparseSynthConfig()
	cfg.Docs, cfg.Queries = o.docs, o.nq
	docs, queries, err := dataset.GenerateSparse(cfg)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shoalbench-auth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := embedded.FreeBase(o.nodes)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: clusterLogLevel(o.logLevel)}))
	c, err := devcluster.Start(ctx, devcluster.Config{Dir: dir, HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Nodes: o.nodes, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	open, err := client.New(c.URL(), client.WithTimeout(2*time.Minute))
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := open.Health(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	const name = "bench"
	if _, err := open.CreateCollection(ctx, api.CollectionSpec{Name: name, Shards: 1, Replication: o.nodes, Sparse: &api.SparseField{MaxTerm: docs.Dim}}); err != nil {
		return err
	}
	var token string
	for from := 0; from < docs.Len(); from += 1000 {
		to := min(from+1000, docs.Len())
		b := make([]api.Document, 0, to-from)
		for i := from; i < to; i++ {
			idx, val := docs.Row(i)
			b = append(b, api.Document{ID: fmt.Sprintf("d%07d", i), Sparse: &api.SparseVector{Indices: idx, Values: val}})
		}
		wr, err := open.Upsert(ctx, name, b)
		if err != nil {
			return err
		}
		token = wr.Token
	}
	if _, err := open.Seal(ctx, name); err != nil {
		return err
	}
	// The cluster's own coordinator runs with auth off; the second one,
	// over the same etcd and NATS, with it on.
	key, err := open.CreateKey(ctx, "bench-reader", api.RoleRead)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.EtcdEndpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	nc, err := nats.Connect(c.NATSURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	coord, err := coordinator.New(coordinator.Config{Meta: meta.New(cli), NATS: nc, Auth: true, Logger: log})
	if err != nil {
		return err
	}
	defer coord.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: coord.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	secured, err := client.New("http://"+ln.Addr().String(), client.WithAPIKey(key.Key), client.WithTimeout(2*time.Minute))
	if err != nil {
		return err
	}
	search := func(cl *client.Client, qi int) (time.Duration, error) {
		idx, val := queries.Row(qi)
		t0 := time.Now()
		_, err := cl.Search(ctx, name, api.SearchRequest{K: o.k, Sparse: &api.SparseVector{Indices: idx, Values: val}})
		return time.Since(t0), err
	}
	// Warm both up (connections, caches, the read-your-writes wait).
	for range 20 {
		req := api.SearchRequest{K: o.k, Sparse: &api.SparseVector{Indices: []uint32{1}, Values: []float32{1}}, Consistency: &api.Consistency{Token: token}}
		if _, err := open.Search(ctx, name, req); err != nil {
			return err
		}
		if _, err := secured.Search(ctx, name, req); err != nil {
			return err
		}
	}
	var off, on []time.Duration
	for r := range o.rounds {
		for qi := range queries.Len() {
			order := []*client.Client{open, secured}
			if (r+qi)%2 == 1 {
				order[0], order[1] = secured, open
			}
			for _, cl := range order {
				d, err := search(cl, qi)
				if err != nil {
					return err
				}
				if cl == secured {
					on = append(on, d)
				} else {
					off = append(off, d)
				}
			}
		}
	}
	return emit(w, map[string]any{
		"bench": "auth", "docs": o.docs, "queries": queries.Len(), "searches_each": len(on), "k": o.k, "nodes": o.nodes,
		"noauth_p50_us": clusterUS(clusterPct(off, 50)), "auth_p50_us": clusterUS(clusterPct(on, 50)),
		"noauth_p99_us": clusterUS(clusterPct(off, 99)), "auth_p99_us": clusterUS(clusterPct(on, 99)),
		"p50_ratio": clusterUS(clusterPct(on, 50)) / clusterUS(clusterPct(off, 50)),
		"p99_ratio": clusterUS(clusterPct(on, 99)) / clusterUS(clusterPct(off, 99)),
	})
}
