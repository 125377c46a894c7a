//go:build !amd64

package seismic

import "unsafe"

// prefetch is a no-op where shoal has no prefetch instruction in assembly.
func prefetch(p unsafe.Pointer, n uintptr) {}
