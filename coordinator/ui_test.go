package coordinator

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-search/shoal/api"
)

func uiServe(t testing.TB, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	m := http.NewServeMux()
	registerUI(m)
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)
	return rec
}

func TestUIFiles(t *testing.T) {
	index, err := uiFiles.ReadFile("ui/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, ctype string
		want        []byte
	}{
		{"/ui", "text/html; charset=utf-8", index},
		{"/ui/", "text/html; charset=utf-8", index},
		{"/ui/index.html", "text/html; charset=utf-8", index},
		{"/ui/app.js", "text/javascript; charset=utf-8", nil},
		{"/ui/style.css", "text/css; charset=utf-8", nil},
		{"/ui/icon.svg", "image/svg+xml", nil},
	} {
		rec := uiServe(t, "GET", tc.path, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: got status %d, want 200", tc.path, rec.Code)
		}
		h := rec.Header()
		if got := h.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: got Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if got := h.Get("Content-Security-Policy"); got != UIContentSecurityPolicy {
			t.Errorf("GET %s: got CSP %q", tc.path, got)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: missing security headers: %v", tc.path, h)
		}
		if rec.Body.Len() == 0 || (tc.want != nil && rec.Body.String() != string(tc.want)) {
			t.Errorf("GET %s: got %d bytes, want the embedded file", tc.path, rec.Body.Len())
		}
		etag := h.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", tc.path)
		}
		if rec := uiServe(t, "GET", tc.path, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag: got %d and %d bytes, want 304 and none", tc.path, rec.Code, rec.Body.Len())
		}
		if rec := uiServe(t, "HEAD", tc.path, nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("HEAD %s: got %d, %d bytes, %q", tc.path, rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
		}
	}
}

func TestUINotFound(t *testing.T) {
	for _, p := range []string{"/ui/nope.js", "/ui/../coordinator.go", "/ui/ui/app.js", "/ui/app.js/", "/uix"} {
		rec := uiServe(t, "GET", p, nil)
		if rec.Code == http.StatusOK {
			t.Errorf("GET %s: got 200, want not found", p)
			continue
		}
		if rec.Code == http.StatusNotFound && strings.HasPrefix(p, "/ui/") && !strings.Contains(p, "..") {
			var body api.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != api.CodeNotFound {
				t.Errorf("GET %s: got body %q, want a not_found error body", p, rec.Body)
			}
		}
	}
	if rec := uiServe(t, "POST", "/ui/", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: got %d, want 405", rec.Code)
	}
}

// TestUIStrictMarkup checks that the console needs no CSP exception: no
// inline scripts, styles or event handlers in the page, no HTML sinks or
// eval in the script, and every file the page references exists.
func TestUIStrictMarkup(t *testing.T) {
	index, _ := uiFiles.ReadFile("ui/index.html")
	page := string(index)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with inline code
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle\s*=`),
		regexp.MustCompile(`\son[a-z]+\s*=`),
		regexp.MustCompile(`(?:src|href)\s*=\s*"(?:https?:)?//`), // anything from elsewhere
	} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("index.html has %q, which the CSP forbids", page[loc[0]:min(loc[1]+20, len(page))])
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		if _, err := fs.Stat(uiFiles, strings.TrimPrefix(m[1], "/")); err != nil {
			t.Errorf("index.html references %s, which is not embedded", m[1])
		}
	}
	js, _ := uiFiles.ReadFile("ui/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// FuzzUIPath checks that no path serves anything but an embedded console
// file, and that every answer carries the CSP.
func FuzzUIPath(f *testing.F) {
	for _, s := range []string{"/ui", "/ui/", "/ui/app.js", "/ui/../go.mod", "/ui/%2e%2e/ui.go", "/ui//app.js", "/ui/ui/index.html", "/ui/.", "/ui/\x00"} {
		f.Add(s)
	}
	served := map[string]bool{}
	_ = fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := uiFiles.ReadFile(p)
			served[string(b)] = true
		}
		return nil
	})
	h := uiHandler()
	f.Fuzz(func(t *testing.T, p string) {
		req, err := http.NewRequest("GET", "http://x", nil)
		if err != nil {
			t.Skip()
		}
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Security-Policy") != UIContentSecurityPolicy {
			t.Fatalf("path %q: no CSP", p)
		}
		if rec.Code == http.StatusOK && !served[rec.Body.String()] {
			t.Fatalf("path %q: served %d bytes that are no console file", p, rec.Body.Len())
		}
	})
}
