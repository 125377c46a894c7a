package api

import "time"

// API key roles, from least to most privileged. Each role may do what the
// roles before it may (docs/http-api.md, "Authentication").
const (
	// RoleRead may search, get and count documents, list and describe
	// collections and read the cluster status.
	RoleRead = "read"
	// RoleWrite may also upsert and delete documents.
	RoleWrite = "write"
	// RoleAdmin may do everything: create, drop, seal and compact
	// collections, manage keys, nodes and backups.
	RoleAdmin = "admin"
)

// Error codes of authentication failures (ErrorBody.Code).
const (
	// CodeUnauthorized answers 401: the request carries no API key, or one
	// the cluster does not know.
	CodeUnauthorized = "unauthorized"
	// CodeForbidden answers 403: the key's role may not call the endpoint.
	CodeForbidden = "forbidden"
)

// KeyRequest is the body of POST /v1/keys.
type KeyRequest struct {
	// Name identifies the key: 1-64 of letters, digits, '_' and '-', unique.
	Name string `json:"name"`
	// Role is RoleRead, RoleWrite or RoleAdmin.
	Role string `json:"role"`
}

// Key describes an API key. Key holds the secret only in the answer to
// POST /v1/keys; it is never shown again.
type Key struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	Key     string    `json:"key,omitempty"`
}

// KeyList is the body of GET /v1/keys, sorted by name.
type KeyList struct {
	Keys []Key `json:"keys"`
}
