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

// pinThread binds the calling OS thread, which the caller has locked, to
// one of the CPUs it may run on (the last), so that a latency pass is not
// moved between cores and their private caches mid-run. It returns a
// function that restores the thread's former CPU set.
func pinThread() (restore func()) {
	var old, one [16]uint64 // up to 1,024 CPUs
	size := unsafe.Sizeof(old)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, size, uintptr(unsafe.Pointer(&old))); e != 0 {
		return func() {}
	}
	cpu := -1
	for i := len(old)*64 - 1; i >= 0 && cpu < 0; i-- {
		if old[i/64]&(1<<(i%64)) != 0 {
			cpu = i
		}
	}
	if cpu < 0 {
		return func() {}
	}
	one[cpu/64] = 1 << (cpu % 64)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, size, uintptr(unsafe.Pointer(&one))); e != 0 {
		return func() {}
	}
	return func() {
		_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, size, uintptr(unsafe.Pointer(&old)))
	}
}
