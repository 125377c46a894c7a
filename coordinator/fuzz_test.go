package coordinator

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/internal/validate"
)

var fuzzSpec = api.CollectionSpec{Name: "f", Shards: 2, Replication: 1,
	Sparse: &api.SparseField{MaxTerm: 100}, Dense: &api.DenseField{Dim: 3, Metric: "cosine"},
	Multivector: &api.MultivectorField{Dim: 2}, Attributes: map[string]string{"lang": "keyword", "year": "int", "score": "float"}}

// checkErr fails unless err is nil or an API error with a status and code.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ae *apiError
	var fe *validate.FieldError
	if errors.As(err, &ae) {
		if ae.status < 400 || ae.status >= 500 || ae.body.Code == "" || ae.body.Message == "" {
			t.Fatalf("bad api error %+v", ae)
		}
		return
	}
	if errors.As(err, &fe) {
		if fe.Field == "" {
			t.Fatalf("field error without a field: %v", fe)
		}
		return
	}
	t.Fatalf("unexpected error type %T: %v", err, err)
}

func decodeString(body string, v any) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	return decodeBody(httptest.NewRecorder(), r, v)
}

func FuzzUpsertBody(f *testing.F) {
	for _, s := range []string{
		`{"documents":[{"id":"a","sparse":{"indices":[3,17],"values":[0.4,1.3]},"dense":[1,2,3],"multivector":[[1,2]],"attributes":{"lang":"en","year":2020,"score":1.5}}]}`,
		`{"documents":[{"id":"a","sparse":{"indices":[17,3],"values":[0.4]}}]}`,
		`{"documents":[{"id":"","dense":[1,2]}]}`,
		`{"documents":[{"id":"a","attributes":{"year":1.5}}]}`,
		`{"documents":[`, `null`, `[]`, `{"documents":null}`,
		"{\"documents\":[{\"id\":\"a\xff\",\"dense\":[1,2,3]}]}",
		`{"documents":[{"id":"a\udc00","dense":[1,2,3]}]}`,
		`{"documents":[{"id":"a\ud83d\ude00","dense":[1,2,3]}]}`,
		`{"documents":[{"id":"\ufffd","dense":[1,2,3]}]}`,
		`{"documents":[{"ID":"a\ud800x","dense":[1,2,3]}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeUpsert(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(body)))
		if err != nil {
			checkErr(t, err)
			return
		}
		for i := range req.Documents {
			w, err := docToWire("documents[0]", &req.Documents[i], &fuzzSpec)
			checkErr(t, err)
			if err == nil && w.Id == "" {
				t.Fatal("accepted a document without id")
			}
			if err == nil && !utf8.ValidString(w.Id) {
				t.Fatalf("accepted id %q, which is not valid UTF-8", w.Id)
			}
			// U+FFFD in an accepted id was sent as such (raw or escaped),
			// never made up from bad bytes.
			if err == nil && strings.Contains(w.Id, "\uFFFD") && !strings.Contains(body, "\uFFFD") &&
				!strings.Contains(strings.ToLower(body), `\ufffd`) {
				t.Fatalf("accepted id %q holds U+FFFD that the body never sent", w.Id)
			}
		}
	})
}

func FuzzSearchBody(f *testing.F) {
	for _, s := range []string{
		`{"k":10,"sparse":{"indices":[3],"values":[1]},"filter":{"lang":"en","year":{"gte":2000,"lte":2020}},"consistency":"strong"}`,
		`{"dense":[1,2,3],"multivector":[[1,2],[3,4]],"fusion":"linear","weights":{"dense":2}}`,
		`{"dense":[1,2,3],"consistency":{"token":"v1.abc.0-5"}}`,
		`{"sparse":{"indices":[3],"values":[1]},"params":{"target_recall":0.9}}`,
		`{"k":0}`, `{"filter":{"lang":["en","de"]}}`, `{"consistency":{"x":1}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req api.SearchRequest
		if err := decodeString(body, &req); err != nil {
			checkErr(t, err)
			return
		}
		_, _, err := queryToWire(&req, &fuzzSpec)
		checkErr(t, err)
	})
}

func FuzzCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"c","shards":2,"replication":3,"sparse":{"max_term":30522},"dense":{"dim":384,"metric":"cosine"},"multivector":{"dim":128},"attributes":{"lang":"keyword","year":"int"}}`,
		`{"name":"c"}`, `{"name":"a b","dense":{"dim":-1}}`,
		`{"name":"c","sparse":{"max_term":9,"index":{"kind":"exact","target_recall":0.9,"query_cut":8,"heap_factor":0.6}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var spec api.CollectionSpec
		if err := decodeString(body, &spec); err != nil {
			checkErr(t, err)
			return
		}
		checkErr(t, checkSpec(&spec, 3))
	})
}

