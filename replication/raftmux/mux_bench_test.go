package raftmux

import (
	"bytes"
	"testing"
)

func BenchmarkHandshake(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	r := bytes.NewReader(nil)
	for b.Loop() {
		buf = AppendHandshake(buf[:0], "collection-a.shard-0")
		r.Reset(buf)
		if _, err := ReadHandshake(r); err != nil {
			b.Fatal(err)
		}
	}
}
