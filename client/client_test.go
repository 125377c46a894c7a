package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/shoal-search/shoal/client/clienttest"
)

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatalf("New(%q): %v", url, err)
	}
	return c
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []client.Option
	}{
		{url: "127.0.0.1:7700"},
		{url: "ftp://host"},
		{url: "http://"},
		{url: "http://h", opts: []client.Option{client.WithTimeout(-time.Second)}},
		{url: "http://h", opts: []client.Option{client.WithRetry(0, 0)}},
		{url: "http://h", opts: []client.Option{client.WithHTTPClient(nil)}},
	} {
		if _, err := client.New(tc.url, tc.opts...); !errors.Is(err, client.ErrConfig) {
			t.Errorf("New(%q): got %v, want ErrConfig", tc.url, err)
		}
	}
	c := newClient(t, "http://127.0.0.1:7700/")
	if got, want := c.BaseURL(), "http://127.0.0.1:7700"; got != want {
		t.Errorf("BaseURL: got %q, want %q", got, want)
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   error
		code   string
	}{
		{400, `{"error":{"code":"bad_request","message":"bad","field":"documents[3].dense[7]"}}`, client.ErrBadRequest, api.CodeBadRequest},
		{404, `{"error":{"code":"not_found","message":"no"}}`, client.ErrNotFound, api.CodeNotFound},
		{409, `{"error":{"code":"conflict","message":"exists"}}`, client.ErrConflict, api.CodeConflict},
		{413, `{"error":{"code":"too_large","message":"big"}}`, client.ErrTooLarge, api.CodeTooLarge},
		{503, `{"error":{"code":"unavailable","message":"no leader"}}`, client.ErrUnavailable, api.CodeUnavailable},
		{504, `{"error":{"code":"timeout","message":"slow"}}`, client.ErrTimeout, api.CodeTimeout},
		{500, `{"error":{"code":"internal","message":"oops"}}`, client.ErrInternal, api.CodeInternal},
		{502, `<html>bad gateway</html>`, client.ErrInternal, api.CodeInternal},
		{404, `404 page not found`, client.ErrNotFound, api.CodeNotFound},
		{503, `{"status":"etcd: not connected"}`, client.ErrUnavailable, api.CodeUnavailable},
		{413, ``, client.ErrTooLarge, api.CodeTooLarge},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		c := newClient(t, srv.URL, client.WithRetry(1, 0))
		_, err := c.GetCollection(context.Background(), "x")
		srv.Close()
		if !errors.Is(err, tc.want) {
			t.Errorf("%d %s: got %v, want errors.Is %v", tc.status, tc.body, err, tc.want)
			continue
		}
		var e *client.Error
		if !errors.As(err, &e) || e.StatusCode != tc.status || e.Code != tc.code || e.Message == "" {
			t.Errorf("%d %s: got %#v, want status %d code %s and a message", tc.status, tc.body, e, tc.status, tc.code)
		}
		for _, other := range []error{client.ErrBadRequest, client.ErrNotFound, client.ErrConflict, client.ErrTooLarge, client.ErrUnavailable, client.ErrTimeout, client.ErrInternal} {
			if other != tc.want && errors.Is(err, other) {
				t.Errorf("%d: %v also matches %v", tc.status, err, other)
			}
		}
	}
}

