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

// CorruptValues overwrites the 4-byte-aligned words of path in [from, to)
// (fractions of its size) with the float32 value v, as a bit flip in a value
// array would: the file keeps its size and its header.
func CorruptValues(path string, from, to float64, v float32) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lo, hi := int(float64(len(b))*from)&^3, int(float64(len(b))*to)&^3
	for o := lo; o+4 <= hi; o += 4 {
		binary.LittleEndian.PutUint32(b[o:], math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o644)
}

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
