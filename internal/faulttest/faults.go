package faulttest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
)

// CorruptPages overwrites n random 4 KiB pages of path (never page 0 or 1,
// bbolt's meta pages, so that the file still opens) with random bytes.
func CorruptPages(path string, n int, seed uint64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pages := int(st.Size() / 4096)
	if pages < 3 {
		return fmt.Errorf("%s: only %d pages", path, pages)
	}
	r := rand.New(rand.NewPCG(seed, 3))
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		for j := range buf {
			buf[j] = byte(r.UintN(256))
		}
		if _, err := f.WriteAt(buf, int64(2+r.IntN(pages-2))*4096); err != nil {
			return err
		}
	}
	return f.Sync()
}

// Glob returns the sorted files under dir (recursively) whose base name
// matches pattern.
func Glob(dir, pattern string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if ok, _ := filepath.Match(pattern, info.Name()); ok {
				out = append(out, p)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// MountTmpfs mounts a tmpfs of size bytes on dir (root only).
func MountTmpfs(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w: %s", dir, err, out)
	}
	return nil
}

// Unmount unmounts dir (lazily, so that it never blocks).
func Unmount(dir string) error {
	out, err := exec.Command("umount", "-l", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("umount %s: %w: %s", dir, err, out)
	}
	return nil
}

// FillDisk writes a file named path until the file system is full and
// returns the bytes written.
func FillDisk(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				// fill the last bytes too
				for {
					k, err := f.Write(buf[:512])
					n += int64(k)
					if err != nil {
						break
					}
				}
				_ = f.Sync()
				return n, nil
			}
			return n, err
		}
	}
}

// CorruptSeismicValues overwrites the forward-index values of the first
// third of the postings of a Seismic index file (shard/seismic's format,
// versions 1 to 3) with 495 while keeping every term id, offset and the header
// intact: the damage a bit flip in the value array does, which only a
// checksum can notice.
func CorruptSeismicValues(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const (
		headerSize = 128
		flagWide   = 1
		flagHalf   = 2
		flagRemap  = 4
		f16of495   = 0x5FBC
	)
	if len(b) < headerSize || string(b[:8]) != "SHSEISMC" {
		return fmt.Errorf("%s: not a Seismic file", path)
	}
	le := binary.LittleEndian
	// Versions 1 to 3 share the header and the forward-index layout; later
	// versions append a section and a checksum trailer, which is left as
	// it was, as a bit flip on disk would.
	if v := le.Uint32(b[8:]); v < 1 || v > 3 {
		return fmt.Errorf("%s: Seismic format version %d, the corrupter knows 1 to 3", path, v)
	}
	flags := le.Uint32(b[12:])
	n, m, nnz := le.Uint64(b[16:]), le.Uint64(b[32:]), le.Uint64(b[40:])
	pad8 := func(x uint64) uint64 { return (x + 7) &^ 7 }
	off := uint64(headerSize)
	if flags&flagRemap != 0 {
		off += pad8(m * 4)
	}
	off += pad8((n + 1) * 8)
	wide, half := flags&flagWide != 0, flags&flagHalf != 0
	k := nnz / 3
	switch {
	case !wide && half: // packed: u32 = term | f16 value << 16
		if off+nnz*4 > uint64(len(b)) {
			return fmt.Errorf("%s: short forward index", path)
		}
		for j := uint64(0); j < k; j++ {
			le.PutUint16(b[off+4*j+2:], f16of495)
		}
	default:
		tsz := uint64(2)
		if wide {
			tsz = 4
		}
		off += pad8(nnz * tsz)
		if half {
			for j := uint64(0); j < k; j++ {
				le.PutUint16(b[off+2*j:], f16of495)
			}
		} else {
			for j := uint64(0); j < k; j++ {
				le.PutUint32(b[off+4*j:], math.Float32bits(495))
			}
		}
	}
	return os.WriteFile(path, b, 0o644)
}
