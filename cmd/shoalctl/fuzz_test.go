package main

import (
	"encoding/json"
	"testing"
)

// FuzzParseLine checks that any load line either fails or gives a document
// with an id and a consistent sparse vector that encodes as JSON.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"id":"d1","sparse":{"indices":[1,2],"values":[1,0.5]},"dense":[1,0],"attributes":{"topic":"a","year":2001}}`,
		`{"id":"d2","indices":[2,3],"values":[0.3,0.9],"content":"x"}`,
		`{"id":7,"indices":[],"values":[]}`,
		`{"id":"x","multivector":[[1,2],[3,4]]}`,
		`{"id":"x","indices":[1],"sparse":{"indices":[1],"values":[1]}}`,
		`{"id":null}`, `[]`, `{"id":"a"} {}`, `{"id":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseLine(b)
		if err != nil {
			return
		}
		if d.ID == "" {
			t.Fatalf("%q: empty id without an error", b)
		}
		if d.Sparse != nil && d.Sparse.Indices != nil && d.Sparse.Values != nil && len(d.Sparse.Indices) != len(d.Sparse.Values) && json.Valid(b) {
			// Only the document format may carry a mismatch; the server checks it.
			var raw map[string]json.RawMessage
			if json.Unmarshal(b, &raw) == nil && raw["indices"] != nil {
				t.Fatalf("%q: dataset-format line with mismatched lengths accepted", b)
			}
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("%q: document does not encode: %v", b, err)
		}
	})
}

// FuzzParseSparse checks that an accepted --sparse value is strictly
// ascending with one value per term.
func FuzzParseSparse(f *testing.F) {
	for _, s := range []string{"3:0.4,17:1.3", "17:1,3:2", "1:1,1:2", "", ":", "4294967295:1", "1:1e39"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseSparse(s)
		if err != nil {
			return
		}
		if len(v.Indices) == 0 || len(v.Indices) != len(v.Values) {
			t.Fatalf("%q: got %+v", s, v)
		}
		for i := 1; i < len(v.Indices); i++ {
			if v.Indices[i] <= v.Indices[i-1] {
				t.Fatalf("%q: not ascending: %v", s, v.Indices)
			}
		}
	})
}
