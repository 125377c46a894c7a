package blockmax_test

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/topk"
	"github.com/shoal-search/shoal/shard/blockmax"
	"github.com/shoal-search/shoal/shard/seismic"
)

func threadCPU() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func TestCPUDebug(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("BMDOCS"))
	if n == 0 {
		t.Skip()
	}
	c := dataset.DefaultFlatSparseConfig()
	c.Docs, c.Queries = n, 200
	docs, queries, _ := dataset.GenerateFlatSparse(c)
	ix, _ := blockmax.Build(fwdOf(docs), blockmax.DefaultConfig())
	ex, _ := seismic.NewExact(seismic.Forward(fwdOf(docs)))
	runtime.LockOSThread()
	s := blockmax.NewScratch()
	var dst []topk.Item
	best := func(f func(q blockmax.Vector)) float64 {
		b := int64(1 << 62)
		for range 5 {
			t0 := threadCPU()
			for i := range queries.Len() {
				ids, vals := queries.Row(i)
				f(blockmax.Vector{Indices: ids, Values: vals})
			}
			b = min(b, threadCPU()-t0)
		}
		return float64(b) / 1e3 / float64(queries.Len())
	}
	tb := best(func(q blockmax.Vector) { dst = ix.Search(q, 10, nil, s, dst) })
	te := best(func(q blockmax.Vector) { dst = ex.Search(seismic.Vector(q), 10, dst) })
	t.Logf("docs %d: blockmax %.1f us, taat %.1f us, speedup %.2f", n, tb, te, te/tb)
}
