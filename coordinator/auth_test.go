package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/meta"
)

// fakeKeys is an in-memory keyStore.
type fakeKeys struct {
	mu    sync.Mutex
	keys  []meta.APIKey
	rev   int64
	err   error
	lists int
}

func (f *fakeKeys) ListKeys(context.Context) ([]meta.APIKey, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.err != nil {
		return nil, 0, f.err
	}
	return append([]meta.APIKey(nil), f.keys...), f.rev, nil
}

func (f *fakeKeys) WatchKeys(ctx context.Context, fn func([]meta.APIKey, int64)) error {
	<-ctx.Done() // the tests install key sets themselves
	return ctx.Err()
}

func (f *fakeKeys) add(name, role, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	f.keys = append(f.keys, meta.APIKey{Name: name, Role: role, Hash: HashKey(key), Created: time.Now()})
}

func TestRouteRole(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          Role
	}{
		{"GET /v1/health", "/v1/health", RolePublic},
		{"GET /v1/cluster", "/v1/cluster", RoleRead},
		{"POST /v1/collections/{name}/search", "/v1/collections/a/search", RoleRead},
		{"GET /v1/collections/{name}/documents/{id}", "/v1/collections/a/documents/x", RoleRead},
		{"POST /v1/collections/{name}/documents", "/v1/collections/a/documents", RoleWrite},
		{"DELETE /v1/collections/{name}/documents/{id}", "/v1/collections/a/documents/x", RoleWrite},
		{"POST /v1/collections", "/v1/collections", RoleAdmin},
		{"DELETE /v1/collections/{name}", "/v1/collections/a", RoleAdmin},
		{"POST /v1/keys", "/v1/keys", RoleAdmin},
		// A route nobody listed is closed to all but admins.
		{"POST /v1/brand-new", "/v1/brand-new", RoleAdmin},
		{"/v1/brand-new", "/v1/brand-new", RoleAdmin},
		// No route: any valid key learns that it is a 404.
		{"", "/v1/nope", RoleRead},
		{"GET /", "/v1/nope", RoleRead},
		// Outside /v1: public.
		{"GET /metrics", "/metrics", RolePublic},
		{"GET /ui/", "/ui/index.html", RolePublic},
		{"", "/favicon.ico", RolePublic},
	} {
		if got := RouteRole(tc.pattern, tc.path); got != tc.want {
			t.Errorf("RouteRole(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// TestRouteRolesListEveryRoute checks that every route the coordinator
// registers has its role written in RouteRoles, and that the table names no
// route that does not exist.
func TestRouteRolesListEveryRoute(t *testing.T) {
	c := &Coordinator{}
	c.routes()
	seen := map[string]bool{}
	for _, rq := range []struct{ method, path string }{
		{"GET", "/v1/health"}, {"GET", "/v1/cluster"},
		{"POST", "/v1/collections"}, {"GET", "/v1/collections"},
		{"GET", "/v1/collections/a"}, {"DELETE", "/v1/collections/a"},
		{"POST", "/v1/collections/a/documents"}, {"GET", "/v1/collections/a/documents/x"},
		{"DELETE", "/v1/collections/a/documents/x"}, {"POST", "/v1/collections/a/search"},
		{"POST", "/v1/collections/a/seal"}, {"POST", "/v1/collections/a/compact"},
		{"POST", "/v1/keys"}, {"GET", "/v1/keys"}, {"DELETE", "/v1/keys/k"},
	} {
		_, pattern := c.mux.Handler(httptest.NewRequest(rq.method, rq.path, nil))
		if pattern == "" {
			t.Errorf("%s %s matches no route", rq.method, rq.path)
			continue
		}
		if _, ok := RouteRoles[pattern]; !ok {
			t.Errorf("route %q is not in RouteRoles", pattern)
		}
		seen[pattern] = true
	}
	for p := range RouteRoles {
		if !seen[p] {
			t.Errorf("RouteRoles lists %q, which no test request reaches", p)
		}
	}
}

// authFixture is a mux of stub handlers at the API's patterns behind an
// authenticator over fakeKeys.
type authFixture struct {
	h    http.Handler
	a    *authenticator
	keys *fakeKeys
	reg  *prometheus.Registry
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{keys: &fakeKeys{}, reg: prometheus.NewRegistry()}
	f.a = newAuthenticator(f.keys, slog.New(slog.DiscardHandler), f.reg)
	t.Cleanup(f.a.close)
	mux := http.NewServeMux()
	for p := range RouteRoles {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, struct{}{}) })
	}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /v1/unlisted", func(w http.ResponseWriter, r *http.Request) {})
	f.h = f.a.wrap(mux)
	return f
}

