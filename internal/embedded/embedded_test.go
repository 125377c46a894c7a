package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEtcdAdvertiseAddr starts etcd listening on 127.0.0.1 and advertising
// localhost (as shoal infra does with 0.0.0.0 and a container name), and
// checks that Endpoint reports the advertised address and that a client
// reaches etcd through it.
func TestEtcdAdvertiseAddr(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd; skipped under -short")
	}
	cp, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pp, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e, err := StartEtcd(EtcdConfig{Dir: t.TempDir(), ClientAddr: fmt.Sprintf("127.0.0.1:%d", cp),
		AdvertiseClientAddr: fmt.Sprintf("localhost:%d", cp), PeerAddr: fmt.Sprintf("127.0.0.1:%d", pp)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if want := fmt.Sprintf("http://localhost:%d", cp); e.Endpoint() != want {
		t.Fatalf("Endpoint() = %q, want %q", e.Endpoint(), want)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := cli.Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get: %v %v", r, err)
	}
}
