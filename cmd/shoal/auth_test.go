package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-search/shoal/internal/embedded"
)

// getStatus answers the status of GET url with key (none when empty).
func getStatus(t *testing.T, url, key string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readKeyFile reads a key file and checks that only its owner may read it.
func readKeyFile(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	if !strings.HasPrefix(key, "shoal_") {
		t.Fatalf("%s holds %q, not a key", path, key)
	}
	return key
}

// TestDevAuth starts shoal dev --auth: it writes DATA/admin.key, answers 401
// without a key and 200 with it, and reuses the key on the next start.
func TestDevAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev cluster; skipped under -short")
	}
	base, err := embedded.FreeBase(1)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/collections", base)
	var first string
	for i := range 2 {
		p := run(t, "dev", "--nodes", "1", "--auth", "--http", fmt.Sprintf("127.0.0.1:%d", base), "--data", data)
		p.waitFor(t, "shoal dev: serving", 60*time.Second)
		p.waitFor(t, "admin.key", 5*time.Second)
		key := readKeyFile(t, filepath.Join(data, "admin.key"))
		if i == 0 {
			first = key
		} else if key != first {
			t.Fatalf("the second start replaced the admin key")
		}
		if got := getStatus(t, url, ""); got != http.StatusUnauthorized {
			t.Fatalf("GET /v1/collections without a key: %d, want 401", got)
		}
		if got := getStatus(t, url, key); got != http.StatusOK {
			t.Fatalf("GET /v1/collections with the admin key: %d, want 200", got)
		}
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.waitExit(t, 30*time.Second); code != 0 {
			t.Fatalf("dev exited %d:\n%s", code, p.stderr())
		}
	}
}

// TestCoordinatorBootstrapKey starts shoal infra and shoal coordinator
// --auth --bootstrap-key-file: the coordinator creates the admin key and
// writes the file, and the key manages keys.
func TestCoordinatorBootstrapKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts embedded etcd and NATS; skipped under -short")
	}
	base, err := embedded.FreeBase(1)
	if err != nil {
		t.Fatal(err)
	}
	at := func(off int) string { return fmt.Sprintf("127.0.0.1:%d", base+off) }
	infra := run(t, "infra", "--data", t.TempDir(), "--etcd", at(1), "--etcd-peer", at(2), "--nats", at(3))
	infra.waitFor(t, "infra is up", 60*time.Second)
	keyFile := filepath.Join(t.TempDir(), "secrets", "admin.key")
	coord := run(t, "coordinator", "--auth", "--bootstrap-key-file", keyFile, "--http", at(0),
		"--etcd", "http://"+at(1), "--nats", "nats://"+at(3))
	coord.waitFor(t, "coordinator is up", 60*time.Second)
	key := readKeyFile(t, keyFile)
	url := "http://" + at(0) + "/v1/keys"
	if got := getStatus(t, url, ""); got != http.StatusUnauthorized {
		t.Fatalf("GET /v1/keys without a key: %d, want 401", got)
	}
	if got := getStatus(t, url, key); got != http.StatusOK {
		t.Fatalf("GET /v1/keys with the bootstrap key: %d, want 200", got)
	}
	if err := coord.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	coord.waitExit(t, 30*time.Second)
	if err := infra.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	infra.waitExit(t, 30*time.Second)
}
