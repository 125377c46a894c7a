package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
)

// keyServer is a stub of the /v1/keys endpoints that records the
// Authorization header of every request and wants it to be "Bearer good".
type keyServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	keys  map[string]api.Key
}

func newKeyServer() *keyServer {
	s := &keyServer{keys: map[string]api.Key{}}
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, status int, code string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.ErrorBody{Code: code, Message: code}})
	}
	mux.HandleFunc("POST /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		var req api.KeyRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		k := api.Key{Name: req.Name, Role: req.Role, Created: time.Unix(1700000000, 0).UTC()}
		s.mu.Lock()
		s.keys[req.Name] = k
		s.mu.Unlock()
		k.Key = "shoal_secret"
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(k)
	})
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var out api.KeyList
		for _, k := range s.keys {
			out.Keys = append(out.Keys, k)
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("DELETE /v1/keys/{name}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.keys[r.PathValue("name")]; !ok {
			fail(w, 404, api.CodeNotFound)
			return
		}
		delete(s.keys, r.PathValue("name"))
		_, _ = w.Write([]byte("{}"))
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "":
			fail(w, 401, api.CodeUnauthorized)
		case "Bearer good":
			mux.ServeHTTP(w, r)
		default:
			fail(w, 403, api.CodeForbidden)
		}
	}))
	return s
}

func (s *keyServer) run(env map[string]string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut, func(k string) string {
		if k == addrEnv {
			return s.URL
		}
		return env[k]
	})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestKeyCommands(t *testing.T) {
	s := newKeyServer()
	defer s.Close()

	out, errOut, err := s.run(nil, "--api-key", "good", "key", "create", "ci", "--role", "write")
	if err != nil || strings.TrimSpace(out) != "shoal_secret" || !strings.Contains(errOut, "role write") {
		t.Fatalf("key create: %q, %q, %v", out, errOut, err)
	}
	// The key comes from the environment when the flag is absent.
	out, _, err = s.run(map[string]string{apiKeyEnv: "good"}, "key", "list")
	if err != nil || !strings.Contains(out, "ci") || !strings.Contains(out, "write") || !strings.Contains(out, "2023-11-14T22:13:20Z") {
		t.Fatalf("key list: %q, %v", out, err)
	}
	out, _, err = s.run(nil, "--api-key", "good", "-o", "json", "key", "list")
	var list api.KeyList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Keys) != 1 || list.Keys[0].Key != "" {
		t.Fatalf("key list -o json: %q, %v", out, err)
	}
	// The flag wins over the environment.
	_, _, err = s.run(map[string]string{apiKeyEnv: "bad"}, "--api-key", "good", "key", "delete", "ci")
	if err != nil {
		t.Fatalf("key delete: %v", err)
	}
	_, _, err = s.run(nil, "--api-key", "good", "key", "delete", "ci")
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("key delete again: got %v, want not found", err)
	}
	_, _, err = s.run(nil, "key", "list")
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("no key: got %v, want unauthorized", err)
	}
	_, _, err = s.run(map[string]string{apiKeyEnv: "bad"}, "key", "list")
	if !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("bad key: got %v, want forbidden", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := []string{"Bearer good", "Bearer good", "Bearer good", "Bearer good", "Bearer good", "", "Bearer bad"}
	if strings.Join(s.auths, "|") != strings.Join(want, "|") {
		t.Fatalf("Authorization headers: got %q, want %q", s.auths, want)
	}
}
