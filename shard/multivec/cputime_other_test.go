//go:build !unix

package multivec

// cpuSeconds is not available here.
func cpuSeconds() float64 { return -1 }
