package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteBytes(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("got %q, %v, want \"two\"", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("got %d directory entries, want 1 (no temporary left)", len(entries))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

func TestRenameAcrossDirs(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(a, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Rename(filepath.Join(a, "x"), filepath.Join(b, "y")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b, "y")); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(a, "missing")); err == nil {
		t.Fatal("SyncDir of a missing directory succeeded")
	}
}