func TestErrorMessageNamesField(t *testing.T) {
	e := &client.Error{StatusCode: 400, Code: api.CodeBadRequest, Message: "not finite", Field: "documents[3].dense[7]"}
	if got, want := e.Error(), "shoal: bad_request: documents[3].dense[7]: not finite"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEveryEndpoint(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c := newClient(t, srv.URL)

	if h, err := c.Health(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("Health: got %v, %v", h, err)
	}
	spec := api.CollectionSpec{Name: "a b/c", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 100}, Dense: &api.DenseField{Dim: 2}}
	col, err := c.CreateCollection(ctx, spec)
	if err != nil || len(col.Placement) != 2 || col.Dense.Metric != api.MetricCosine {
		t.Fatalf("CreateCollection: got %+v, %v", col, err)
	}
	if _, err := c.CreateCollection(ctx, spec); !errors.Is(err, client.ErrConflict) {
		t.Errorf("second CreateCollection: got %v, want ErrConflict", err)
	}
	if cols, err := c.ListCollections(ctx); err != nil || len(cols) != 1 || cols[0].Name != spec.Name {
		t.Errorf("ListCollections: got %+v, %v", cols, err)
	}
	if got, err := c.GetCollection(ctx, spec.Name); err != nil || got.Shards != 2 {
		t.Errorf("GetCollection: got %+v, %v", got, err)
	}
	ids := []string{"plain", "with/slash", "with space", "percent%2F", "ünï", ".", "..", "a/../b", "q?x=1#f"}
	var docs []api.Document
	for i, id := range ids {
		docs = append(docs, api.Document{ID: id, Sparse: &api.SparseVector{Indices: []uint32{uint32(i)}, Values: []float32{1}}})
	}
	w, err := c.Upsert(ctx, spec.Name, docs)
	if err != nil || w.Upserted != len(ids) || w.Token == "" {
		t.Fatalf("Upsert: got %+v, %v", w, err)
	}
	for _, id := range ids {
		d, err := c.Get(ctx, spec.Name, id)
		if err != nil || d.ID != id {
			t.Errorf("Get(%q): got %+v, %v", id, d, err)
		}
	}
	for _, cons := range []api.Consistency{{Level: api.ConsistencyStrong}, {Token: w.Token}, {}} {
		if d, err := c.Get(ctx, spec.Name, "plain", client.ReadConsistency(cons)); err != nil || d.ID != "plain" {
			t.Errorf("Get at %+v: got %+v, %v", cons, d, err)
		}
	}
	if _, err := c.Get(ctx, spec.Name, "plain", client.ReadConsistency(api.Consistency{Level: "sometimes"})); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("Get at an unknown level: got %v, want ErrBadRequest", err)
	}
	res, err := c.Search(ctx, spec.Name, api.SearchRequest{K: 3, Sparse: &api.SparseVector{Indices: []uint32{1}, Values: []float32{2}}, Consistency: &api.Consistency{Token: w.Token}})
	if err != nil || len(res.Hits) != 3 || res.Hits[0].ID != "with/slash" || res.Hits[0].Score != 2 || res.Coverage.Shards != 2 {
		t.Errorf("Search: got %+v, %v", res, err)
	}
	for i, want := range []int{1, 0} {
		d, err := c.Delete(ctx, spec.Name, "with/slash")
		if err != nil || d.Deleted != want {
			t.Errorf("Delete #%d: got %+v, %v, want deleted %d", i, d, err, want)
		}
	}
	if _, err := c.Get(ctx, spec.Name, "with/slash"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	for _, op := range []func(context.Context, string) (*api.Collection, error){c.Seal, c.Compact} {
		col, err := op(ctx, spec.Name)
		if err != nil || len(col.Placement) != 2 || len(col.Placement[0].Segments) != 1 {
			t.Errorf("Seal/Compact: got %+v, %v", col, err)
		}
		if _, err := op(ctx, "missing"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("Seal/Compact of a missing collection: got %v, want ErrNotFound", err)
		}
	}
	if st, err := c.Cluster(ctx); err != nil || len(st.Nodes) != 3 || len(st.Shards) != 2 {
		t.Errorf("Cluster: got %+v, %v", st, err)
	}
	if err := c.DropCollection(ctx, spec.Name); err != nil {
		t.Errorf("DropCollection: %v", err)
	}
	if err := c.DropCollection(ctx, spec.Name); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("second DropCollection: got %v, want ErrNotFound", err)
	}
}

func TestRetriesIdempotentCallsOn503(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c := newClient(t, srv.URL, client.WithRetry(3, time.Millisecond))

	srv.FailNext(503, 503)
	if _, err := c.ListCollections(ctx); err != nil {
		t.Fatalf("ListCollections after two 503s: %v", err)
	}
	if got, want := srv.Requests(), 3; got != want {
		t.Errorf("requests: got %d, want %d", got, want)
	}
	srv.FailNext(503, 503, 503)
	if _, err := c.Cluster(ctx); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Cluster after three 503s: got %v, want ErrUnavailable", err)
	}
	srv.FailNext(500)
	before := srv.Requests()
	if _, err := c.Health(ctx); !errors.Is(err, client.ErrInternal) || srv.Requests() != before+1 {
		t.Errorf("Health on 500: got %v after %d requests, want ErrInternal after 1", err, srv.Requests()-before)
	}
}

