package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-search/shoal/internal/embedded"
)

// TestMain lets the tests run this command as a separate process: the test
// binary re-executes itself with SHOAL_MAIN_TEST=1 and runs main.
func TestMain(m *testing.M) {
	if os.Getenv("SHOAL_MAIN_TEST") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is the command running in a child process.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	errb bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.Write(b)
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

func run(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "SHOAL_MAIN_TEST=1")
	p.cmd.Stderr = p
	p.cmd.Stdout = p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFor waits until the child's output holds want, failing if it exits or
// d passes first.
func (p *proc) waitFor(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.stderr(), want) {
		select {
		case <-p.done:
			t.Fatalf("%v exited before printing %q:\n%s", p.cmd.Args[1:], want, p.stderr())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not print %q within %v:\n%s", p.cmd.Args[1:], want, d, p.stderr())
		}
	}
}

// waitExit waits for the child to exit within d and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("%v still runs after %v:\n%s", p.cmd.Args[1:], d, p.stderr())
		return 0
	}
}

// TestDataDirInUse starts shoal infra and shoal dev, then the same command on
// the same --data again: the second fails at once with a message naming the
// directory, and the first still stops on SIGINT.
func TestDataDirInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts embedded etcd and NATS; skipped under -short")
	}
	base, err := embedded.FreeBase(1)
	if err != nil {
		t.Fatal(err)
	}
	at := func(off int) string { return fmt.Sprintf("127.0.0.1:%d", base+off) }
	for _, tc := range []struct {
		name, up string
		args     []string
	}{
		{"infra", "infra is up", []string{"infra", "--etcd", at(1), "--etcd-peer", at(2), "--nats", at(3)}},
		{"dev", "shoal dev: serving", []string{"dev", "--nodes", "1", "--http", at(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			args := append(tc.args, "--data", data)
			first := run(t, args...)
			first.waitFor(t, tc.up, 60*time.Second)

			start := time.Now()
			second := run(t, args...)
			if code := second.waitExit(t, 15*time.Second); code == 0 {
				t.Fatalf("second %s exited 0:\n%s", tc.name, second.stderr())
			}
			msg := second.stderr()
			for _, want := range []string{"data directory " + data + " is in use by another process", "--data"} {
				if !strings.Contains(msg, want) {
					t.Errorf("second %s: output lacks %q:\n%s", tc.name, want, msg)
				}
			}
			t.Logf("second %s failed after %v: %s", tc.name, time.Since(start).Round(time.Millisecond), strings.TrimSpace(msg))

			if err := first.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if code := first.waitExit(t, 30*time.Second); code != 0 {
				t.Fatalf("first %s exited %d after SIGINT:\n%s", tc.name, code, first.stderr())
			}
		})
	}
}

// TestInterruptDuringStartup starts shoal node against an etcd that does not
// answer, so that start-up blocks, and checks that SIGINT ends it promptly.
func TestInterruptDuringStartup(t *testing.T) {
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nport, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := run(t, "node", "--id", "n1", "--data", t.TempDir(), "--raft", "127.0.0.1:0",
		"--etcd", fmt.Sprintf("http://127.0.0.1:%d", port), "--nats", fmt.Sprintf("nats://127.0.0.1:%d", nport))
	time.Sleep(time.Second)
	select {
	case <-p.done:
		t.Fatalf("node exited before the signal:\n%s", p.stderr())
	default:
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 5*time.Second); code == 0 {
		t.Fatalf("node exited 0 after an interrupted start-up:\n%s", p.stderr())
	}
	if !strings.Contains(p.stderr(), "interrupted during start-up") {
		t.Fatalf("output lacks the interruption:\n%s", p.stderr())
	}
	t.Logf("exited %v after SIGINT", time.Since(sent).Round(time.Millisecond))
}