func (f *authFixture) do(t *testing.T, method, path, key string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader("{}"))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// wantStatus checks an answer's status and, for errors, its JSON code.
func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("got status %d (%s), want %d", w.Code, w.Body, status)
	}
	if code == "" {
		return
	}
	var er api.ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &er); err != nil || er.Error.Code != code || er.Error.Message == "" {
		t.Fatalf("got body %s, want error code %q", w.Body, code)
	}
}

func TestAuthMiddleware(t *testing.T) {
	f := newAuthFixture(t)
	readKey, writeKey, adminKey := NewKey(), NewKey(), NewKey()
	f.keys.add("r", api.RoleRead, readKey)
	f.keys.add("w", api.RoleWrite, writeKey)
	f.keys.add("a", api.RoleAdmin, adminKey)
	if err := f.a.reload(t.Context(), true); err != nil {
		t.Fatal(err)
	}

	// Public routes.
	wantStatus(t, f.do(t, "GET", "/v1/health", ""), 200, "")
	wantStatus(t, f.do(t, "GET", "/metrics", ""), 200, "")

	// Missing, malformed and unknown keys.
	w := f.do(t, "POST", "/v1/collections/c/search", "")
	wantStatus(t, w, 401, api.CodeUnauthorized)
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="shoal"` {
		t.Fatalf("got WWW-Authenticate %q", got)
	}
	w = f.do(t, "POST", "/v1/collections/c/search", "not-a-key")
	wantStatus(t, w, 401, api.CodeUnauthorized)
	if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
		t.Fatalf("got WWW-Authenticate %q", got)
	}
	wantStatus(t, f.do(t, "POST", "/v1/collections/c/search", NewKey()), 401, api.CodeUnauthorized)
	r := httptest.NewRequest("GET", "/v1/cluster", nil)
	r.Header.Set("Authorization", "Basic "+readKey)
	w = httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	wantStatus(t, w, 401, api.CodeUnauthorized)

	// Roles.
	for _, tc := range []struct {
		method, path string
		key          string
		want         int
	}{
		{"POST", "/v1/collections/c/search", readKey, 200},
		{"GET", "/v1/collections/c/documents/x", readKey, 200},
		{"GET", "/v1/collections", readKey, 200},
		{"GET", "/v1/cluster", readKey, 200},
		{"POST", "/v1/collections/c/documents", readKey, 403},
		{"DELETE", "/v1/collections/c/documents/x", readKey, 403},
		{"POST", "/v1/collections", readKey, 403},
		{"POST", "/v1/collections/c/documents", writeKey, 200},
		{"DELETE", "/v1/collections/c/documents/x", writeKey, 200},
		{"POST", "/v1/collections", writeKey, 403},
		{"POST", "/v1/keys", writeKey, 403},
		{"POST", "/v1/unlisted", writeKey, 403},
		{"POST", "/v1/collections", adminKey, 200},
		{"DELETE", "/v1/keys/r", adminKey, 200},
		{"POST", "/v1/unlisted", adminKey, 200},
		{"GET", "/v1/no-such-route", readKey, 404},
		{"GET", "/v1/no-such-route", "", 401},
	} {
		w := f.do(t, tc.method, tc.path, tc.key)
		if w.Code != tc.want {
			t.Errorf("%s %s with key %.10s: got %d (%s), want %d", tc.method, tc.path, tc.key, w.Code, w.Body, tc.want)
		}
		if w.Code == 403 {
			wantStatus(t, w, 403, api.CodeForbidden)
		}
	}
	// Lower-case scheme is fine (RFC 7235: case-insensitive).
	r = httptest.NewRequest("GET", "/v1/cluster", nil)
	r.Header.Set("Authorization", "bearer "+readKey)
	w = httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	wantStatus(t, w, 200, "")

	// A deleted key stops working once the watch delivers the new list.
	f.a.install([]meta.APIKey{{Name: "a", Role: api.RoleAdmin, Hash: HashKey(adminKey)}}, 100)
	wantStatus(t, f.do(t, "POST", "/v1/collections/c/search", readKey), 401, api.CodeUnauthorized)
	wantStatus(t, f.do(t, "POST", "/v1/collections/c/search", adminKey), 200, "")
	// An older list never replaces a newer one.
	f.a.install([]meta.APIKey{{Name: "r", Role: api.RoleRead, Hash: HashKey(readKey)}}, 99)
	wantStatus(t, f.do(t, "POST", "/v1/collections/c/search", readKey), 401, api.CodeUnauthorized)

	for reason, want := range map[string]float64{reasonMissing: 2, reasonMalformed: 2, reasonForbidden: 6} {
		if got := counterValue(t, f.a.failures.WithLabelValues(reason)); got != want {
			t.Errorf("auth failures %s: got %v, want %v", reason, got, want)
		}
	}
	if got := counterValue(t, f.a.failures.WithLabelValues(reasonUnknown)); got < 3 {
		t.Errorf("auth failures unknown: got %v, want >= 3", got)
	}
}

// TestAuthReloadsOnMiss checks that a key created through another
// coordinator works here before the watch has delivered it.
func TestAuthReloadsOnMiss(t *testing.T) {
	f := newAuthFixture(t)
	if err := f.a.reload(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	key := NewKey()
	f.keys.add("late", api.RoleRead, key)
	f.a.lastRefresh = time.Time{} // as if the last read were long ago
	wantStatus(t, f.do(t, "GET", "/v1/cluster", key), 200, "")
}

// TestAuthUnavailable checks the answer while the keys were never read.
func TestAuthUnavailable(t *testing.T) {
	f := newAuthFixture(t)
	f.keys.err = errors.New("etcd down")
	wantStatus(t, f.do(t, "GET", "/v1/cluster", NewKey()), 503, api.CodeUnavailable)
	wantStatus(t, f.do(t, "GET", "/v1/health", ""), 200, "")
}

func TestNewKey(t *testing.T) {
	a, b := NewKey(), NewKey()
	if a == b || !wellFormedKey(a) || !wellFormedKey(b) {
		t.Fatalf("got keys %q and %q", a, b)
	}
	for _, bad := range []string{"", "shoal_", "shoal_" + strings.Repeat("a", 42), "shoal_" + strings.Repeat("a", 42) + "=", "xhoal_" + a[6:]} {
		if wellFormedKey(bad) {
			t.Errorf("wellFormedKey(%q) = true", bad)
		}
	}
	if got := HashKey("x"); len(got) != 64 {
		t.Fatalf("HashKey: got %q", got)
	}
}

func FuzzKeyRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"ci","role":"read"}`, `{"name":"ops-1","role":"admin"}`, `{"name":"w_2","role":"write"}`,
		`{"name":"","role":"read"}`, `{"name":"a b","role":"read"}`, `{"name":"a","role":"root"}`,
		`{"name":"a"}`, `{"role":"read"}`, `{"name":"a","role":"read","key":"x"}`, `{"name":1}`,
		`null`, `[]`, `{`, `{"name":"` + strings.Repeat("a", 65) + `","role":"read"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req api.KeyRequest
		err := decodeString(body, &req)
		if err == nil {
			err = validKeyRequest(req)
			if err == nil {
				if !nameRE.MatchString(req.Name) {
					t.Fatalf("accepted name %q", req.Name)
				}
				if _, ok := ParseRole(req.Role); !ok {
					t.Fatalf("accepted role %q", req.Role)
				}
			}
		}
		checkErr(t, err)
	})
}

func TestBearer(t *testing.T) {
	k := NewKey()
	for _, tc := range []struct {
		h, key, reason string
	}{
		{"", "", reasonMissing},
		{"Bearer " + k, k, ""},
		{"Bearer  " + k + " ", k, ""},
		{"Bearer", "", reasonMalformed},
		{"Token " + k, "", reasonMalformed},
		{"Bearer " + k + "x", "", reasonMalformed},
	} {
		key, reason := bearer(tc.h)
		if key != tc.key || reason != tc.reason {
			t.Errorf("bearer(%q) = %q, %q; want %q, %q", tc.h, key, reason, tc.key, tc.reason)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// FuzzBearer checks the Authorization header parser: it never panics, and a
// key it returns is one NewKey could have made.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer " + NewKey(), "bearer  " + NewKey(), "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
		"Bearer shoal_", "Bearer shoal_" + strings.Repeat("é", 22), "Bearer\t" + NewKey()} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		key, reason := bearer(h)
		switch {
		case reason == "" && !wellFormedKey(key):
			t.Fatalf("bearer(%q) accepted %q", h, key)
		case reason != "" && key != "":
			t.Fatalf("bearer(%q) = %q with reason %q", h, key, reason)
		case reason != "" && reason != reasonMissing && reason != reasonMalformed:
			t.Fatalf("bearer(%q): reason %q", h, reason)
		}
	})
}
