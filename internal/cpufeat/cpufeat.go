// Package cpufeat reports the CPU features that shoal's assembly kernels
// need, read once at start-up.
package cpufeat

// AVX2FMA is true when the CPU has AVX2 and FMA and the OS saves the YMM
// registers. Always false off amd64 and in purego builds.
var AVX2FMA = detectAVX2FMA()
