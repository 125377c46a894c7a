//go:build linux

package main

import (
	"syscall"
	"unsafe"
)

// threadCPUNanos returns the CPU time consumed by the calling OS thread
// (CLOCK_THREAD_CPUTIME_ID). On a shared machine it excludes the time the
// thread waited for a core, which wall-clock latency includes.
func threadCPUNanos() int64 {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 {
		return 0
	}
	return ts.Nano()
}

// processCPUSeconds returns the user+system CPU time of the whole process.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
