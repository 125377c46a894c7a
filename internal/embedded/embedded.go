// Package embedded starts the real etcd and nats-server inside a shoal
// process, for `shoal dev` and for tests. Production points shoal at external
// etcd and NATS clusters instead.
//
//	e, _ := embedded.StartEtcd(embedded.EtcdConfig{Dir: dir, ClientAddr: "127.0.0.1:7701", PeerAddr: "127.0.0.1:7702"})
//	defer e.Close()
//	ns, _ := embedded.StartNATS("127.0.0.1", 7703)
//	defer ns.Shutdown()
package embedded

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EtcdConfig configures an embedded single-member etcd.
type EtcdConfig struct {
	// Dir holds etcd's data. Required.
	Dir string
	// ClientAddr and PeerAddr are host:port listen addresses (etcd wants IP
	// addresses here). Keep PeerAddr stable across restarts of the same Dir.
	// Required.
	ClientAddr, PeerAddr string
	// AdvertiseClientAddr is the host:port clients are told to use; default
	// ClientAddr. Set it when listening on 0.0.0.0 (a container).
	AdvertiseClientAddr string
	// Name is the member name; default "shoal".
	Name string
	// StartTimeout bounds the wait for etcd to serve; default 30s.
	StartTimeout time.Duration
}

// Etcd is a running embedded etcd.
type Etcd struct {
	e        *embed.Etcd
	endpoint string
}

// StartEtcd starts etcd and waits until it serves.
func StartEtcd(cfg EtcdConfig) (*Etcd, error) {
	if cfg.Dir == "" || cfg.ClientAddr == "" || cfg.PeerAddr == "" {
		return nil, errors.New("embedded: etcd needs Dir, ClientAddr and PeerAddr")
	}
	if cfg.Name == "" {
		cfg.Name = "shoal"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.Dir
	ec.LogLevel = "error"
	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cu := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	au := cu
	if cfg.AdvertiseClientAddr != "" {
		au.Host = cfg.AdvertiseClientAddr
	}
	pu := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls = []url.URL{cu}
	ec.AdvertiseClientUrls = []url.URL{au}
	ec.ListenPeerUrls = []url.URL{pu}
	ec.AdvertisePeerUrls = []url.URL{pu}
	ec.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, pu.String())
	ec.InitialClusterToken = "shoal-dev"
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedded: start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded: etcd: %w", err)
	case <-time.After(cfg.StartTimeout):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("embedded: etcd did not become ready in time")
	}
	return &Etcd{e: e, endpoint: au.String()}, nil
}

// Endpoint returns the client URL.
func (e *Etcd) Endpoint() string { return e.endpoint }

// Close stops etcd.
func (e *Etcd) Close() {
	e.e.Close()
}

// StartNATS starts a nats-server on host:port (port -1 picks one) and waits
// until it accepts connections.
func StartNATS(host string, port int) (*server.Server, error) {
	opts := &server.Options{
		Host:       host,
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 64 << 20,
		MaxPending: 256 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded: nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded: nats did not become ready in time")
	}
	return ns, nil
}

// FreeBase returns a base port P such that P..P+3 and P+10..P+10+nodes-1
// (the ports a dev cluster of that many nodes derives from P) were free on
// 127.0.0.1 a moment ago.
func FreeBase(nodes int) (int, error) {
	offsets := []int{0, 1, 2, 3}
	for i := range nodes {
		offsets = append(offsets, 10+i)
	}
	for try := 0; try < 200; try++ {
		p := 20000 + rand.IntN(40000)
		ok := true
		for _, off := range offsets {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+off)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("embedded: no free port range found")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
