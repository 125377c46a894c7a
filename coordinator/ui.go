package coordinator

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/shoal-search/shoal/api"
)

// The web console: plain HTML, CSS and JavaScript embedded in the binary and
// served at /ui. It has no build step and loads nothing from elsewhere; it
// calls the same /v1 API as any client (docs/operations.md, "Web console").
//
//go:embed ui
var uiFiles embed.FS

// UIContentSecurityPolicy is the Content-Security-Policy of every console
// file: scripts, styles, images and API calls from the coordinator's own
// origin only, no inline code or styles, no eval, DOM sinks behind Trusted
// Types (the console builds its DOM with textContent), and no framing.
const UIContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// uiTypes maps the extensions of the console's files to their content types;
// a file of any other type is not served.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// uiAsset is one console file, read once at start.
type uiAsset struct {
	body  []byte
	ctype string
	etag  string
}

// registerUI serves the console on m at /ui, /ui/ and /ui/NAME (GET and
// HEAD). The console is public; the API calls it makes carry the API key the
// user gives it.
func registerUI(m *http.ServeMux) {
	ui := uiHandler()
	m.Handle("GET /ui", ui)
	m.Handle("GET /ui/", ui)
}

// uiHandler serves the console: /ui and /ui/ answer index.html, /ui/NAME the
// embedded file NAME. Every answer carries the strict CSP, nosniff and
// no-referrer headers; files are revalidated by ETag so that an upgraded
// coordinator serves its new console at once.
func uiHandler() http.Handler {
	assets := map[string]uiAsset{}
	_ = fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := uiTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		assets[strings.TrimPrefix(p, "ui/")] = uiAsset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", UIContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/ui"), "/")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			writeJSON(w, http.StatusNotFound, api.ErrorResponse{Error: api.ErrorBody{Code: api.CodeNotFound, Message: "no console file " + strconv.Quote(name)}})
			return
		}
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		if match := r.Header.Get("If-None-Match"); match != "" && match == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(a.body)
		}
	})
}
