// Command shoal is the shoal server.
//
//	shoal dev                      everything in one process (embedded etcd and NATS, 3 nodes, a coordinator)
//	shoal node --id n1 ...         one storage node against external etcd and NATS
//	shoal coordinator --http ...   one coordinator against external etcd and NATS
//	shoal infra                    embedded etcd and NATS for the two above (containers)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoal-search/shoal/coordinator"
	"github.com/shoal-search/shoal/internal/devcluster"
	"github.com/shoal-search/shoal/internal/dirlock"
	"github.com/shoal-search/shoal/internal/embedded"
	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/internal/node"
	"github.com/shoal-search/shoal/replication"
	"github.com/shoal-search/shoal/shard"
)

func main() {
	var level string
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "shoal: a distributed search cluster for sparse, dense and multi-vector retrieval",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	var pprofAddr string
	root.PersistentFlags().StringVar(&pprofAddr, "pprof", "", "serve Go's /debug/pprof on this address, e.g. 127.0.0.1:6060 (off when empty)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if pprofAddr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() { _ = http.Serve(ln, mux) }()
		return nil
	}
	logger := func() *slog.Logger {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			lv = slog.LevelInfo
		}
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	}
	root.AddCommand(devCmd(logger), nodeCmd(logger), coordinatorCmd(logger), infraCmd(logger))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shoal:", err)
		os.Exit(1)
	}
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// startupGrace is how long an interrupted start-up may take to wind down
// before the command gives up on it.
const startupGrace = 10 * time.Second

// startup runs start, which may block for long (etcd's start, the first
// contact with etcd, opening raft groups), so that Ctrl-C (ctx's end) during
// it is honoured: the command then stops listening for signals (a second
// Ctrl-C kills the process), gives start up to startupGrace to return,
// closes what it started with closeFn, and returns an error saying that the
// start-up was interrupted.
func startup[T any](ctx context.Context, stop context.CancelFunc, start func() (T, error), closeFn func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := start()
		done <- result{v, err}
	}()
	var zero T
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return zero, fmt.Errorf("interrupted during start-up: %w", r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
	}
	stop()
	fmt.Fprintln(os.Stderr, "shoal: interrupted during start-up; stopping (Ctrl-C again to force)")
	t := time.NewTimer(startupGrace)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err == nil {
			closeFn(r.v)
		}
	case <-t.C:
	}
	return zero, errors.New("interrupted during start-up")
}

