package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
)

// findChromium returns the browser the console test drives: $SHOAL_CHROMIUM,
// or the first of the usual names on PATH (scripts/install-chromium.sh
// installs Debian's chromium).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SHOAL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary on PATH (run scripts/install-chromium.sh, or set SHOAL_CHROMIUM)")
	return ""
}

// browser starts a headless Chromium for the test and returns its context.
// Exceptions and Content-Security-Policy violations on the page fail the
// test.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1440, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first Run starts the browser; its context must not time out.
	if err := chromedp.Do(ctx); err != nil {
		acancel()
		t.Fatalf("start %s: %v", path, err)
	}
	var mu sync.Mutex
	var bad []string
	lctx, lcancel := context.WithCancel(ctx)
	msgs := chromedp.Console(lctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "TrustedHTML") {
				mu.Lock()
				bad = append(bad, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		lcancel()
		<-done
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		acancel()
		mu.Lock()
		defer mu.Unlock()
		for _, m := range bad {
			t.Errorf("browser console: %s", m)
		}
	})
	return ctx
}

// step runs actions with a deadline generous enough for a loaded machine.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 3000) : ''`))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, dump)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(80*time.Second))
}

// setValue sets a form control's value as typing would, and fires change.
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	s, _ := json.Marshal(sel)
	val, _ := json.Marshal(v)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = %s; e.dispatchEvent(new Event('change', {bubbles: true})); })()`, s, val))
}

// clickJS clicks an element in one step, for elements that a refresh may
// replace between a lookup and a click.
func clickJS(sel string) chromedp.Action[chromedp.Void] {
	s, _ := json.Marshal(sel)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).click()`, s))
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("SHOAL_UI_SCREENSHOTS") != "1" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join("..", "docs", name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", p, len(png))
}

// consoleDocs is a small, deterministic collection: 24 documents about the
// sea with sparse term weights, a 4-dimensional dense vector and attributes.
func consoleDocs() []api.Document {
	titles := []string{"coral-reef-bleaching", "kelp-forest-ecology", "deep-sea-vents", "tidal-energy-survey",
		"humpback-migration", "plankton-blooms", "ocean-acidification", "arctic-sea-ice", "mangrove-restoration",
		"sargassum-drift", "seagrass-carbon", "tsunami-early-warning", "salmon-runs", "sea-level-gauges",
		"cold-water-corals", "shipping-noise", "turtle-nesting-beaches", "upwelling-zones", "estuary-salinity",
		"abyssal-plains", "reef-fish-census", "jellyfish-swarms", "offshore-wind-siting", "marine-heatwaves"}
	r := rand.New(rand.NewPCG(17, 42))
	docs := make([]api.Document, len(titles))
	for i, id := range titles {
		terms := map[uint32]bool{}
		for len(terms) < 6 {
			terms[uint32(r.IntN(60))] = true
		}
		idx := make([]uint32, 0, len(terms))
		for k := range terms {
			idx = append(idx, k)
		}
		slices.Sort(idx)
		vals := make([]float32, len(idx))
		for j := range vals {
			vals[j] = float32(int(10*(0.2+2*r.Float64()))) / 10
		}
		dense := make([]float32, 4)
		for j := range dense {
			dense[j] = float32(int(100*(r.Float64()*2-1))) / 100
		}
		kind := []string{"survey", "review", "dataset"}[i%3]
		docs[i] = api.Document{ID: id, Sparse: &api.SparseVector{Indices: idx, Values: vals}, Dense: dense,
			Attributes: map[string]any{"kind": kind, "year": 2018 + i%7}}
	}
	return docs
}

