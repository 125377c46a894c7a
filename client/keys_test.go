package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
)

// authServer answers 401 without "Bearer good", 403 for a key create with
// a write key, and the key endpoints otherwise.
func authServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, code string) {
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.ErrorBody{Code: code, Message: "no"}})
		}
		switch auth := r.Header.Get("Authorization"); {
		case auth == "Bearer writer" && r.Method == "POST":
			fail(403, api.CodeForbidden)
		case auth != "Bearer good" && auth != "Bearer writer":
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			fail(401, api.CodeUnauthorized)
		case r.Method == "POST" && r.URL.Path == "/v1/keys":
			var req api.KeyRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			w.WriteHeader(201)
			_ = json.NewEncoder(w).Encode(api.Key{Name: req.Name, Role: req.Role, Key: "shoal_new"})
		case r.Method == "GET" && r.URL.Path == "/v1/keys":
			_ = json.NewEncoder(w).Encode(api.KeyList{Keys: []api.Key{{Name: "ci", Role: api.RoleRead}}})
		case r.Method == "DELETE" && r.URL.Path == "/v1/keys/ci":
			_, _ = w.Write([]byte("{}"))
		default:
			fail(404, api.CodeNotFound)
		}
	}))
}

func TestWithAPIKey(t *testing.T) {
	srv := authServer()
	defer srv.Close()
	ctx := context.Background()
	anon, _ := client.New(srv.URL)
	if _, err := anon.ListKeys(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("no key: got %v, want ErrUnauthorized", err)
	}
	writer, _ := client.New(srv.URL, client.WithAPIKey("writer"))
	if _, err := writer.CreateKey(ctx, "x", api.RoleRead); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("write key: got %v, want ErrForbidden", err)
	}
	c, err := client.New(srv.URL, client.WithAPIKey("good"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, "ci", api.RoleRead)
	if err != nil || k.Key != "shoal_new" || k.Name != "ci" || k.Role != api.RoleRead {
		t.Fatalf("CreateKey: %+v, %v", k, err)
	}
	keys, err := c.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "ci" {
		t.Fatalf("ListKeys: %+v, %v", keys, err)
	}
	if err := c.DeleteKey(ctx, "ci"); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if err := c.DeleteKey(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("DeleteKey nope: got %v, want ErrNotFound", err)
	}
	if _, err := client.New(srv.URL, client.WithAPIKey("a b")); !errors.Is(err, client.ErrConfig) {
		t.Fatalf("key with a space: got %v, want ErrConfig", err)
	}
}

// ExampleWithAPIKey calls a cluster that runs with API keys on (shoal dev
// --auth writes an admin key to DATA/admin.key).
func ExampleWithAPIKey() {
	srv := authServer() // stands in for `shoal dev --auth`
	defer srv.Close()
	ctx := context.Background()

	admin, err := client.New(srv.URL, client.WithAPIKey("good"))
	if err != nil {
		panic(err)
	}
	k, err := admin.CreateKey(ctx, "ci", api.RoleRead)
	if err != nil {
		panic(err)
	}
	fmt.Println("created", k.Name, "with role", k.Role)

	anon, _ := client.New(srv.URL)
	_, err = anon.ListKeys(ctx)
	fmt.Println("without a key:", errors.Is(err, client.ErrUnauthorized))
	// Output:
	// created ci with role read
	// without a key: true
}
