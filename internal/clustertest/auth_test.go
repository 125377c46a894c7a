package clustertest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/coordinator"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/internal/devcluster"
	"github.com/shoal-search/shoal/internal/meta"
)

// TestAuth runs a cluster with API keys on: no key answers 401, a read key
// searches but may not write or create collections, a write key writes, an
// admin key manages keys, and a deleted key stops working on this
// coordinator at once and on a second coordinator through its watch.
func TestAuth(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, Auth: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	adminKey := c.AdminKey()
	keyFile := filepath.Join(c.Opts.Dir, devcluster.AdminKeyFile)
	b, err := os.ReadFile(keyFile)
	if err != nil || strings.TrimSpace(string(b)) != adminKey || !strings.HasPrefix(adminKey, "shoal_") {
		t.Fatalf("admin key file: %q, %v; want the admin key %q", b, err, adminKey)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file mode: %v, %v; want 0600", st.Mode(), err)
	}

	newClient := func(base, key string) *client.Client {
		t.Helper()
		cl, err := client.New(base, client.WithAPIKey(key), client.WithTimeout(60*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	wantErr := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: got %v, want %v", what, err, want)
		}
	}

	// No key: 401 with WWW-Authenticate; health stays open.
	anon := newClient(c.URL(), "")
	_, err = anon.ListCollections(ctx)
	wantErr("list without a key", err, client.ErrUnauthorized)
	resp, err := http.Get(c.URL() + "/v1/collections")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("GET /v1/collections without a key: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if _, err := anon.Health(ctx); err != nil {
		t.Fatalf("health without a key: %v", err)
	}

	admin := newClient(c.URL(), adminKey)
	c.MustDo(t, "GET", "/v1/keys", nil, nil) // the cluster's helper sends the admin key
	spec := api.CollectionSpec{Name: "docs", Shards: 1, Sparse: &api.SparseField{MaxTerm: 100}}
	if _, err := admin.CreateCollection(ctx, spec); err != nil {
		t.Fatal(err)
	}
	rk, err := admin.CreateKey(ctx, "reader", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	wk, err := admin.CreateKey(ctx, "writer", api.RoleWrite)
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.CreateKey(ctx, "reader", api.RoleAdmin)
	wantErr("duplicate key name", err, client.ErrConflict)
	_, err = admin.CreateKey(ctx, "bad name", api.RoleRead)
	wantErr("bad key name", err, client.ErrBadRequest)
	_, err = admin.CreateKey(ctx, "x", "root")
	wantErr("bad role", err, client.ErrBadRequest)
	keys, err := admin.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		if k.Key != "" {
			t.Fatalf("GET /v1/keys shows the key of %s", k.Name)
		}
		names = append(names, k.Name+":"+k.Role)
	}
	if got := strings.Join(names, ","); got != "admin:admin,reader:read,writer:write" {
		t.Fatalf("keys: got %s", got)
	}

	doc := api.Document{ID: "d1", Sparse: &api.SparseVector{Indices: []uint32{1, 5}, Values: []float32{1, 2}}}
	query := api.SearchRequest{K: 5, Sparse: &api.SparseVector{Indices: []uint32{5}, Values: []float32{1}}}

	reader := newClient(c.URL(), rk.Key)
	_, err = reader.Upsert(ctx, "docs", []api.Document{doc})
	wantErr("read key upserts", err, client.ErrForbidden)
	_, err = reader.CreateCollection(ctx, api.CollectionSpec{Name: "other", Sparse: &api.SparseField{MaxTerm: 10}})
	wantErr("read key creates a collection", err, client.ErrForbidden)
	_, err = reader.ListKeys(ctx)
	wantErr("read key lists keys", err, client.ErrForbidden)

	writer := newClient(c.URL(), wk.Key)
	w, err := writer.Upsert(ctx, "docs", []api.Document{doc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = writer.CreateCollection(ctx, api.CollectionSpec{Name: "other", Sparse: &api.SparseField{MaxTerm: 10}})
	wantErr("write key creates a collection", err, client.ErrForbidden)
	query.Consistency = &api.Consistency{Token: w.Token}
	res, err := reader.Search(ctx, "docs", query)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].ID != "d1" {
		t.Fatalf("read key search: got %+v", res.Hits)
	}
	if _, err := reader.Get(ctx, "docs", "d1", client.ReadConsistency(api.Consistency{Token: w.Token})); err != nil {
		t.Fatalf("read key get: %v", err)
	}

	// A second coordinator with auth on, over the same etcd and NATS.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.EtcdEndpoint()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	nc, err := nats.Connect(c.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	coord2, err := coordinator.New(coordinator.Config{Meta: meta.New(cli), NATS: nc, Auth: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer coord2.Close()
	srv2 := httptest.NewServer(coord2.Handler())
	defer srv2.Close()
	reader2 := newClient(srv2.URL, rk.Key)
	if _, err := reader2.ListCollections(ctx); err != nil {
		t.Fatalf("read key on the second coordinator: %v", err)
	}
	// A key created through the first coordinator works on the second.
	lk, err := admin.CreateKey(ctx, "late", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the new key works on the second coordinator", func() bool {
		_, err := newClient(srv2.URL, lk.Key).ListCollections(ctx)
		return err == nil
	})

	// Deleting a key: 401 on this coordinator at once, and on the second
	// once its watch has the change.
	if err := admin.DeleteKey(ctx, "reader"); err != nil {
		t.Fatal(err)
	}
	_, err = reader.ListCollections(ctx)
	wantErr("deleted key", err, client.ErrUnauthorized)
	start := time.Now()
	waitFor(t, 30*time.Second, "the deleted key fails on the second coordinator", func() bool {
		_, err := reader2.ListCollections(ctx)
		return errors.Is(err, client.ErrUnauthorized)
	})
	t.Logf("the deletion reached the second coordinator within %v", time.Since(start).Round(time.Millisecond))
	err = admin.DeleteKey(ctx, "reader")
	wantErr("delete a deleted key", err, client.ErrNotFound)

	// The bootstrap key survives a restart: the file is read, not replaced.
	c.Restart(t)
	if c.AdminKey() != adminKey {
		t.Fatalf("admin key after restart: got %q, want %q", c.AdminKey(), adminKey)
	}
	if _, err := newClient(c.URL(), adminKey).ListKeys(ctx); err != nil {
		t.Fatalf("admin key after restart: %v", err)
	}
}

// waitFor polls cond every 20ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