// TestConsoleInBrowser starts a real cluster, loads /ui in headless
// Chromium, checks the cluster map, collections and a search through the
// search box, the API key flow through a proxy that demands keys, and last
// a stopped node as the auto-refresh shows it. With SHOAL_UI_SCREENSHOTS=1
// it writes docs/console-{cluster,collections,search,node-down}.png.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped under -short")
	}
	chrome := findChromium(t)
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})

	c.MustDo(t, "POST", "/v1/collections", api.CollectionSpec{Name: "ocean", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 1000}, Dense: &api.DenseField{Dim: 4, Metric: "cosine"},
		Attributes: map[string]string{"kind": "keyword", "year": "int"}}, nil)
	c.MustDo(t, "POST", "/v1/collections", api.CollectionSpec{Name: "notes", Shards: 1, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 1000}}, nil)
	docs := consoleDocs()
	c.MustDo(t, "POST", "/v1/collections/ocean/documents", api.UpsertRequest{Documents: docs[:18]}, nil)
	c.MustDo(t, "POST", "/v1/collections/ocean/seal", nil, nil)
	c.MustDo(t, "POST", "/v1/collections/ocean/documents", api.UpsertRequest{Documents: docs[18:]}, nil)
	var notes []api.Document
	for i := range 5 {
		notes = append(notes, api.Document{ID: fmt.Sprintf("note-%d", i+1), Sparse: docs[i].Sparse})
	}
	c.MustDo(t, "POST", "/v1/collections/notes/documents", api.UpsertRequest{Documents: notes}, nil)

	// The query the test types into the search box, and what the API
	// answers to it.
	const sparseInput = "12:1.5 3:0.8, 40:1"
	const denseInput = "[0.3, -0.2, 0.8, 0.1]"
	var want api.SearchResponse
	c.MustDo(t, "POST", "/v1/collections/ocean/search", api.SearchRequest{K: 10,
		Sparse: &api.SparseVector{Indices: []uint32{3, 12, 40}, Values: []float32{0.8, 1.5, 1}},
		Dense:  []float32{0.3, -0.2, 0.8, 0.1}, Consistency: &api.Consistency{Level: api.ConsistencyStrong}}, &want)
	if len(want.Hits) == 0 {
		t.Fatal("the API found no hits for the test query")
	}
	var wantIDs []string
	for _, h := range want.Hits {
		wantIDs = append(wantIDs, h.ID)
	}

	ctx := browser(t, chrome)

	t.Run("cluster map", func(t *testing.T) {
		step(t, ctx, "open /ui", chromedp.Navigate(c.URL()+"/ui"),
			chromedp.WaitVisible(chromedp.CSS(`#nodes .node[data-node="n3"]`)),
			// Every shard of both collections shows a leader.
			waitJS(`document.querySelectorAll('#shardmap td[data-role="leader"]').length === 3`),
			waitJS(`document.querySelector('#health .badge').textContent === 'cluster ok'`))
		nodes := eval[string](t, ctx, `document.getElementById('nodes').innerText`)
		for _, id := range []string{"n1", "n2", "n3"} {
			if !strings.Contains(nodes, id) {
				t.Errorf("the nodes panel does not show %s: %q", id, nodes)
			}
		}
		shardmap := eval[string](t, ctx, `document.getElementById('shardmap').innerText`)
		for _, s := range []string{"ocean", "notes", "leader", "follower", "applied"} {
			if !strings.Contains(shardmap, s) {
				t.Errorf("the shard map does not show %q: %q", s, shardmap)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('#shardmap .seg-exact').length`); n == 0 {
			t.Errorf("the shard map shows no sealed segment after a seal")
		}
		if title := eval[string](t, ctx, `document.title`); title != "shoal console" {
			t.Errorf("got title %q", title)
		}
		screenshot(t, ctx, "console-cluster.png")
	})

	t.Run("collections", func(t *testing.T) {
		step(t, ctx, "open the collections tab", chromedp.Click(chromedp.CSS(`a[data-tab="collections"]`)),
			waitJS(`document.querySelector('#collections tr[data-collection="ocean"]') !== null`))
		row := eval[string](t, ctx, `document.querySelector('#collections tr[data-collection="ocean"]').innerText`)
		if !strings.Contains(row, "24") || !strings.Contains(row, "2 × 3") {
			t.Errorf("the ocean row does not show 24 documents and 2 × 3 shards: %q", row)
		}
		row = eval[string](t, ctx, `document.querySelector('#collections tr[data-collection="notes"]').innerText`)
		if !strings.Contains(row, "5") {
			t.Errorf("the notes row does not show 5 documents: %q", row)
		}
		step(t, ctx, "open the ocean detail", clickJS(`#collections tr[data-collection="ocean"] button.link`),
			waitJS(`document.getElementById('collection-detail').innerText.includes('Schema')`))
		screenshot(t, ctx, "console-collections.png")
	})

	t.Run("search", func(t *testing.T) {
		// The collection's Search button opens the search tab on it
		// (#search/ocean); "notes" sorts first, so this is no default.
		step(t, ctx, "search through the search box",
			clickJS(`#collections tr[data-collection="ocean"] button.ghost`),
			waitJS(`location.hash === '#search/ocean' && document.getElementById('s-collection').value === 'ocean'`),
			chromedp.SendKeys(chromedp.CSS(`#s-sparse`), sparseInput),
			chromedp.SendKeys(chromedp.CSS(`#s-dense`), denseInput),
			chromedp.Click(chromedp.CSS(`#s-run`)),
			waitJS(`document.querySelectorAll('#results tr[data-id]').length > 0`))
		gotJSON := eval[string](t, ctx, `JSON.stringify([...document.querySelectorAll('#results tr[data-id]')].map(r => r.dataset.id))`)
		var got []string
		if err := json.Unmarshal([]byte(gotJSON), &got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("the console shows hits %v, want the API's %v", got, wantIDs)
		}
		shown := eval[string](t, ctx, `document.getElementById('results').innerText`)
		if !strings.Contains(shown, "sparse: #") || !strings.Contains(shown, "dense: #") {
			t.Errorf("the hits have no per-modality explain: %q", shown)
		}
		status := eval[string](t, ctx, `document.getElementById('search-status').innerText`)
		if !strings.Contains(status, "coverage 2 / 2 shards") {
			t.Errorf("got search status %q, want full coverage", status)
		}
		step(t, ctx, "open the top hit", clickJS(`#results tr[data-id] button.link`),
			waitJS(`document.getElementById('document').innerText.includes('"attributes"')`))
		screenshot(t, ctx, "console-search.png")

		// A bad input is refused in the page, naming the input.
		step(t, ctx, "bad sparse input", setValue(`#s-sparse`, "12:1 12:2"),
			chromedp.Click(chromedp.CSS(`#s-run`)),
			waitJS(`document.getElementById('search-error').innerText.includes('term 12 appears twice')`))
		// An error of the API is shown with its field.
		step(t, ctx, "API error", setValue(`#s-sparse`, ""),
			setValue(`#s-dense`, "[1, 2]"),
			chromedp.Click(chromedp.CSS(`#s-run`)),
			waitJS(`document.getElementById('search-error').innerText.includes('400')`))
		if e := eval[string](t, ctx, `document.getElementById('search-error').innerText`); !strings.Contains(e, "dense") {
			t.Errorf("the API error does not name the field: %q", e)
		}
	})

	t.Run("api key", func(t *testing.T) {
		target, _ := url.Parse(c.URL())
		proxy := httputil.NewSingleHostReverseProxy(target)
		var keyed atomic.Int64
		keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/v1/health" {
				switch r.Header.Get("Authorization") {
				case "Bearer s3cret":
					keyed.Add(1)
				case "Bearer reader":
					if r.Method != http.MethodGet {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusForbidden)
						_, _ = w.Write([]byte(`{"error":{"code":"forbidden","message":"role read may not search here"}}`))
						return
					}
				default:
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"missing or unknown API key"}}`))
					return
				}
			}
			proxy.ServeHTTP(w, r)
		}))
		defer keys.Close()

		step(t, ctx, "open /ui without a key", chromedp.Navigate(keys.URL+"/ui"),
			waitJS(`!document.getElementById('banner').hidden && document.getElementById('banner').innerText.includes('401')`),
			waitJS(`document.getElementById('cluster-error').innerText.includes('401 Unauthorized')`))
		step(t, ctx, "give the key", chromedp.SendKeys(chromedp.CSS(`#apikey`), "s3cret"),
			chromedp.Click(chromedp.CSS(`#usekey`)),
			chromedp.WaitVisible(chromedp.CSS(`#nodes .node[data-node="n1"]`)),
			waitJS(`document.getElementById('banner').hidden`))
		if k := eval[string](t, ctx, `sessionStorage.getItem('shoal.apiKey')`); k != "s3cret" {
			t.Errorf("got stored key %q, want s3cret", k)
		}
		if v := eval[string](t, ctx, `document.getElementById('apikey').value`); v != "" {
			t.Errorf("the key field still shows the key: %q", v)
		}
		// The key survives a reload (session storage), and is sent again.
		before := keyed.Load()
		step(t, ctx, "reload", chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`#nodes .node[data-node="n2"]`)),
			waitJS(`document.getElementById('keystate').innerText.includes('cret')`))
		if keyed.Load() <= before {
			t.Errorf("no call carried the key after the reload")
		}
		// A read key sees the cluster but its search is refused with 403.
		step(t, ctx, "switch to a read key", chromedp.Click(chromedp.CSS(`#forgetkey`)),
			chromedp.SendKeys(chromedp.CSS(`#apikey`), "reader"),
			chromedp.Click(chromedp.CSS(`#usekey`)),
			chromedp.Click(chromedp.CSS(`a[data-tab="search"]`)),
			waitJS(`document.querySelector('#s-collection option[value="ocean"]') !== null`),
			setValue(`#s-collection`, "ocean"),
			chromedp.SendKeys(chromedp.CSS(`#s-sparse`), sparseInput),
			chromedp.Click(chromedp.CSS(`#s-run`)),
			waitJS(`document.getElementById('search-error').innerText.includes('403 Forbidden')`),
			waitJS(`document.getElementById('banner').innerText.includes('403')`))
	})

	// Fields the API may add (node states, moves, text fields) render
	// without a change to the console: a stub API answers canned bodies.
	t.Run("node states", func(t *testing.T) {
		target, _ := url.Parse(c.URL())
		proxy := httputil.NewSingleHostReverseProxy(target)
		canned := map[string]string{
			"/v1/health": `{"status":"degraded","shards":[{"collection":"docs","shard":1,"reason":"no leader"}]}`,
			"/v1/cluster": `{"nodes":[
				{"id":"n1","raft_addr":"127.0.0.1:7711","alive":true,"state":"alive","replicas":2},
				{"id":"n2","raft_addr":"127.0.0.1:7712","alive":true,"state":"draining","replicas":1},
				{"id":"n3","raft_addr":"127.0.0.1:7713","alive":true,"state":"suspect","replicas":2,"joining":1},
				{"id":"n4","raft_addr":"127.0.0.1:7714","alive":false,"state":"dead","replicas":1,"lost_at":"2026-12-03T20:00:00Z"}],
			 "shards":[
				{"collection":"docs","shard":0,"replicas":[
					{"node":"n1","role":"leader","term":3,"applied_index":9,"last_index":9,"documents":4},
					{"node":"n2","role":"follower","term":3,"applied_index":6,"last_index":9,"documents":3}],
				 "joining":["n3"]},
				{"collection":"docs","shard":1,"replicas":[
					{"node":"n3","role":"candidate","term":4,"applied_index":5,"last_index":5,"documents":2},
					{"node":"n4","role":"unknown","error":"no answer"}],
				 "under_replicated":true}]}`,
			"/v1/collections": `{"collections":[{"name":"docs","shards":2,"replication":2,"text":{},"sparse":{"max_term":100},
				"placement":[{"shard":0,"replicas":["n1","n2"],"leader":"n1"},{"shard":1,"replicas":["n3","n4"]}]}]}`,
		}
		stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body, ok := canned[r.URL.Path]; ok {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/v1/health" {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				_, _ = w.Write([]byte(body))
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer stub.Close()
		step(t, ctx, "open /ui on the stub", chromedp.Navigate(stub.URL+"/ui"),
			waitJS(`document.querySelector('#nodes .node.down[data-node="n4"]') !== null`),
			waitJS(`document.querySelector('#health .badge').textContent === 'cluster degraded'`))
		nodes := eval[string](t, ctx, `document.getElementById('nodes').innerText`)
		for _, s := range []string{"draining", "suspect", "dead", "lost at", "joining"} {
			if !strings.Contains(nodes, s) {
				t.Errorf("the nodes panel does not show %q: %q", s, nodes)
			}
		}
		shardmap := eval[string](t, ctx, `document.getElementById('shardmap').innerText`)
		for _, s := range []string{"under-replicated", "degraded", "moving to n3", "joining", "candidate", "(−3)", "no answer"} {
			if !strings.Contains(shardmap, s) {
				t.Errorf("the shard map does not show %q: %q", s, shardmap)
			}
		}
		if up := eval[string](t, ctx, `document.getElementById('summary').innerText`); !strings.Contains(up, "3 / 4") {
			t.Errorf("got summary %q, want 3 / 4 nodes up", up)
		}
		step(t, ctx, "text field", clickJS(`a[data-tab="search"]`),
			waitJS(`document.getElementById('s-schema').innerText.includes('text field')`))
		if schema := eval[string](t, ctx, `document.getElementById('s-schema').innerText`); strings.Contains(schema, "no text field") {
			t.Errorf("the search form misses the text field: %q", schema)
		}
	})

	t.Run("node down", func(t *testing.T) {
		step(t, ctx, "open /ui", chromedp.Navigate(c.URL()+"/ui"),
			waitJS(`document.querySelectorAll('#shardmap td[data-role="leader"]').length === 3`))
		if err := c.StopNode(2); err != nil {
			t.Fatal(err)
		}
		// The auto-refresh shows it without a reload.
		step(t, ctx, "see n3 down", waitJS(`document.querySelector('#nodes .node.down[data-node="n3"]') !== null`),
			waitJS(`document.getElementById('shardmap').innerText.includes('no answer')`))
		screenshot(t, ctx, "console-node-down.png")
	})
}