func devCmd(logger func() *slog.Logger) *cobra.Command {
	var cfg devcluster.Config
	var sealDocs int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a whole cluster in one process: embedded etcd and NATS, N nodes, a coordinator",
		Long: `Run a whole cluster in one process: an embedded etcd, an embedded nats-server,
N storage nodes (each holding a replica of every shard, replicated with raft over TCP on
127.0.0.1) and a coordinator serving the HTTP API. Ports derive from the --http port P:
etcd client P+1, etcd peer P+2, NATS P+3, node i's raft P+10+i. Starting again on the
same --data brings back every acknowledged document.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := logger()
			cfg.Logger = log
			cfg.Shard = shardConfig(sealDocs)
			ctx, stop := signalContext()
			defer stop()
			c, err := startup(ctx, stop, func() (*devcluster.Cluster, error) { return devcluster.Start(ctx, cfg) },
				func(c *devcluster.Cluster) { _ = c.Close() })
			if err != nil {
				return err
			}
			log.Info("shoal dev is up", "http", c.URL(), "data", cfg.Dir, "nodes", cfg.Nodes, "nats", c.NATSURL(), "etcd", c.EtcdEndpoint(), "auth", cfg.Auth)
			fmt.Fprintf(os.Stderr, "shoal dev: serving %s (data in %s); Ctrl-C stops it\n", c.URL(), cfg.Dir)
			if cfg.Auth {
				fmt.Fprintf(os.Stderr, "shoal dev: API keys are on; the admin key is in %s (export SHOAL_API_KEY=$(cat %[1]s))\n", filepath.Join(cfg.Dir, devcluster.AdminKeyFile))
			}
			<-ctx.Done()
			log.Info("shutting down")
			return c.Close()
		},
	}
	cmd.Flags().StringVar(&cfg.Dir, "data", "./shoal-data", "directory for all state")
	cmd.Flags().StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:7700", "HTTP API listen address")
	cmd.Flags().IntVar(&cfg.Nodes, "nodes", 3, "number of storage nodes")
	cmd.Flags().IntVar(&sealDocs, "seal-docs", shard.DefaultConfig().SealDocs, "write-buffer size at which a shard seals it into an indexed segment")
	cmd.Flags().BoolVar(&cfg.Auth, "auth", false, "require API keys on the HTTP API; an admin key is written to DATA/admin.key on first start")
	raftFlags(cmd, &cfg.Raft)
	return cmd
}

// raftFlags adds the raft timing flags; zero keeps replication's defaults.
func raftFlags(cmd *cobra.Command, rc *replication.Config) {
	d := replication.DefaultConfig()
	cmd.Flags().DurationVar(&rc.HeartbeatTimeout, "raft-heartbeat-timeout", 0, fmt.Sprintf("raft: a follower without word from its leader this long starts an election (default %v; raise it on an overloaded host)", d.HeartbeatTimeout))
	cmd.Flags().DurationVar(&rc.ElectionTimeout, "raft-election-timeout", 0, fmt.Sprintf("raft: a candidate without a majority this long starts a new election (default %v; at least the heartbeat timeout)", d.ElectionTimeout))
	cmd.Flags().DurationVar(&rc.LeaderLeaseTimeout, "raft-leader-lease-timeout", 0, fmt.Sprintf("raft: a leader without contact with a quorum this long steps down (default %v; at most the heartbeat timeout)", d.LeaderLeaseTimeout))
}

// shardConfig returns the engine configuration for a seal size.
func shardConfig(sealDocs int) *shard.Config {
	c := shard.DefaultConfig()
	if sealDocs > 0 {
		c.SealDocs = sealDocs
	}
	return &c
}

type externalFlags struct {
	etcd []string
	nats string
}

func (f *externalFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.etcd, "etcd", []string{"http://127.0.0.1:2379"}, "etcd endpoints (comma-separated)")
	cmd.Flags().StringVar(&f.nats, "nats", nats.DefaultURL, "NATS server URL(s)")
}

func (f *externalFlags) connect(ctx context.Context, name string) (*clientv3.Client, *nats.Conn, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: f.etcd, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, nil, fmt.Errorf("etcd: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, meta.Prefix+"ping"); err != nil {
		cli.Close()
		return nil, nil, fmt.Errorf("etcd %s: %w", strings.Join(f.etcd, ","), err)
	}
	nc, err := nats.Connect(f.nats, nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false))
	if err != nil {
		cli.Close()
		return nil, nil, fmt.Errorf("nats %s: %w", f.nats, err)
	}
	return cli, nc, nil
}

func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) *http.Server {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Error("metrics server", "err", err)
		}
	}()
	return srv
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func nodeCmd(logger func() *slog.Logger) *cobra.Command {
	var ext externalFlags
	var id, data, raftAddr, metricsAddr string
	var sealDocs int
	var rc replication.Config
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run one storage node against external etcd and NATS",
		RunE: func(cmd *cobra.Command, args []string) error {
			log := logger()
			lock, err := dirlock.Acquire(data)
			if err != nil {
				return err
			}
			defer lock.Release()
			ctx, stop := signalContext()
			defer stop()
			type started struct {
				cli *clientv3.Client
				nc  *nats.Conn
				n   *node.Node
			}
			reg := newRegistry()
			st, err := startup(ctx, stop, func() (started, error) {
				cli, nc, err := ext.connect(ctx, "shoal-node-"+id)
				if err != nil {
					return started{}, err
				}
				n, err := node.Start(ctx, node.Config{ID: id, DataDir: data, RaftAddr: raftAddr, Meta: meta.New(cli), NATS: nc, Logger: log, Registerer: reg, Shard: shardConfig(sealDocs), Raft: rc})
				if err != nil {
					nc.Close()
					cli.Close()
					return started{}, err
				}
				return started{cli, nc, n}, nil
			}, func(st started) {
				_ = st.n.Close()
				st.nc.Close()
				st.cli.Close()
			})
			if err != nil {
				return err
			}
			defer st.cli.Close()
			defer st.nc.Close()
			n := st.n
			ms := serveMetrics(metricsAddr, reg, log)
			log.Info("node is up", "id", id, "raft", n.RaftAddr(), "data", data)
			<-ctx.Done()
			log.Info("shutting down")
			if ms != nil {
				_ = ms.Close()
			}
			return n.Close()
		},
	}
	ext.add(cmd)
	cmd.Flags().StringVar(&id, "id", "", "node id, stable across restarts (required)")
	cmd.Flags().StringVar(&data, "data", "./shoal-node-data", "directory for raft logs and snapshots")
	cmd.Flags().StringVar(&raftAddr, "raft", "127.0.0.1:7710", "raft listen and advertise address, stable across restarts")
	cmd.Flags().StringVar(&metricsAddr, "metrics", "", "address to serve /metrics on (off when empty)")
	cmd.Flags().IntVar(&sealDocs, "seal-docs", shard.DefaultConfig().SealDocs, "write-buffer size at which a shard seals it into an indexed segment (same on every node)")
	raftFlags(cmd, &rc)
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func coordinatorCmd(logger func() *slog.Logger) *cobra.Command {
	var ext externalFlags
	var httpAddr, bootstrapKey string
	var auth bool
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run one coordinator (the HTTP API) against external etcd and NATS",
		RunE: func(cmd *cobra.Command, args []string) error {
			log := logger()
			ctx, stop := signalContext()
			defer stop()
			cli, nc, err := ext.connect(ctx, "shoal-coordinator")
			if err != nil {
				return err
			}
			defer cli.Close()
			defer nc.Close()
			if bootstrapKey != "" && !auth {
				return errors.New("--bootstrap-key-file needs --auth")
			}
			store := meta.New(cli)
			if bootstrapKey != "" {
				bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, created, err := coordinator.BootstrapAdminKey(bctx, store, bootstrapKey, "admin")
				cancel()
				if err != nil {
					return err
				}
				log.Info("bootstrap admin API key", "file", bootstrapKey, "created", created)
			}
			reg := newRegistry()
			c, err := coordinator.New(coordinator.Config{Meta: store, NATS: nc, Logger: log, Registerer: reg, Gatherer: reg, Auth: auth})
			if err != nil {
				return err
			}
			defer c.Close()
			srv := &http.Server{Addr: httpAddr, Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.ListenAndServe() }()
			log.Info("coordinator is up", "http", httpAddr, "auth", auth)
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	ext.add(cmd)
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:7700", "HTTP API listen address")
	cmd.Flags().BoolVar(&auth, "auth", false, "require API keys (Authorization: Bearer) on every /v1 route but health")
	cmd.Flags().StringVar(&bootstrapKey, "bootstrap-key-file", "", "with --auth: make sure this file holds a valid admin key, creating one in etcd (and the file, mode 0600) if not")
	return cmd
}

// infraCmd serves what shoal node and shoal coordinator connect to: a
// single-member etcd and a NATS server, both embedded. It is for containers
// and machines where neither can be installed; production runs real etcd
// and NATS clusters.
func infraCmd(logger func() *slog.Logger) *cobra.Command {
	var data, etcdAddr, etcdAdvertise, etcdPeer, natsAddr string
	cmd := &cobra.Command{
		Use:   "infra",
		Short: "Serve an embedded single-member etcd and a NATS server for shoal node and shoal coordinator",
		RunE: func(cmd *cobra.Command, args []string) error {
			log := logger()
			host, portStr, err := net.SplitHostPort(natsAddr)
			if err != nil {
				return fmt.Errorf("--nats %q: %w", natsAddr, err)
			}
			port, err := strconv.Atoi(portStr)
			if err != nil {
				return fmt.Errorf("--nats %q: port: %w", natsAddr, err)
			}
			lock, err := dirlock.Acquire(data)
			if err != nil {
				return err
			}
			defer lock.Release()
			ctx, stop := signalContext()
			defer stop()
			e, err := startup(ctx, stop, func() (*embedded.Etcd, error) {
				return embedded.StartEtcd(embedded.EtcdConfig{Dir: filepath.Join(data, "etcd"), ClientAddr: etcdAddr,
					AdvertiseClientAddr: etcdAdvertise, PeerAddr: etcdPeer})
			}, (*embedded.Etcd).Close)
			if err != nil {
				return err
			}
			defer e.Close()
			ns, err := embedded.StartNATS(host, port)
			if err != nil {
				return err
			}
			defer ns.Shutdown()
			log.Info("infra is up", "etcd", e.Endpoint(), "nats", ns.ClientURL(), "data", data)
			<-ctx.Done()
			log.Info("shutting down")
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "./shoal-infra-data", "directory for etcd's data")
	cmd.Flags().StringVar(&etcdAddr, "etcd", "127.0.0.1:2379", "etcd client listen address (an IP address)")
	cmd.Flags().StringVar(&etcdAdvertise, "etcd-advertise", "", "etcd client address to advertise (default --etcd; set it when --etcd is 0.0.0.0)")
	cmd.Flags().StringVar(&etcdPeer, "etcd-peer", "127.0.0.1:2380", "etcd peer listen address, stable across restarts")
	cmd.Flags().StringVar(&natsAddr, "nats", "127.0.0.1:4222", "NATS listen address")
	return cmd
}
