package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const keysPrefix = Prefix + "keys/"

// APIKey is the stored record of an API key: its name, role and the SHA-256
// digest of the key (hex). The key itself is never stored.
type APIKey struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Hash    string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// CreateKey writes k if no key of its name exists; otherwise it fails with
// an error matching ErrExists.
func (s *Store) CreateKey(ctx context.Context, k APIKey) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	key := keysPrefix + k.Name
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("meta: create key: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("key %q: %w", k.Name, ErrExists)
	}
	return nil
}

// ListKeys returns every API key record, sorted by name, and the etcd
// revision they were read at.
func (s *Store) ListKeys(ctx context.Context) ([]APIKey, int64, error) {
	resp, err := s.cli.Get(ctx, keysPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("meta: list keys: %w", err)
	}
	out := make([]APIKey, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var k APIKey
		if err := json.Unmarshal(kv.Value, &k); err != nil {
			return nil, 0, fmt.Errorf("meta: decode %s: %w", kv.Key, err)
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, resp.Header.Revision, nil
}

// DeleteKey removes an API key record; it fails with an error matching
// ErrNotFound when there is none of that name.
func (s *Store) DeleteKey(ctx context.Context, name string) error {
	resp, err := s.cli.Delete(ctx, keysPrefix+name)
	if err != nil {
		return fmt.Errorf("meta: delete key: %w", err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("key %q: %w", name, ErrNotFound)
	}
	return nil
}

// WatchKeys calls fn with the full, sorted list of API keys and the etcd
// revision it reflects, now and after every change, until ctx is done. fn
// runs on the caller's goroutine. While etcd cannot be reached fn is not
// called, so the caller keeps its last list.
func (s *Store) WatchKeys(ctx context.Context, fn func([]APIKey, int64)) error {
	for ctx.Err() == nil {
		keys, rev, err := s.ListKeys(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		fn(keys, rev)
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), keysPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wresp := range wch {
			if wresp.Err() != nil {
				break
			}
			keys, rev, err := s.ListKeys(ctx)
			if err != nil {
				break
			}
			fn(keys, rev)
		}
	}
	return ctx.Err()
}
