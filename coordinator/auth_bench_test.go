package coordinator

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-search/shoal/api"
)

// BenchmarkAuth measures what the auth middleware adds to a request (route
// lookup, header parse, SHA-256 and cache lookup) on a stub search handler.
func BenchmarkAuth(b *testing.B) {
	keys := &fakeKeys{}
	key := NewKey()
	keys.add("r", api.RoleRead, key)
	a := newAuthenticator(keys, slog.New(slog.DiscardHandler), nil)
	defer a.close()
	if err := a.reload(b.Context(), true); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/collections/{name}/search", func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"off", mux}, {"on", a.wrap(mux)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			r := httptest.NewRequest("POST", "/v1/collections/c/search", strings.NewReader(""))
			r.Header.Set("Authorization", "Bearer "+key)
			w := httptest.NewRecorder()
			for b.Loop() {
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}