func TestWritesAreNotRetried(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c := newClient(t, srv.URL, client.WithRetry(5, time.Millisecond))
	if _, err := c.CreateCollection(ctx, api.CollectionSpec{Name: "c", Sparse: &api.SparseField{MaxTerm: 10}}); err != nil {
		t.Fatal(err)
	}
	before := srv.Requests()
	srv.FailNext(503)
	_, err := c.Upsert(ctx, "c", []api.Document{{ID: "a", Sparse: &api.SparseVector{Indices: []uint32{1}, Values: []float32{1}}}})
	if !errors.Is(err, client.ErrUnavailable) || srv.Requests() != before+1 {
		t.Errorf("Upsert on 503: got %v after %d requests, want ErrUnavailable after 1", err, srv.Requests()-before)
	}
	if n := srv.Documents("c"); n != 0 {
		t.Errorf("documents after failed upsert: got %d, want 0", n)
	}
}

func TestRetriesConnectionErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c := newClient(t, url, client.WithRetry(2, time.Millisecond))
	_, err := c.Health(context.Background())
	if err == nil || errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Health of a closed server: got %v, want a connection error", err)
	}
}

func TestContextEndsRetries(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithRetry(100, time.Hour))
	srv.FailNext(503, 503)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.ListCollections(ctx); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("got %v, want the last ErrUnavailable", err)
	}
	if got := srv.Requests(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
}

func TestTimeoutBoundsCall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv.URL, client.WithTimeout(10*time.Millisecond), client.WithRetry(1, 0))
	if _, err := c.Health(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
}

func TestUsesGivenHTTPClient(t *testing.T) {
	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("X-Test") + " " + r.URL.EscapedPath()
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("X-Test", "yes")
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newClient(t, srv.URL, client.WithHTTPClient(hc))
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "yes /v1/health"; seen != want {
		t.Errorf("got %q, want %q", seen, want)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBadAnswerBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"hits": 3`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithRetry(3, time.Millisecond))
	_, err := c.Search(context.Background(), "c", api.SearchRequest{K: 1})
	if err == nil || !strings.Contains(err.Error(), "decode answer") {
		t.Errorf("got %v, want a decode error", err)
	}
}

func TestConcurrentSearches(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c := newClient(t, srv.URL)
	if _, err := c.CreateCollection(ctx, api.CollectionSpec{Name: "c", Sparse: &api.SparseField{MaxTerm: 10}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				id := string(rune('a'+g)) + string(rune('0'+i))
				if _, err := c.Upsert(ctx, "c", []api.Document{{ID: id, Sparse: &api.SparseVector{Indices: []uint32{uint32(i)}, Values: []float32{1}}}}); err != nil {
					errs <- err
					return
				}
				if _, err := c.Search(ctx, "c", api.SearchRequest{K: 2, Sparse: &api.SparseVector{Indices: []uint32{uint32(i)}, Values: []float32{1}}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.Documents("c"); got != 20 {
		t.Errorf("documents: got %d, want 20", got)
	}
}

func TestInvalidUTF8IDsAreRejectedBeforeSending(t *testing.T) {
	var mu sync.Mutex
	sent := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		sent++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithRetry(1, 0))
	ctx := context.Background()
	docs := []api.Document{{ID: "ok", Dense: []float32{1}}, {ID: "bad\xff", Dense: []float32{1}}}
	_, errUpsert := c.Upsert(ctx, "c", docs)
	_, errGet := c.Get(ctx, "c", "\xc3")
	_, errDelete := c.Delete(ctx, "c", "a\xed\xa0\x80")
	for _, tc := range []struct {
		what  string
		err   error
		field string
	}{{"Upsert", errUpsert, "documents[1].id"}, {"Get", errGet, "id"}, {"Delete", errDelete, "id"}} {
		var e *client.Error
		if !errors.Is(tc.err, client.ErrBadRequest) || !errors.As(tc.err, &e) || e.Field != tc.field {
			t.Errorf("%s: got %v, want ErrBadRequest naming %s", tc.what, tc.err, tc.field)
		}
	}
	if _, err := c.Get(ctx, "c", "é"); err != nil {
		t.Fatalf("Get of a valid UTF-8 id: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent != 1 {
		t.Fatalf("the server got %d requests, want 1 (the valid Get only)", sent)
	}
}

func TestOversizedBodyIsRejectedBeforeSending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the oversized request reached the server")
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithRetry(1, 0))
	big := strings.Repeat("x", api.MaxBodyBytes)
	_, err := c.Upsert(context.Background(), "c", []api.Document{{ID: "a", Dense: []float32{1}, Attributes: map[string]any{"a": big}}})
	var e *client.Error
	if !errors.Is(err, client.ErrTooLarge) || !errors.As(err, &e) || e.Field != "body" {
		t.Fatalf("got %v, want ErrTooLarge naming the body", err)
	}
}
