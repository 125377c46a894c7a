package blockmax

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("blockmax: invalid config")
	// ErrInput reports malformed input vectors: mismatched lengths,
	// unsorted or duplicate indices, non-finite values.
	ErrInput = errors.New("blockmax: invalid input")
	// ErrFormat reports a corrupt or unsupported index file.
	ErrFormat = errors.New("blockmax: bad index format")
)

// Config controls how an index is built. The zero value is not valid; start
// from DefaultConfig.
type Config struct {
	// BlockSize is the number of postings per block, a power of two in
	// [8, 65536]. Every block stores its last document id and an upper
	// bound of its values (one byte). Smaller blocks give tighter bounds and
	// finer skipping for more block metadata (5 bytes a block). Default 64.
	BlockSize int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{BlockSize: 64} }

// Validate reports whether c can build an index.
func (c Config) Validate() error {
	if c.BlockSize < 8 || c.BlockSize > 1<<16 || c.BlockSize&(c.BlockSize-1) != 0 {
		return fmt.Errorf("%w: block_size %d is not a power of two in [8, 65536]", ErrConfig, c.BlockSize)
	}
	return nil
}

// shiftOf returns log2 of a power of two.
func shiftOf(n int) uint32 {
	var s uint32
	for 1<<s < n {
		s++
	}
	return s
}
