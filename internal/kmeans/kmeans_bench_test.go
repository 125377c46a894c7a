package kmeans

import "testing"

func BenchmarkTrain(b *testing.B) {
	data := blobs(20000, 32, 64, 1)
	cfg := DefaultConfig()
	cfg.Iterations = 5
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(data, 32, 64, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNearest(b *testing.B) {
	data := blobs(256, 32, 16, 1)
	q := data[:32]
	b.ReportAllocs()
	for b.Loop() {
		Nearest(q, data, L2)
	}
}
