package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/atomicfile"
	"github.com/shoal-search/shoal/internal/meta"
)

// NewKey returns a new random API key: "shoal_" and the unpadded base64url
// encoding of 32 random bytes. The key says nothing of its name or role.
func NewKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// validKeyRequest checks the body of POST /v1/keys.
func validKeyRequest(req api.KeyRequest) error {
	if req.Name == "" {
		return badRequest("name", "is required")
	}
	if !nameRE.MatchString(req.Name) {
		return badRequest("name", "must be 1-64 characters of letters, digits, '_' or '-'")
	}
	if req.Role == "" {
		return badRequest("role", "is required: read, write or admin")
	}
	if _, ok := ParseRole(req.Role); !ok {
		return badRequest("role", "unknown role %q: want read, write or admin", req.Role)
	}
	return nil
}

// createKey stores a new key named name with role and returns it.
func createKey(ctx context.Context, store *meta.Store, name, role string) (api.Key, error) {
	key := NewKey()
	rec := meta.APIKey{Name: name, Role: role, Hash: HashKey(key), Created: time.Now().UTC().Truncate(time.Second)}
	if err := store.CreateKey(ctx, rec); err != nil {
		return api.Key{}, err
	}
	return api.Key{Name: name, Role: role, Created: rec.Created, Key: key}, nil
}

func (c *Coordinator) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req api.KeyRequest
	if err := decodeBody(w, r, &req); err != nil {
		c.fail(w, "create_key", err)
		return
	}
	if err := validKeyRequest(req); err != nil {
		c.fail(w, "create_key", err)
		return
	}
	k, err := createKey(r.Context(), c.cfg.Meta, req.Name, req.Role)
	if errors.Is(err, meta.ErrExists) {
		c.fail(w, "create_key", &apiError{status: http.StatusConflict, body: api.ErrorBody{Code: api.CodeConflict, Field: "name", Message: "an API key named " + req.Name + " already exists"}})
		return
	}
	if err != nil {
		c.fail(w, "create_key", metaErr(err))
		return
	}
	c.log.Info("API key created", "key_name", k.Name, "key_role", k.Role)
	c.reloadKeys(r.Context())
	c.ok(w, "create_key", http.StatusCreated, k, start)
}

func (c *Coordinator) handleListKeys(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	recs, _, err := c.cfg.Meta.ListKeys(r.Context())
	if err != nil {
		c.fail(w, "list_keys", metaErr(err))
		return
	}
	out := api.KeyList{Keys: make([]api.Key, 0, len(recs))}
	for _, k := range recs {
		out.Keys = append(out.Keys, api.Key{Name: k.Name, Role: k.Role, Created: k.Created})
	}
	c.ok(w, "list_keys", http.StatusOK, out, start)
}

func (c *Coordinator) handleDeleteKey(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	if err := c.cfg.Meta.DeleteKey(r.Context(), name); err != nil {
		c.fail(w, "delete_key", metaErr(err))
		return
	}
	c.log.Info("API key deleted", "key_name", name)
	c.reloadKeys(r.Context())
	c.ok(w, "delete_key", http.StatusOK, struct{}{}, start)
}

// reloadKeys makes a key change through this coordinator take effect here
// before the answer; other coordinators learn it through their watch.
func (c *Coordinator) reloadKeys(ctx context.Context) {
	if c.auth == nil {
		return
	}
	if err := c.auth.reload(ctx, true); err != nil {
		c.log.Warn("reloading API keys", "err", err)
	}
}

// BootstrapAdminKey makes sure that the file at path holds a valid admin
// key. If the file holds a key that etcd knows with role admin, it returns
// that key; otherwise it creates an admin key named name (or name-N when
// name is taken) and writes it to path (mode 0600) before returning it.
// created says whether a new key was made. A cluster started with auth on
// gets its first admin key this way (docs/operations.md, "API keys").
func BootstrapAdminKey(ctx context.Context, store *meta.Store, path, name string) (key string, created bool, err error) {
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		recs, _, err := store.ListKeys(ctx)
		if err != nil {
			return "", false, err
		}
		h := HashKey(key)
		for _, r := range recs {
			if r.Hash == h && r.Role == api.RoleAdmin {
				return key, false, nil
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("coordinator: bootstrap key: %w", err)
	}
	var k api.Key
	for i := 1; ; i++ {
		n := name
		if i > 1 {
			n = fmt.Sprintf("%s-%d", name, i)
		}
		k, err = createKey(ctx, store, n, api.RoleAdmin)
		if err == nil {
			break
		}
		if !errors.Is(err, meta.ErrExists) || i >= 100 {
			return "", false, fmt.Errorf("coordinator: bootstrap key: %w", err)
		}
	}
	if err := writeSecret(path, k.Key+"\n"); err != nil {
		// Do not leave a key in etcd that nobody can read.
		_ = store.DeleteKey(context.WithoutCancel(ctx), k.Name)
		return "", false, fmt.Errorf("coordinator: bootstrap key: %w", err)
	}
	return k.Key, true, nil
}

// writeSecret replaces path with data, readable by its owner only.
func writeSecret(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
