package seismic

import "unsafe"

// prefetch asks the CPU to start loading every 64-byte line of the n bytes
// at p into the cache (PREFETCHT0) and returns without waiting for them, so
// that many misses are in flight at once. It has no other effect; the
// portable twin (prefetch_other.go) does nothing.
//
//go:noescape
func prefetch(p unsafe.Pointer, n uintptr)
