package main

import (
	"testing"

	"go.uber.org/goleak"
)

// noLeaks notes the goroutines running now and returns the check, to defer
// first in a test, that the test left no other goroutine behind (load's
// workers and progress printer included). Idle keep-alive connections of
// the SDK's HTTP transport are not leaks.
func noLeaks(t *testing.T) func() {
	t.Helper()
	before := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		goleak.VerifyNone(t, before,
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		)
	}
}
