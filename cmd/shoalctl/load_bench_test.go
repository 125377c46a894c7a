package main

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseLine measures decoding one load line of 150 sparse terms in
// each accepted format (the dataset one takes a second, lenient decode when
// the line has extra keys).
func BenchmarkParseLine(b *testing.B) {
	var idx, val []string
	for i := range 150 {
		idx = append(idx, fmt.Sprint(1000+7*i))
		val = append(val, fmt.Sprintf("%.3f", 0.5+float64(i%10)/7))
	}
	vec := `"indices":[` + strings.Join(idx, ",") + `],"values":[` + strings.Join(val, ",") + `]`
	for _, tc := range []struct{ name, line string }{
		{"document", `{"id":"d1","sparse":{` + vec + `},"attributes":{"topic":"a","year":2001}}`},
		{"dataset", `{"id":"d1",` + vec + `}`},
		{"dataset-extra-keys", `{"id":"d1","content":"some text",` + vec + `}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			line := []byte(tc.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseLine(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
