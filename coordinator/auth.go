package coordinator

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/meta"
)

// Role is what an API key may do. Each role includes the ones below it.
type Role int

// Roles, from least to most privileged. RolePublic marks routes that need no
// key at all.
const (
	RolePublic Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
)

// String returns the role's API name ("read", "write", "admin", "public").
func (r Role) String() string {
	switch r {
	case RolePublic:
		return "public"
	case RoleRead:
		return api.RoleRead
	case RoleWrite:
		return api.RoleWrite
	}
	return api.RoleAdmin
}

// ParseRole returns the Role of an API role name.
func ParseRole(s string) (Role, bool) {
	switch s {
	case api.RoleRead:
		return RoleRead, true
	case api.RoleWrite:
		return RoleWrite, true
	case api.RoleAdmin:
		return RoleAdmin, true
	}
	return 0, false
}

// RouteRoles is the least role each route of the API needs, keyed by the
// route's pattern exactly as it is registered on the mux. A route under /v1
// that is not listed needs RoleAdmin, so that a new endpoint is closed until
// someone decides otherwise. Routes outside /v1 (/metrics, the static /ui
// files) need no key. docs/http-api.md ("Authentication") shows this table.
var RouteRoles = map[string]Role{
	"GET /v1/health": RolePublic,

	"GET /v1/cluster":                           RoleRead,
	"GET /v1/collections":                       RoleRead,
	"GET /v1/collections/{name}":                RoleRead,
	"GET /v1/collections/{name}/documents/{id}": RoleRead,
	"POST /v1/collections/{name}/search":        RoleRead,

	"POST /v1/collections/{name}/documents":        RoleWrite,
	"DELETE /v1/collections/{name}/documents/{id}": RoleWrite,

	"POST /v1/collections":                RoleAdmin,
	"DELETE /v1/collections/{name}":       RoleAdmin,
	"POST /v1/collections/{name}/seal":    RoleAdmin,
	"POST /v1/collections/{name}/compact": RoleAdmin,
	"POST /v1/keys":                       RoleAdmin,
	"GET /v1/keys":                        RoleAdmin,
	"DELETE /v1/keys/{name}":              RoleAdmin,
}

// RouteRole returns the role a request to path that the mux matched to
// pattern needs (see RouteRoles). A request under /v1 that matched no API
// route (an empty pattern, or a catch-all outside /v1) needs any valid key
// (RoleRead) before it learns that the route does not exist.
func RouteRole(pattern, path string) Role {
	if r, ok := RouteRoles[pattern]; ok {
		return r
	}
	pp := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pp = p
	}
	switch {
	case !underAPI(path) && !underAPI(pp):
		return RolePublic
	case !underAPI(pp):
		return RoleRead
	}
	return RoleAdmin
}

func underAPI(path string) bool {
	return path == api.PathPrefix || strings.HasPrefix(path, api.PathPrefix+"/")
}

// Auth failure reasons, the label of shoal_coordinator_auth_failures_total.
const (
	reasonMissing     = "missing"     // no Authorization header
	reasonMalformed   = "malformed"   // not "Bearer shoal_..."
	reasonUnknown     = "unknown"     // no such key (or deleted)
	reasonForbidden   = "forbidden"   // the key's role is too low
	reasonUnavailable = "unavailable" // the keys could not be read from etcd yet
)

// keyPrefix starts every API key; keySecretLen is the length of the
// base64url (unpadded) encoding of its 32 random bytes.
const (
	keyPrefix    = "shoal_"
	keySecretLen = 43
	// refreshEvery bounds how often an unknown but well-formed key makes a
	// coordinator read the keys from etcd again.
	refreshEvery = 250 * time.Millisecond
)

// keySet is an immutable snapshot of the API keys by digest.
type keySet struct {
	rev  int64
	byID map[[sha256.Size]byte]authKey
}

type authKey struct {
	name   string
	role   Role
	digest [sha256.Size]byte
}

// keyStore is where the authenticator reads the API keys from; *meta.Store
// implements it.
type keyStore interface {
	ListKeys(ctx context.Context) ([]meta.APIKey, int64, error)
	WatchKeys(ctx context.Context, fn func([]meta.APIKey, int64)) error
}

var _ keyStore = (*meta.Store)(nil)

// authenticator checks the API key of every request against a cache of the
// keys in etcd, which a watch keeps current: a key created or deleted through
// any coordinator takes effect on every coordinator within milliseconds.
type authenticator struct {
	store    keyStore
	log      *slog.Logger
	failures *prometheus.CounterVec

	keys atomic.Pointer[keySet]

	refreshMu   sync.Mutex // serializes reads of the keys from etcd
	lastRefresh time.Time  // guarded by refreshMu

	cancel context.CancelFunc
	done   chan struct{}
}

func newAuthenticator(store keyStore, log *slog.Logger, reg prometheus.Registerer) *authenticator {
	a := &authenticator{store: store, log: log, done: make(chan struct{}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "coordinator", Name: "auth_failures_total",
			Help: "Requests refused by API key authentication, by reason (missing, malformed, unknown, forbidden, unavailable).",
		}, []string{"reason"})}
	for _, r := range []string{reasonMissing, reasonMalformed, reasonUnknown, reasonForbidden, reasonUnavailable} {
		a.failures.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(a.failures)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		defer close(a.done)
		_ = store.WatchKeys(ctx, a.install)
	}()
	return a
}

