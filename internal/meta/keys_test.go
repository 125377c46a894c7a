package meta_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoal-search/shoal/internal/embedded"
	"github.com/shoal-search/shoal/internal/meta"
)

// TestKeys stores, lists, watches and deletes API key records in a real
// (embedded) etcd.
func TestKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd; skipped under -short")
	}
	base, err := embedded.FreeBase(0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: filepath.Join(t.TempDir(), "etcd"),
		ClientAddr: fmt.Sprintf("127.0.0.1:%d", base+1), PeerAddr: fmt.Sprintf("127.0.0.1:%d", base+2)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st := meta.New(cli)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	var seen [][]meta.APIKey
	var lastRev int64
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = st.WatchKeys(wctx, func(keys []meta.APIKey, rev int64) {
			mu.Lock()
			defer mu.Unlock()
			if rev < lastRev {
				t.Errorf("watch went back from revision %d to %d", lastRev, rev)
			}
			lastRev = rev
			seen = append(seen, keys)
		})
	}()
	defer func() { wcancel(); <-done }()

	created := time.Now().UTC().Truncate(time.Second)
	for _, k := range []meta.APIKey{{Name: "b", Role: "read", Hash: "bb", Created: created}, {Name: "a", Role: "admin", Hash: "aa", Created: created}} {
		if err := st.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateKey(ctx, meta.APIKey{Name: "a", Role: "read"}); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate: got %v, want ErrExists", err)
	}
	keys, _, err := st.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].Name != "a" || keys[1].Name != "b" || keys[0].Hash != "aa" || !keys[0].Created.Equal(created) {
		t.Fatalf("ListKeys: %+v, %v", keys, err)
	}
	if err := st.DeleteKey(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteKey(ctx, "b"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("delete again: got %v, want ErrNotFound", err)
	}
	// The watch ends on the list with "a" alone.
	for deadline := time.Now().Add(30 * time.Second); ; {
		mu.Lock()
		last := []meta.APIKey(nil)
		if len(seen) > 0 {
			last = seen[len(seen)-1]
		}
		mu.Unlock()
		if len(last) == 1 && last[0].Name == "a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch: last list %+v", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
