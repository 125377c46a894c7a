// Package dirlock makes one process the owner of a data directory: Acquire
// takes an exclusive, non-blocking flock(2) on DIR/LOCK and fails at once,
// naming the directory and the owner's pid, when another process (or another
// Acquire in this one) holds it. The kernel drops the lock when its holder
// exits, however it exits, so a stale LOCK file never blocks a restart.
//
//	l, err := dirlock.Acquire("./shoal-data")
//	if err != nil {
//		return err // "data directory ./shoal-data is in use by another process (pid 4242) ..."
//	}
//	defer l.Release()
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FileName is the name of the lock file inside the directory.
const FileName = "LOCK"

// ErrLocked is matched (errors.Is) by Acquire's error when another holder
// has the directory.
var ErrLocked = errors.New("dirlock: data directory in use")

// lockedError says who holds the directory; it matches ErrLocked.
type lockedError struct{ dir, owner string }

func (e *lockedError) Error() string {
	return fmt.Sprintf("data directory %s is in use by another process%s; stop it or choose another --data", e.dir, e.owner)
}

func (e *lockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire creates dir if needed and locks it, without waiting.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	if err := flock(f); err != nil {
		owner := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				owner = " (pid " + pid + ")"
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &lockedError{dir: dir, owner: owner}
		}
		return nil, fmt.Errorf("dirlock: lock %s: %w", path, err)
	}
	// The pid is for the message above only; the lock is the flock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// flock takes an exclusive lock on f without blocking, retrying EINTR.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Release unlocks the directory. The LOCK file stays; it is harmless.
// Releasing twice is a no-op.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return f.Close()
}
