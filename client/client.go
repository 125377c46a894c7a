package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-search/shoal/api"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds each call unless WithTimeout says otherwise.
	DefaultTimeout = 30 * time.Second
	// DefaultRetryAttempts is how many times an idempotent call is tried in
	// all while the cluster answers 503 or cannot be reached.
	DefaultRetryAttempts = 3
	// DefaultRetryBackoff is the wait before the first retry; it doubles
	// after each attempt up to maxBackoff.
	DefaultRetryBackoff = 100 * time.Millisecond

	maxBackoff    = 2 * time.Second
	maxErrorBody  = 64 << 10
	userAgent     = "shoal-go-client/1"
	jsonMediaType = "application/json"
)

// ErrConfig reports a bad argument to New or to an option.
var ErrConfig = errors.New("client: bad configuration")

// Client talks to a shoal coordinator over its HTTP API. It is safe for
// concurrent use by many goroutines.
type Client struct {
	base     *url.URL
	hc       *http.Client
	timeout  time.Duration
	attempts int
	backoff  time.Duration
	// auth is the Authorization header value, "Bearer KEY", or empty.
	auth string
}

// Option changes how a Client is built.
type Option func(*Client) error

// WithHTTPClient sends requests through hc instead of a default client with
// its own transport. Use it for TLS settings, proxies or tracing.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return fmt.Errorf("%w: nil http client", ErrConfig)
		}
		c.hc = hc
		return nil
	}
}

// WithTimeout bounds every call, retries included, by d (default
// DefaultTimeout). Zero means no bound beyond the caller's context. A
// deadline already on the caller's context that is sooner still applies.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("%w: negative timeout %v", ErrConfig, d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetry sets how many times in all (attempts >= 1, default
// DefaultRetryAttempts) an idempotent call (every GET and Search) is tried
// when the server answers 503 or cannot be reached, waiting backoff (default
// DefaultRetryBackoff) before the first retry and doubling it after each,
// up to 2s; a Retry-After header, when shorter than that cap, is honoured.
// Writes (Upsert, Delete, CreateCollection, DropCollection) are never
// retried. WithRetry(1, 0) turns retries off.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *Client) error {
		if attempts < 1 || backoff < 0 {
			return fmt.Errorf("%w: retry attempts %d, backoff %v", ErrConfig, attempts, backoff)
		}
		c.attempts, c.backoff = attempts, backoff
		return nil
	}
}

// WithAPIKey sends key as "Authorization: Bearer KEY" on every call, for a
// cluster that runs with API keys on (docs/operations.md, "API keys").
func WithAPIKey(key string) Option {
	return func(c *Client) error {
		if strings.ContainsAny(key, " \t\r\n") {
			return fmt.Errorf("%w: the API key contains white space", ErrConfig)
		}
		c.auth = ""
		if key != "" {
			c.auth = "Bearer " + key
		}
		return nil
	}
}

