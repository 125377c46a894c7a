package client

import (
	"context"
	"net/http"

	"github.com/shoal-search/shoal/api"
)

// CreateKey creates an API key named name with role (api.RoleRead,
// api.RoleWrite or api.RoleAdmin) and returns it with its secret in Key,
// which the cluster never shows again. It fails with ErrConflict if the name
// is taken. It needs an admin key when the cluster runs with auth on.
func (c *Client) CreateKey(ctx context.Context, name, role string) (*api.Key, error) {
	var out api.Key
	if err := c.do(ctx, http.MethodPost, "/keys", api.KeyRequest{Name: name, Role: role}, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys returns the name, role and creation time of every API key.
func (c *Client) ListKeys(ctx context.Context) ([]api.Key, error) {
	var out api.KeyList
	if err := c.do(ctx, http.MethodGet, "/keys", nil, true, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// DeleteKey deletes the API key named name; calls with it fail with
// ErrUnauthorized from then on. It fails with ErrNotFound when there is no
// such key.
func (c *Client) DeleteKey(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/keys/"+segment(name), nil, false, nil)
}
