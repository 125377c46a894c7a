//go:build !linux

package main

// threadCPUNanos is unavailable outside Linux; CPU latencies print as 0.
func threadCPUNanos() int64 { return 0 }

// processCPUSeconds is unavailable outside Linux.
func processCPUSeconds() float64 { return 0 }

// pinThread is a no-op outside Linux.
func pinThread() (restore func()) { return func() {} }
