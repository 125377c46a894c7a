//go:build !linux

package seismic

// adviseHuge is a no-op outside Linux.
func adviseHuge[T any](s []T) {}
