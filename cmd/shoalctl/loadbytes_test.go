package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
)

// TestLoadSplitsBatchesByBytes loads documents of about 2 KB each with a
// document cap far above the file: requests are cut by --batch-bytes.
func TestLoadSplitsBatchesByBytes(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	docs := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.UpsertRequest
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		sizes = append(sizes, buf.Len())
		docs += len(req.Documents)
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(api.WriteResponse{Upserted: len(req.Documents)})
	}))
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	for i := range 100 {
		var idx, val []string
		for j := range 150 {
			idx = append(idx, fmt.Sprint(j*7))
			val = append(val, "0.125")
		}
		fmt.Fprintf(&file, `{"id":"d%03d","indices":[%s],"values":[%s]}`+"\n", i, strings.Join(idx, ","), strings.Join(val, ","))
	}
	lineBytes := file.Len() / 100
	in, err := newInput(strings.NewReader(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	const batchBytes = 20 << 10
	var errOut bytes.Buffer
	st, err := runLoad(context.Background(), c, in, int64(file.Len()),
		loadOptions{Collection: "c", Batch: api.MaxBatch, BatchBytes: batchBytes, Parallel: 2, LogEvery: time.Hour}, &errOut)
	if err != nil || st.Documents != 100 {
		t.Fatalf("load: got %+v, %v (%s)", st, err, errOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if docs != 100 {
		t.Fatalf("the server got %d documents, want 100", docs)
	}
	if len(sizes) < file.Len()/(batchBytes+lineBytes) {
		t.Fatalf("%d requests for %d input bytes at %d per request", len(sizes), file.Len(), batchBytes)
	}
	for _, n := range sizes {
		// A request holds at most batchBytes of input plus one line, which
		// re-encodes to about the same size.
		if n > 2*(batchBytes+lineBytes) {
			t.Errorf("a request of %d bytes, want about %d at most", n, batchBytes+lineBytes)
		}
	}
}