func (a *authenticator) close() {
	a.cancel()
	<-a.done
}

// install replaces the cache with keys read at rev, unless the cache already
// holds a later revision.
func (a *authenticator) install(keys []meta.APIKey, rev int64) {
	set := &keySet{rev: rev, byID: make(map[[sha256.Size]byte]authKey, len(keys))}
	for _, k := range keys {
		role, ok := ParseRole(k.Role)
		var d [sha256.Size]byte
		if n, err := hex.Decode(d[:], []byte(k.Hash)); !ok || err != nil || n != sha256.Size {
			a.log.Warn("ignoring a malformed API key record", "key_name", k.Name)
			continue
		}
		set.byID[d] = authKey{name: k.Name, role: role, digest: d}
	}
	for {
		cur := a.keys.Load()
		if cur != nil && cur.rev > rev {
			return
		}
		if a.keys.CompareAndSwap(cur, set) {
			return
		}
	}
}

// reload reads the keys from etcd now; unless force, at most once per
// refreshEvery.
func (a *authenticator) reload(ctx context.Context, force bool) error {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	if !force && time.Since(a.lastRefresh) < refreshEvery && a.keys.Load() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	keys, rev, err := a.store.ListKeys(ctx)
	if err != nil {
		return err
	}
	a.lastRefresh = time.Now()
	a.install(keys, rev)
	return nil
}

// lookup returns the key whose digest is d. The map is keyed by the SHA-256
// digest of the presented key, so the time a lookup takes tells nothing
// about any stored key's secret; the final comparison is constant-time.
func (a *authenticator) lookup(d [sha256.Size]byte) (authKey, bool) {
	set := a.keys.Load()
	if set == nil {
		return authKey{}, false
	}
	k, ok := set.byID[d]
	if !ok || subtle.ConstantTimeCompare(k.digest[:], d[:]) != 1 {
		return authKey{}, false
	}
	return k, true
}

// bearer returns the key of an Authorization header and the failure
// reason when there is none.
func bearer(h string) (string, string) {
	if h == "" {
		return "", reasonMissing
	}
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", reasonMalformed
	}
	key = strings.TrimSpace(key)
	if !wellFormedKey(key) {
		return "", reasonMalformed
	}
	return key, ""
}

// wellFormedKey reports whether s looks like a key NewKey makes.
func wellFormedKey(s string) bool {
	secret, ok := strings.CutPrefix(s, keyPrefix)
	if !ok || len(secret) != keySecretLen {
		return false
	}
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// HashKey returns the hex SHA-256 digest of an API key, as etcd stores it.
func HashKey(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

// authenticate returns the key of r, or the status, code, reason and message
// of its refusal.
func (a *authenticator) authenticate(r *http.Request) (authKey, *apiError, string) {
	key, reason := bearer(r.Header.Get("Authorization"))
	if reason != "" {
		msg := "this endpoint needs an API key: send the header Authorization: Bearer KEY"
		if reason == reasonMalformed {
			msg = "the Authorization header is not \"Bearer KEY\" with a shoal API key (shoal_ and 43 characters)"
		}
		return authKey{}, unauthorized(msg), reason
	}
	d := sha256.Sum256([]byte(key))
	if k, ok := a.lookup(d); ok {
		return k, nil, ""
	}
	// A key created a moment ago through another coordinator may not have
	// reached this one's watch yet.
	if err := a.reload(r.Context(), false); err != nil && a.keys.Load() == nil {
		return authKey{}, unavailable("cannot read the API keys from etcd: %v", err).(*apiError), reasonUnavailable
	}
	if k, ok := a.lookup(d); ok {
		return k, nil, ""
	}
	return authKey{}, unauthorized("unknown API key (it may have been deleted)"), reasonUnknown
}

func unauthorized(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, body: api.ErrorBody{Code: api.CodeUnauthorized, Message: msg}}
}

// wrap returns next behind authentication: every request under /v1 whose
// route needs a role (RouteRoles) must carry a key of that role or above.
func (a *authenticator) wrap(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		need := RouteRole(pattern, r.URL.Path)
		if need == RolePublic {
			mux.ServeHTTP(w, r)
			return
		}
		k, ae, reason := a.authenticate(r)
		if ae == nil && k.role < need {
			reason = reasonForbidden
			ae = &apiError{status: http.StatusForbidden, body: api.ErrorBody{Code: api.CodeForbidden,
				Message: fmt.Sprintf("the API key %q has role %s; %s %s needs role %s", k.name, k.role, r.Method, r.URL.Path, need)}}
		}
		if ae != nil {
			a.failures.WithLabelValues(reason).Inc()
			if ae.status == http.StatusUnauthorized {
				h := `Bearer realm="shoal"`
				if reason != reasonMissing {
					h += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", h)
			}
			writeJSON(w, ae.status, api.ErrorResponse{Error: ae.body})
			return
		}
		mux.ServeHTTP(w, r)
	})
}
