package seismic

import "testing"

func TestCalibrationLookup(t *testing.T) {
	c := &Calibration{Entries: []CalibrationEntry{
		{Target: 0.9, QueryCut: 4, HeapFactor: 1, Reached: true},
		{Target: 0.95, QueryCut: 8, HeapFactor: 0.8, Reached: true},
		{Target: 0.99, QueryCut: 32, HeapFactor: 0.3},
	}}
	for _, tc := range []struct {
		target  float64
		qc      int
		reached bool
	}{{0.5, 4, true}, {0.9, 4, true}, {0.92, 8, true}, {0.95, 8, true}, {0.97, 32, false}, {0.999, 32, false}} {
		e, ok := c.Lookup(tc.target)
		if !ok || e.QueryCut != tc.qc || e.Reached != tc.reached {
			t.Errorf("Lookup(%v) = %+v, %v; want query_cut %d, reached %v", tc.target, e, ok, tc.qc, tc.reached)
		}
	}
	if _, ok := (*Calibration)(nil).Lookup(0.9); ok {
		t.Error("nil table answered")
	}
	ix, err := Build(fixtureForward(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cal := ix.Calibration()
	if cal == nil || len(cal.Entries) != len(CalibrationTargets) || cal.Queries < 64 || cal.K != 10 {
		t.Fatalf("calibration %+v", cal)
	}
	for i, e := range cal.Entries {
		if e.Target != CalibrationTargets[i] || e.QueryCut < 1 || e.HeapFactor <= 0 || (e.Reached && e.Recall < e.Target) {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	cfg := DefaultConfig()
	cfg.Calibrate = false
	if ix, _ := Build(fixtureForward(), cfg); ix.Calibration() != nil {
		t.Error("Calibrate false still calibrated")
	}
}