// New returns a client of the coordinator at baseURL, such as
// "http://127.0.0.1:7700". It does not contact the server.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("%w: base url: %v", ErrConfig, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: base url %q: want http(s)://host:port", ErrConfig, baseURL)
	}
	c := &Client{
		base:     u,
		hc:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		timeout:  DefaultTimeout,
		attempts: DefaultRetryAttempts,
		backoff:  DefaultRetryBackoff,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BaseURL returns the coordinator address the client was built with.
func (c *Client) BaseURL() string { return c.base.String() }

// Health asks whether the cluster can serve writes. It returns an error
// matching ErrUnavailable, whose Message says why, while it cannot.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var out api.Health
	if err := c.do(ctx, http.MethodGet, "/health", nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Cluster returns the registered nodes and every shard replica's raft state.
func (c *Client) Cluster(ctx context.Context) (*api.ClusterStatus, error) {
	var out api.ClusterStatus
	if err := c.do(ctx, http.MethodGet, "/cluster", nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateCollection creates a collection with the given schema and returns it
// with its shard placement. It fails with ErrConflict if the name is taken.
func (c *Client) CreateCollection(ctx context.Context, spec api.CollectionSpec) (*api.Collection, error) {
	var out api.Collection
	if err := c.do(ctx, http.MethodPost, "/collections", spec, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListCollections returns every collection.
func (c *Client) ListCollections(ctx context.Context) ([]api.Collection, error) {
	var out api.CollectionList
	if err := c.do(ctx, http.MethodGet, "/collections", nil, true, &out); err != nil {
		return nil, err
	}
	return out.Collections, nil
}

// GetCollection returns one collection's schema and placement, or an error
// matching ErrNotFound.
func (c *Client) GetCollection(ctx context.Context, name string) (*api.Collection, error) {
	var out api.Collection
	if err := c.do(ctx, http.MethodGet, collPath(name), nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DropCollection deletes a collection and all its documents.
func (c *Client) DropCollection(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, collPath(name), nil, false, nil)
}

// Seal asks every shard leader of the collection to seal its write buffer
// into a segment (through raft, so every replica builds the same one), and
// returns the collection with its segments. Sealed segments are searched
// through their indexes once built.
func (c *Client) Seal(ctx context.Context, name string) (*api.Collection, error) {
	return c.control(ctx, name, "seal")
}

// Compact asks every shard leader of the collection to merge its sealed
// segments and drop deleted documents (through raft), and returns the
// collection with its segments.
func (c *Client) Compact(ctx context.Context, name string) (*api.Collection, error) {
	return c.control(ctx, name, "compact")
}

func (c *Client) control(ctx context.Context, name, op string) (*api.Collection, error) {
	var out api.Collection
	if err := c.do(ctx, http.MethodPost, collPath(name)+"/"+op, nil, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Upsert stores docs in the collection, replacing whole any document with the
// same id, and returns once the writes are committed through raft. The
// returned Token, passed as a search's consistency, reads these writes.
// At most api.MaxBatch documents go in one call, and their JSON encoding must
// fit in api.MaxBodyBytes: a larger call fails before sending with an *Error
// (StatusCode 0) that matches ErrTooLarge.
func (c *Client) Upsert(ctx context.Context, collection string, docs []api.Document) (*api.WriteResponse, error) {
	for i := range docs {
		if err := checkID(fmt.Sprintf("documents[%d].id", i), docs[i].ID); err != nil {
			return nil, err
		}
	}
	var out api.WriteResponse
	if err := c.do(ctx, http.MethodPost, collPath(collection)+"/documents", api.UpsertRequest{Documents: docs}, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetOption sets a per-call knob of Get.
type GetOption func(url.Values)

// ReadConsistency makes a Get read at consistency cons: Level "eventual"
// (the default: any replica), "strong" (the shard leader after a raft read
// barrier), or a Token from a write response (any replica that has applied
// that write).
func ReadConsistency(cons api.Consistency) GetOption {
	return func(q url.Values) {
		if cons.Token != "" {
			q.Set("token", cons.Token)
			return
		}
		if cons.Level != "" {
			q.Set("consistency", cons.Level)
		}
	}
}

// Get returns one document, or an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, collection, id string, opts ...GetOption) (*api.Document, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	path := docPath(collection, id)
	if len(opts) > 0 {
		q := url.Values{}
		for _, o := range opts {
			o(q)
		}
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
	}
	var out api.Document
	if err := c.do(ctx, http.MethodGet, path, nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes one document. The answer's Deleted is 1, or 0 when there
// was no such document.
func (c *Client) Delete(ctx context.Context, collection, id string) (*api.WriteResponse, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	var out api.WriteResponse
	if err := c.do(ctx, http.MethodDelete, docPath(collection, id), nil, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Search runs a query against the collection. Searches are read-only and
// are retried like GETs.
func (c *Client) Search(ctx context.Context, collection string, req api.SearchRequest) (*api.SearchResponse, error) {
	var out api.SearchResponse
	if err := c.do(ctx, http.MethodPost, collPath(collection)+"/search", req, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func collPath(name string) string { return "/collections/" + segment(name) }

func docPath(collection, id string) string {
	return collPath(collection) + "/documents/" + segment(id)
}

// segment escapes s as one path segment. "." and ".." are escaped too, or the
// server would clean them away as relative path steps.
func segment(s string) string {
	if s == "." || s == ".." {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return url.PathEscape(s)
}

// do sends one call, retrying it when idempotent, and decodes a 2xx body
// into out (unless out is nil).
func (c *Client) do(ctx context.Context, method, path string, in any, idempotent bool, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		// The server would answer 413 only after reading up to the limit,
		// and might close the connection before the answer is read.
		if len(body) > api.MaxBodyBytes {
			return &Error{Code: api.CodeTooLarge, Field: "body", Message: fmt.Sprintf(
				"the request body has %d bytes, over the limit of %d (api.MaxBodyBytes); send fewer documents per request", len(body), api.MaxBodyBytes)}
		}
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	attempts := 1
	if idempotent {
		attempts = c.attempts
	}
	wait := c.backoff
	for try := 1; ; try++ {
		retryAfter, err := c.once(ctx, method, path, body, out)
		if err == nil || try >= attempts || !retryable(err) {
			return err
		}
		d := wait
		if retryAfter > 0 && retryAfter < maxBackoff {
			d = retryAfter
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// retryable reports whether another attempt may succeed: the server said
// 503, or it could not be reached at all.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode == http.StatusServiceUnavailable
	}
	var ue *url.Error
	return errors.As(err, &ue) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// once sends one attempt. It returns the Retry-After delay of a 503.
func (c *Client) once(ctx context.Context, method, path string, body []byte, out any) (time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+api.PathPrefix+path, rd)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", jsonMediaType)
	req.Header.Set("User-Agent", userAgent)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", jsonMediaType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			after = time.Duration(s) * time.Second
		}
		return after, decodeError(resp.StatusCode, b)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return 0, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return 0, fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
	}
	return 0, nil
}
