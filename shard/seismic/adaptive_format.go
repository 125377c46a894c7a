package seismic

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The adaptive section of format version 3, after the version-1 arrays and
// before the checksum trailer:
//
//	u64 length of the rest of the section in bytes
//	adaptive: flatness f64, alpha f64, kept_share f64, strength f64, min_postings u32, summary_cap u32
//	u64 count of list maxima (0 or m), then f32[count], padded to 8 bytes
//	calibration: queries u32, k u32, query_len u32, entries u32 (0: none), then
//	per entry target f32, query_cut u32, heap_factor f32, recall f32,
//	speedup f32, flags u32 (1 knn, 2 exact preferred, 4 reached)
const (
	calibFlagKNN     = 1
	calibFlagExact   = 2
	calibFlagReached = 4
	// maxCalibEntries bounds the calibration table a file may hold.
	maxCalibEntries = 64
)

// appendSection appends the adaptive section to dst.
func (ix *Index) appendSection(dst []byte) []byte {
	le := binary.LittleEndian
	body := make([]byte, 0, 64+4*len(ix.listMax))
	a := ix.adapt
	body = le.AppendUint64(body, math.Float64bits(a.Flatness))
	body = le.AppendUint64(body, math.Float64bits(a.Alpha))
	body = le.AppendUint64(body, math.Float64bits(a.KeptShare))
	body = le.AppendUint64(body, math.Float64bits(a.Strength))
	body = le.AppendUint32(body, uint32(a.MinPostings))
	body = le.AppendUint32(body, uint32(a.SummaryCap))
	body = le.AppendUint64(body, uint64(len(ix.listMax)))
	for _, v := range ix.listMax {
		body = le.AppendUint32(body, math.Float32bits(v))
	}
	for len(body)%8 != 0 {
		body = append(body, 0)
	}
	c := ix.calib
	if c == nil {
		c = &Calibration{}
	}
	body = le.AppendUint32(body, uint32(c.Queries))
	body = le.AppendUint32(body, uint32(c.K))
	body = le.AppendUint32(body, uint32(c.QueryLen))
	body = le.AppendUint32(body, uint32(len(c.Entries)))
	for _, e := range c.Entries {
		var fl uint32
		if e.KNN {
			fl |= calibFlagKNN
		}
		if e.ExactPreferred {
			fl |= calibFlagExact
		}
		if e.Reached {
			fl |= calibFlagReached
		}
		body = le.AppendUint32(body, math.Float32bits(e.Target))
		body = le.AppendUint32(body, uint32(e.QueryCut))
		body = le.AppendUint32(body, math.Float32bits(e.HeapFactor))
		body = le.AppendUint32(body, math.Float32bits(e.Recall))
		body = le.AppendUint32(body, math.Float32bits(e.Speedup))
		body = le.AppendUint32(body, fl)
	}
	dst = le.AppendUint64(dst, uint64(len(body)))
	return append(dst, body...)
}

// parseSection reads the adaptive section at r's offset and checks it.
func (ix *Index) parseSection(r *reader) error {
	bad := func(what string) error { return fmt.Errorf("%w: adaptive section: %s", ErrFormat, what) }
	hdr := view[uint64](r, 1)
	if r.err != nil {
		return r.err
	}
	size := hdr[0]
	if size > uint64(len(r.b))-r.off || size < 64 {
		return bad("length")
	}
	b := r.b[r.off : r.off+size]
	r.off += size
	r.off = (r.off + 7) &^ 7
	le := binary.LittleEndian
	f64 := func(off int) float64 { return math.Float64frombits(le.Uint64(b[off:])) }
	a := Adaptive{Flatness: f64(0), Alpha: f64(8), KeptShare: f64(16), Strength: f64(24),
		MinPostings: int(le.Uint32(b[32:])), SummaryCap: int(le.Uint32(b[36:]))}
	for _, x := range []float64{a.Flatness, a.Alpha, a.KeptShare} {
		if !(x >= 0 && x <= 1.000001) {
			return bad("adaptive parameters")
		}
	}
	if !(a.Strength >= 0 && a.Strength <= 100) {
		return bad("pruning strength")
	}
	ix.adapt = a
	cnt := le.Uint64(b[40:])
	if cnt != 0 && cnt != uint64(ix.m) {
		return bad("list maxima count")
	}
	off := uint64(48)
	if cnt > (size-off)/4 {
		return bad("list maxima truncated")
	}
	if cnt > 0 {
		ix.listMax = make([]float32, cnt)
		for i := range ix.listMax {
			v := math.Float32frombits(le.Uint32(b[off:]))
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return bad("list maximum")
			}
			ix.listMax[i] = v
			off += 4
		}
	}
	off = (off + 7) &^ 7
	if off+16 > size {
		return bad("calibration truncated")
	}
	c := &Calibration{Queries: int(le.Uint32(b[off:])), K: int(le.Uint32(b[off+4:])), QueryLen: int(le.Uint32(b[off+8:]))}
	ne := uint64(le.Uint32(b[off+12:]))
	off += 16
	if ne > maxCalibEntries || off+ne*24 != size {
		return bad("calibration entries")
	}
	f32 := func(o uint64) float32 { return math.Float32frombits(le.Uint32(b[o:])) }
	for i := uint64(0); i < ne; i++ {
		e := CalibrationEntry{Target: f32(off), QueryCut: int(le.Uint32(b[off+4:])), HeapFactor: f32(off + 8),
			Recall: f32(off + 12), Speedup: f32(off + 16)}
		fl := le.Uint32(b[off+20:])
		e.KNN, e.ExactPreferred, e.Reached = fl&calibFlagKNN != 0, fl&calibFlagExact != 0, fl&calibFlagReached != 0
		switch {
		case fl&^(calibFlagKNN|calibFlagExact|calibFlagReached) != 0,
			!(e.Target >= 0 && e.Target <= 1), !(e.Recall >= 0 && e.Recall <= 1),
			e.QueryCut < 1 || e.QueryCut > 1<<16,
			!(e.HeapFactor > 0) || math.IsInf(float64(e.HeapFactor), 0),
			!(e.Speedup >= 0) || math.IsInf(float64(e.Speedup), 0):
			return bad("calibration entry")
		}
		if i > 0 && e.Target < c.Entries[i-1].Target {
			return bad("calibration targets not ascending")
		}
		c.Entries = append(c.Entries, e)
		off += 24
	}
	if ne > 0 {
		ix.calib = c
	}
	return nil
}
