package multivec

// maxSimUpdateOld is the pure-Go kernel before the 4×2 register block (a 2×4
// block without unrolling, which spills accumulators to the stack); kept to
// compare against in BenchmarkMaxSim and TestMaxSimMatchesNaive.
func maxSimUpdateOld(q, d []float32, dim int, maxes []float32) {
	nq, nd := len(q)/dim, len(d)/dim
	j := 0
	for ; j+4 <= nd; j += 4 {
		d0 := d[j*dim : (j+1)*dim]
		d1 := d[(j+1)*dim : (j+2)*dim]
		d2 := d[(j+2)*dim : (j+3)*dim]
		d3 := d[(j+3)*dim : (j+4)*dim]
		i := 0
		for ; i+2 <= nq; i += 2 {
			a, b := dot2x4(q[i*dim:(i+1)*dim], q[(i+1)*dim:(i+2)*dim], d0, d1, d2, d3)
			maxes[i] = max(maxes[i], a[0], a[1], a[2], a[3])
			maxes[i+1] = max(maxes[i+1], b[0], b[1], b[2], b[3])
		}
		if i < nq {
			qi := q[i*dim : (i+1)*dim]
			maxes[i] = max(maxes[i], dot(qi, d0), dot(qi, d1), dot(qi, d2), dot(qi, d3))
		}
	}
	for ; j < nd; j++ {
		dj := d[j*dim : (j+1)*dim]
		for i := 0; i < nq; i++ {
			maxes[i] = max(maxes[i], dot(q[i*dim:(i+1)*dim], dj))
		}
	}
}

// maxSimWith is MaxSim through the given update kernel.
func maxSimWith(update func(q, d []float32, dim int, maxes []float32), q, d []float32, dim int, maxes []float32) float32 {
	nq, nd := len(q)/dim, len(d)/dim
	if nq == 0 || nd == 0 {
		return 0
	}
	maxes = maxes[:nq]
	for i := range maxes {
		maxes[i] = negInf
	}
	update(q, d, dim, maxes)
	var s float32
	for _, m := range maxes {
		s += m
	}
	return s
}
