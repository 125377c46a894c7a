package seismic

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-search/shoal/internal/topk"
)

// TestCalibratedSpeed measures the calibrated settings on the SPLADE-like
// generator against exact-taat: recall and mean time a query for every
// table entry. It is a measurement, not a check, and runs only when
// SEISMIC_SPEED_N is set:
//
//	SEISMIC_SPEED_N=100000 go test -count=1 -run TestCalibratedSpeed -v ./shard/seismic
func TestCalibratedSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SEISMIC_SPEED_N"))
	if n == 0 {
		t.Skip()
	}
	fwd, q := synth(t, n, 500)
	ex, _ := NewExact(fwd)
	{
		cfg := DefaultConfig()
		st := time.Now()
		ix, err := Build(fwd, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("build %v", time.Since(st))
		stats := ix.Stats()
		t.Logf("adaptive %+v index %.2fx f16 fwd", ix.Adaptive(), float64(stats.TotalBytes)/float64(stats.ForwardBytes))
		var want [][]topk.Item
		st = time.Now()
		for i := 0; i < q.Len(); i++ {
			want = append(want, ex.Search(qrow(q, i), 10, nil))
		}
		exactUS := float64(time.Since(st).Microseconds()) / float64(q.Len())
		for _, e := range ix.Calibration().Entries {
			p := DefaultSearchParams()
			p.QueryCut, p.HeapFactor, p.KNN = e.QueryCut, e.HeapFactor, e.KNN
			var dst []topk.Item
			var rec float64
			st := time.Now()
			for i := 0; i < q.Len(); i++ {
				dst = ix.Search(qrow(q, i), 10, p, nil, dst)
				rec += recallOf(dst, want[i], 10)
			}
			us := float64(time.Since(st).Microseconds()) / float64(q.Len())
			t.Logf("target %.2f qc %d hf %.1f reached %v: real recall %.3f, %.0f us/query, exact-taat %.0f us (%.1fx)", e.Target, e.QueryCut, e.HeapFactor, e.Reached, rec/float64(q.Len()), us, exactUS, exactUS/us)
		}
	}
}
