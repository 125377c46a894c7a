// Package meta keeps shoal's cluster metadata in etcd: collection schemas with
// their shard placement, and node registrations bound to leases.
//
// Keys, all under the prefix /shoal/v1/:
//
//	collections/<name>  JSON Collection (schema, incarnation uid, placement)
//	nodes/<id>          JSON Node, attached to the node's lease
//	keys/<name>         JSON APIKey (name, role, SHA-256 of the key, created)
//
//	st := meta.New(cli)
//	err := st.CreateCollection(ctx, meta.Collection{Spec: spec, Placement: p})
package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoal-search/shoal/api"
)

// Prefix is the root of every key shoal writes.
const Prefix = "/shoal/v1/"

const (
	collectionsPrefix = Prefix + "collections/"
	nodesPrefix       = Prefix + "nodes/"
)

// Errors.
var (
	ErrExists   = errors.New("meta: already exists")
	ErrNotFound = errors.New("meta: not found")
)

// Collection is a collection's record: its schema, the uid of this
// incarnation (a collection dropped and created again gets a new uid, so its
// raft groups never mix with the old ones), and the nodes of each shard.
type Collection struct {
	Spec      api.CollectionSpec `json:"spec"`
	UID       string             `json:"uid"`
	Placement [][]string         `json:"placement"`
	Created   time.Time          `json:"created"`
}

// Group returns the raft group id of shard s of c.
func (c Collection) Group(s int) string {
	return fmt.Sprintf("%s-%s-%d", c.Spec.Name, c.UID, s)
}

// Node is a registered node.
type Node struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

// Store reads and writes metadata through an etcd client.
type Store struct {
	cli *clientv3.Client
}

// New returns a Store over cli.
func New(cli *clientv3.Client) *Store {
	return &Store{cli: cli}
}

// Client returns the underlying etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// CreateCollection writes c if no collection of its name exists.
func (s *Store) CreateCollection(ctx context.Context, c Collection) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	key := collectionsPrefix + c.Spec.Name
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("meta: create collection: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("collection %q: %w", c.Spec.Name, ErrExists)
	}
	return nil
}

// GetCollection reads one collection.
func (s *Store) GetCollection(ctx context.Context, name string) (Collection, error) {
	resp, err := s.cli.Get(ctx, collectionsPrefix+name)
	if err != nil {
		return Collection{}, fmt.Errorf("meta: get collection: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return Collection{}, fmt.Errorf("collection %q: %w", name, ErrNotFound)
	}
	var c Collection
	if err := json.Unmarshal(resp.Kvs[0].Value, &c); err != nil {
		return Collection{}, fmt.Errorf("meta: decode collection %q: %w", name, err)
	}
	return c, nil
}

// ListCollections returns every collection, sorted by name, and the etcd
// revision they were read at.
func (s *Store) ListCollections(ctx context.Context) ([]Collection, int64, error) {
	resp, err := s.cli.Get(ctx, collectionsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("meta: list collections: %w", err)
	}
	out := make([]Collection, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var c Collection
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			return nil, 0, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, resp.Header.Revision, nil
}

// DeleteCollection removes a collection's record.
func (s *Store) DeleteCollection(ctx context.Context, name string) error {
	resp, err := s.cli.Delete(ctx, collectionsPrefix+name)
	if err != nil {
		return fmt.Errorf("meta: delete collection: %w", err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("collection %q: %w", name, ErrNotFound)
	}
	return nil
}

// Nodes returns the registered (live) nodes, sorted by id.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	resp, err := s.cli.Get(ctx, nodesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("meta: list nodes: %w", err)
	}
	out := make([]Node, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Registration keeps a node's key alive under a lease until Close.
type Registration struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Register publishes n under a lease of ttl and keeps it alive; when the
// lease is lost (etcd unreachable for longer than ttl) it registers again.
func (s *Store) Register(ctx context.Context, n Node, ttl time.Duration, log *slog.Logger) (*Registration, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	secs := int64(ttl / time.Second)
	if secs < 1 {
		secs = 1
	}
	grant := func(ctx, kaCtx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
		lease, err := s.cli.Grant(ctx, secs)
		if err != nil {
			return nil, err
		}
		if _, err := s.cli.Put(ctx, nodesPrefix+n.ID, string(b), clientv3.WithLease(lease.ID)); err != nil {
			return nil, err
		}
		return s.cli.KeepAlive(kaCtx, lease.ID)
	}
	rctx, cancel := context.WithCancel(context.Background())
	ka, err := grant(ctx, rctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("meta: register node %s: %w", n.ID, err)
	}
	r := &Registration{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			if ka != nil {
				for range ka {
				}
			}
			if rctx.Err() != nil {
				return
			}
			log.Warn("node lease lost; registering again", "node", n.ID)
			select {
			case <-rctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			gctx, gcancel := context.WithTimeout(rctx, 5*time.Second)
			var gerr error
			ka, gerr = grant(gctx, rctx)
			gcancel()
			if gerr != nil {
				ka = nil
			}
		}
	}()
	return r, nil
}

// Close stops the keep-alive and lets the lease expire.
func (r *Registration) Close() {
	r.cancel()
	<-r.done
}

// WatchCollections calls fn with the full, sorted list of collections now and
// after every change, until ctx is done. fn runs on the caller's goroutine.
func (s *Store) WatchCollections(ctx context.Context, fn func([]Collection)) error {
	for ctx.Err() == nil {
		cols, rev, err := s.ListCollections(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		fn(cols)
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), collectionsPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wresp := range wch {
			if wresp.Err() != nil {
				break
			}
			cols, _, err := s.ListCollections(ctx)
			if err != nil {
				break
			}
			fn(cols)
		}
	}
	return ctx.Err()
}

// NameFromKey returns the last element of a key.
func NameFromKey(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}