// TestSparseIndexSpec checks the validation of a collection's sparse index
// settings and of a query's target recall.
func TestSparseIndexSpec(t *testing.T) {
	spec := func(ix api.SparseIndex) *api.CollectionSpec {
		return &api.CollectionSpec{Name: "c", Sparse: &api.SparseField{MaxTerm: 9, Index: &ix}}
	}
	for _, ok := range []api.SparseIndex{{}, {Kind: "seismic", TargetRecall: 0.99}, {Kind: "exact"}, {QueryCut: 12, HeapFactor: 0.8}, {TargetRecall: 1}} {
		if err := checkSpec(spec(ok), 3); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for field, bad := range map[string]api.SparseIndex{
		"sparse.index.kind":          {Kind: "bm25"},
		"sparse.index.target_recall": {TargetRecall: 1.5},
		"sparse.index.query_cut":     {QueryCut: -1},
		"sparse.index.heap_factor":   {HeapFactor: -0.5},
	} {
		err := checkSpec(spec(bad), 3)
		var ae *apiError
		if !errors.As(err, &ae) || !strings.Contains(ae.body.Message+ae.body.Field, field) {
			t.Errorf("%+v: got %v, want an error naming %s", bad, err, field)
		}
	}
	q := &api.SearchRequest{K: 10, Sparse: &api.SparseVector{Indices: []uint32{3}, Values: []float32{1}}, Params: &api.SearchParams{TargetRecall: 0.9}}
	w, _, err := queryToWire(q, &fuzzSpec)
	if err != nil || w.TargetRecall != 0.9 {
		t.Fatalf("target_recall 0.9: %v, wire %v", err, w)
	}
	q.Params.TargetRecall = 2
	if _, _, err := queryToWire(q, &fuzzSpec); err == nil {
		t.Error("params.target_recall 2 accepted")
	}
}

func TestTokenRoundTrip(t *testing.T) {
	col := metaCollection("abc", 3)
	tok := token{uid: "abc", indexes: map[int]uint64{0: 5, 2: 9}}
	got, err := parseToken(tok.String(), col)
	if err != nil || got.indexes[0] != 5 || got.indexes[2] != 9 || len(got.indexes) != 2 {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"", "v2.abc", "v1.other.0-1", "v1.abc.7-1", "v1.abc.x-1", "v1.abc.0-"} {
		if _, err := parseToken(bad, col); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
}

func TestShardOfStable(t *testing.T) {
	// These values are part of the data layout: changing the hash would
	// move documents between shards.
	for id, want := range map[string]int{"a": 0, "doc-00001": 1, "hello": 1} {
		if got := ShardOf(id, 2); got != want {
			t.Errorf("ShardOf(%q, 2) = %d, want %d", id, got, want)
		}
	}
}

func TestJSONErrors(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"documents":[{"id":"a","dense":[1]},{"id":"b","dense":["x"]}]}`))
	_, err := decodeUpsert(httptest.NewRecorder(), r)
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || ae.body.Field != "documents[1].dense" {
		t.Fatalf("got %v", err)
	}
}

func metaCollection(uid string, shards int) (c meta.Collection) {
	c.UID = uid
	c.Placement = make([][]string, shards)
	return c
}

// FuzzDocumentID checks the id rules on any string: an id is accepted exactly
// when it is non-empty, at most 512 bytes and valid UTF-8, and the error of a
// rejected one names the field.
func FuzzDocumentID(f *testing.F) {
	for _, s := range []string{"a", "", "x\xff", "\xc3", "é", "\xed\xa0\x80", strings.Repeat("a", 513)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := checkID("id", id)
		want := id != "" && len(id) <= maxIDBytes && utf8.ValidString(id)
		if (err == nil) != want {
			t.Fatalf("checkID(%q): got %v, want accepted=%v", id, err, want)
		}
		checkErr(t, err)
		// As the raw text of a JSON string with no escapes, the bytes are
		// valid exactly when they are UTF-8.
		if !strings.ContainsAny(id, "\\\"") {
			if got := validJSONString([]byte(`"` + id + `"`)); got != utf8.ValidString(id) {
				t.Fatalf("validJSONString(%q): got %v", id, got)
			}
		}
	})
}

func TestValidJSONString(t *testing.T) {
	for _, tc := range []struct {
		tok  string
		want bool
	}{
		{`"abc"`, true},
		{`"\\udc00"`, true}, // an escaped backslash, then plain text
		{`"\u00e9"`, true},
		{`"\ud83d\ude00"`, true},
		{`"\uD83D\uDE00"`, true},
		{`"\ufffd"`, true},
		{`"\udc00"`, false},
		{`"\ud83d"`, false},
		{`"\ud83dx"`, false},
		{`"\ud83d\u0041"`, false},
		{`"\ud83d\n"`, false},
		{"\"\xff\"", false},
		{"\"\xed\xa0\x80\"", false},
	} {
		if got := validJSONString([]byte(tc.tok)); got != tc.want {
			t.Errorf("validJSONString(%s): got %v, want %v", tc.tok, got, tc.want)
		}
	}
}
