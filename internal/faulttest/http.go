package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// API sends JSON requests to a coordinator, each bounded by its context and
// by the client's timeout.
type API struct {
	URL    string
	Client *http.Client
}

// NewAPI returns an API for url whose requests time out after timeout.
func NewAPI(url string, timeout time.Duration) API {
	return API{URL: url, Client: &http.Client{Timeout: timeout}}
}

// Do sends body (nil or a value to encode as JSON) and decodes a 2xx answer
// into out when it is not nil. It returns the status (0 when the request got
// no answer) and the raw body, or the error's text.
func (a API) Do(ctx context.Context, method, path string, body, out any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		p, err := json.Marshal(body)
		if err != nil {
			return 0, []byte(err.Error())
		}
		rd = bytes.NewReader(p)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.Client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, []byte(fmt.Sprintf("decode %s: %v", raw, err))
		}
	}
	return resp.StatusCode, raw
}
